"""Drafting a project through the launch wizard, and submitting it for review."""
import secrets
import string

from sqlalchemy import delete, select

from crowdfund import lifecycle, verification
from crowdfund.extensions import db
from crowdfund.models import (FundingMode, Project, ProjectDocument, ProjectKind, ProjectStatus, RewardTier,
                              ShippingRate, ShippingRegion)
from crowdfund.sanitize import markdown_to_html

STEPS = ("basics", "story", "funding", "rewards", "risk", "preview")
SLUG_ALPHABET = string.ascii_lowercase + string.digits
STORY_MIN = 50


class ProjectError(Exception):
    """Base class of wizard errors."""


class NotEditable(ProjectError):
    """The project is not a draft (or sent back for changes) and cannot be edited."""


class NotVerified(ProjectError):
    """Only verified creators may submit projects."""


class PhoneNotVerified(ProjectError):
    """Launching needs a verified mobile number (real-name rules, SPEC 5.3)."""


class Incomplete(ProjectError):
    """Required fields are missing; `missing` lists (step, field) pairs."""

    def __init__(self, missing):
        super().__init__(", ".join(f"{step}.{field}" for step, field in missing))
        self.missing = missing


def _editable(project):
    if not lifecycle.is_editable(project):
        raise NotEditable(project.status.value)


def _new_slug():
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(8))


class Blacklisted(ProjectError):
    """A blacklisted account may not launch projects."""


def create_draft(creator):
    """Start a new draft owned by `creator` (never for a blacklisted account)."""
    if creator.blacklisted_at is not None:
        raise Blacklisted()
    project = Project(slug=_new_slug(), creator_id=creator.id, status=ProjectStatus.DRAFT)
    db.session.add(project)
    db.session.commit()
    return project


def check_deletable(project):
    """Refuse (NotEditable) to delete anything but a draft that was never submitted."""
    if project.status != ProjectStatus.DRAFT:
        raise NotEditable(project.status.value)


def delete_draft(project):
    """Throw away a draft that was never submitted; its tiers, documents and events go with it (ON DELETE
    CASCADE). Anything further along has a review history and stays."""
    check_deletable(project)
    db.session.execute(delete(Project).where(Project.id == project.id, Project.status == ProjectStatus.DRAFT))
    db.session.commit()


def reach_step(project, step):
    """Remember the furthest wizard step, so "My projects" resumes there."""
    if STEPS.index(step) > STEPS.index(project.wizard_step):
        project.wizard_step = step


def update_basics(project, *, title, summary, category, kind, cover=None):
    _editable(project)
    project.title, project.summary = title.strip(), summary.strip()
    project.category_id = category.id if category else None
    project.kind = ProjectKind(kind)
    if cover is not None:
        project.cover_id = cover.id
    db.session.commit()


def update_story(project, *, story_source, video_url=None, video=None, remove_video=False):
    """Save the Markdown story; its HTML is rendered and sanitized here, once."""
    _editable(project)
    project.story_source = story_source or ""
    project.story_html = markdown_to_html(project.story_source)
    if remove_video:
        project.video_url, project.video_id = None, None
    if video_url:
        project.video_url, project.video_id = video_url, None
    if video is not None:
        project.video_id, project.video_url = video.id, None
    db.session.commit()


def add_document(project, media, title):
    _editable(project)
    db.session.add(ProjectDocument(project_id=project.id, media_id=media.id, title=title.strip()[:100]))
    db.session.commit()


def remove_document(project, document_id):
    _editable(project)
    project.documents = [d for d in project.documents if d.id != document_id]
    db.session.commit()


def update_funding(project, *, goal_fen, duration_days, funding_mode):
    _editable(project)
    project.goal_fen, project.duration_days = goal_fen, duration_days
    project.funding_mode = FundingMode(funding_mode)
    db.session.commit()


def _apply_tier(tier, *, title, description, price_fen, quantity_limit, delivery_month, physical, unit_cost_fen,
                shipping):
    tier.title, tier.description = title.strip(), (description or "").strip()
    tier.price_fen, tier.quantity_limit, tier.delivery_month = price_fen, quantity_limit, delivery_month
    tier.physical = bool(physical)
    tier.unit_cost_fen = unit_cost_fen if physical else None
    rates = {r.region: r for r in tier.shipping_rates}
    wanted = {ShippingRegion(region).value: fee for region, fee in (shipping or {}).items()
              if fee is not None} if physical else {}
    tier.shipping_rates = [r for r in tier.shipping_rates if r.region in wanted]
    for region, fee in wanted.items():
        if region in rates:
            rates[region].fee_fen = fee
        else:
            tier.shipping_rates.append(ShippingRate(region=region, fee_fen=fee))


def add_tier(project, **fields):
    """Append a reward tier."""
    _editable(project)
    tier = RewardTier(project=project, position=len(project.tiers))
    _apply_tier(tier, **fields)
    db.session.add(tier)
    db.session.commit()
    return tier


def update_tier(tier, **fields):
    _editable(tier.project)
    _apply_tier(tier, **fields)
    db.session.commit()


def remove_tier(tier):
    project = tier.project
    _editable(project)
    project.tiers.remove(tier)
    for position, other in enumerate(project.tiers):
        other.position = position
    db.session.commit()


def move_tier(tier, offset):
    """Move a tier up (-1) or down (+1) in the list."""
    project = tier.project
    _editable(project)
    tiers = list(project.tiers)
    index = tiers.index(tier)
    target = min(max(index + offset, 0), len(tiers) - 1)
    tiers.insert(target, tiers.pop(index))
    for position, other in enumerate(tiers):
        other.position = position
    db.session.commit()


def update_risk(project, *, risk_disclosure, partner_charity=None, charity_certificate=None, fund_use_plan=None):
    _editable(project)
    project.risk_disclosure = risk_disclosure.strip()
    if project.is_charity:
        project.partner_charity = (partner_charity or "").strip() or None
        project.fund_use_plan = (fund_use_plan or "").strip() or None
        if charity_certificate is not None:
            project.charity_certificate_id = charity_certificate.id
    db.session.commit()


def missing_fields(project):
    """What still has to be filled in before the project can be submitted, as (step, field) pairs."""
    missing = []
    checks = [
        ("basics", "title", project.title), ("basics", "summary", project.summary),
        ("basics", "category", project.category_id), ("basics", "cover", project.cover_id),
        ("story", "story", len((project.story_source or "").strip()) >= STORY_MIN),
        ("funding", "goal", project.goal_fen), ("funding", "duration", project.duration_days),
        ("risk", "risk_disclosure", project.risk_disclosure),
    ]
    if project.kind == ProjectKind.REWARD:
        checks.append(("rewards", "tiers", project.tiers))
    if project.is_charity:
        checks += [("risk", "partner_charity", project.partner_charity),
                   ("risk", "charity_certificate", project.charity_certificate_id),
                   ("risk", "fund_use_plan", project.fund_use_plan)]
    for step, field, value in checks:
        if not value:
            missing.append((step, field))
    return missing


def submit(project, actor):
    """Send the draft to review: the creator must be verified, with a verified phone, and nothing required may be
    missing."""
    from crowdfund.phones import has_verified_phone
    from crowdfund.queueing import enqueue
    from crowdfund.review import run_machine_review

    _editable(project)
    if not verification.is_verified(actor):
        raise NotVerified()
    if not has_verified_phone(actor):
        raise PhoneNotVerified()
    missing = missing_fields(project)
    if missing:
        raise Incomplete(missing)
    lifecycle.transition(project, ProjectStatus.SUBMITTED, actor=actor, reason="submitted by creator")
    enqueue(run_machine_review, project.id, queue="default", job_id=f"review-{project.id}-{int(project.submitted_at.timestamp())}")
    return project


def projects_of(user):
    """The account's projects, newest first (for "My projects")."""
    return db.session.scalars(select(Project).where(Project.creator_id == user.id)
                              .order_by(Project.updated_at.desc())).unique().all()


def get_by_slug(slug):
    return db.session.scalar(select(Project).where(Project.slug == slug))
