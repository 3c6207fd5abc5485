"""Review (审核), both channels: machine review on submit, then a moderator's decision.

Machine review stores findings with a severity. A blacklisted creator is rejected outright;
blocking findings send the project back to its creator with reasons; anything else goes to the
moderators' queue with the findings attached.
"""
import calendar
import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from crowdfund import audit, lifecycle
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.i18n import FIELD_NAMES
from crowdfund.models import (Category, Project, ProjectStatus, ReviewDecision, ReviewFinding,
                              Severity, User)
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify
from crowdfund.projects import missing_fields

RULES_PATH = Path(__file__).parent / "data" / "review_rules.json"
S = ProjectStatus

TOPIC_NAMES = {
    "securities": _l("securities or equity"), "futures": _l("futures, forex or crypto trading"),
    "lottery": _l("lottery or gambling"), "tobacco": _l("tobacco"), "weapons": _l("weapons"),
    "drugs": _l("drugs"), "medical_claims": _l("medical cure claims"), "pyramid": _l("pyramid-style returns"),
}
class ReviewError(RuleError):
    """The decision cannot be taken (e.g. a moderator reviewing their own project)."""


@lru_cache(maxsize=1)
def rules():
    """The review data (prohibited words and categories), loaded once."""
    return json.loads(RULES_PATH.read_text(encoding="utf-8"))


def _finding(project, rule, severity, field, message):
    return ReviewFinding(project_id=project.id, rule=rule, severity=Severity(severity), field=field,
                         message=str(message))


def _texts(project):
    parts = [("basics", project.title), ("basics", project.summary), ("story", project.story_source)]
    for tier in project.tiers:
        parts += [("rewards", tier.title), ("rewards", tier.description)]
    return parts


def check_keywords(project):
    found = []
    for step, text in _texts(project):
        lowered = (text or "").lower()
        for topic in rules()["topics"]:
            for term in topic["terms"]:
                if term.lower() in lowered:
                    found.append(_finding(project, f"keyword:{topic['topic']}", topic["severity"], step,
                                          _l("Mentions “%(term)s” (%(topic)s), which Crowdfund does not allow.",
                                             term=term, topic=TOPIC_NAMES[topic["topic"]])))
                    break
    unique = {}
    for finding in found:
        unique.setdefault((finding.rule, finding.field), finding)
    return list(unique.values())


def check_category(project):
    category = db.session.get(Category, project.category_id) if project.category_id else None
    slugs = {category.slug, category.parent.slug if category.parent else None} if category else set()
    if slugs & set(rules()["prohibited_categories"]):
        return [_finding(project, "category", "blocking", "basics", _l("This category is not allowed."))]
    return []


def check_required(project):
    return [_finding(project, "required", "blocking", step, _l("%(field)s is missing.", field=FIELD_NAMES[field]))
            for step, field in missing_fields(project)]


def _month_end(month):
    year, mon = (int(x) for x in month.split("-"))
    return datetime(year, mon, calendar.monthrange(year, mon)[1], 23, 59, tzinfo=timezone.utc)


def check_rewards(project, now):
    findings = []
    tiers = project.tiers
    if not tiers or not project.goal_fen:
        return findings
    if all(t.quantity_limit for t in tiers):
        ceiling = sum(t.price_fen * t.quantity_limit for t in tiers)
        if ceiling < project.goal_fen:
            findings.append(_finding(project, "goal_unreachable", "blocking", "funding",
                                     _l("Even if every limited reward sells out, the goal cannot be reached.")))
    top = max(t.price_fen for t in tiers)
    if project.goal_fen / top > rules()["max_backers_at_top_tier"]:
        findings.append(_finding(project, "goal_implausible", "warning", "funding",
                                 _l("The goal needs an implausible number of backers at the highest tier.")))
    if project.goal_fen < min(t.price_fen for t in tiers):
        findings.append(_finding(project, "goal_below_tier", "warning", "funding",
                                 _l("The goal is lower than the cheapest reward.")))
    end = (project.launch_at or now) + timedelta(days=project.duration_days or 0)
    for tier in tiers:
        if _month_end(tier.delivery_month) < end:
            findings.append(_finding(project, "delivery_before_end", "blocking", "rewards",
                                     _l("“%(tier)s” promises delivery before the campaign ends.", tier=tier.title)))
        if tier.physical and tier.unit_cost_fen and tier.price_fen < tier.unit_cost_fen:
            findings.append(_finding(project, "below_cost", "warning", "rewards",
                                     _l("“%(tier)s” is priced below its unit cost.", tier=tier.title)))
    return findings


def shingles(text, size=3):
    """Character shingles of whitespace-free text: works for Chinese as well as English."""
    compact = "".join((text or "").lower().split())
    return {compact[i:i + size] for i in range(max(len(compact) - size + 1, 1))} if compact else set()


def jaccard(a, b):
    return len(a & b) / len(a | b) if a and b else 0.0


def check_duplicates(project):
    mine_title, mine_story = shingles(project.title), shingles(project.story_source)
    others = db.session.execute(select(Project.id, Project.title, Project.story_source)
                                .where(Project.id != project.id, Project.status != S.DRAFT)).all()
    limit = rules()["duplicate_similarity"]
    for other in others:
        title_score = jaccard(mine_title, shingles(other.title))
        story_score = jaccard(mine_story, shingles(other.story_source))
        if (len(mine_story) > 20 and story_score >= limit) or (title_score >= 0.95 and len(mine_title) > 3):
            return [_finding(project, "duplicate", "warning", "story",
                             _l("Very similar to the project “%(title)s” (%(percent)d%% alike).", title=other.title,
                                percent=round(100 * max(title_score, story_score))))]
    return []


def machine_findings(project, now=None):
    """Everything machine review notices about the project (not yet stored)."""
    now = now or utcnow()
    return (check_required(project) + check_category(project) + check_keywords(project)
            + check_rewards(project, now) + check_duplicates(project))


def run_machine_review(project_id):
    """Job: review a submitted project and route it (rejected / back to creator / moderator queue)."""
    project = db.session.get(Project, project_id)
    if project is None or project.status != S.SUBMITTED:
        return "skipped"
    submission = db.session.scalar(select(func.coalesce(func.max(ReviewFinding.submission), 0))
                                   .where(ReviewFinding.project_id == project.id)) + 1
    findings = machine_findings(project)
    for finding in findings:
        finding.submission = submission
        db.session.add(finding)
    creator = db.session.get(User, project.creator_id)
    link = f"/me/projects/{project.slug}/edit/basics"
    if creator.blacklisted_at is not None:
        lifecycle.transition(project, S.REJECTED, reason="blacklisted creator", commit=False)
        notify(creator.id, "project_rejected", link="/me/projects", project_id=project.id, title=project.title,
               reason=str(_l("this account may not launch projects.")))
        outcome = "rejected"
    elif any(f.severity == Severity.BLOCKING for f in findings):
        reasons = {}
        for finding in findings:
            if finding.severity == Severity.BLOCKING:
                reasons.setdefault(finding.field, []).append(finding.message)
        db.session.add(ReviewDecision(project_id=project.id, decision="changes",
                                      reasons={k: " ".join(v) for k, v in reasons.items()}))
        lifecycle.transition(project, S.CHANGES_REQUESTED, reason="machine review: blocking findings", commit=False)
        notify(creator.id, "project_changes", link=link, project_id=project.id, title=project.title)
        outcome = "changes_requested"
    else:
        lifecycle.transition(project, S.IN_REVIEW, reason="machine review passed", commit=False)
        outcome = "in_review"
    db.session.commit()
    return outcome


def queue():
    """Projects waiting for a moderator, oldest submission first."""
    return db.session.scalars(select(Project).where(Project.status == S.IN_REVIEW)
                              .order_by(Project.submitted_at)).all()


def findings_for(project):
    """Findings of the latest submission, most severe first."""
    latest = db.session.scalar(select(func.max(ReviewFinding.submission)).where(ReviewFinding.project_id == project.id))
    if latest is None:
        return []
    order = {Severity.BLOCKING: 0, Severity.WARNING: 1, Severity.INFO: 2}
    rows = db.session.scalars(select(ReviewFinding).where(ReviewFinding.project_id == project.id,
                                                          ReviewFinding.submission == latest)).all()
    return sorted(rows, key=lambda f: (order[f.severity], f.id))


def latest_decision(project):
    """The last review decision on the project (a moderator's or machine review's), or None."""
    return db.session.scalar(select(ReviewDecision).where(ReviewDecision.project_id == project.id)
                             .order_by(ReviewDecision.id.desc()).limit(1))


def latest_change_request(project):
    """The reasons (per wizard step) of the last "changes requested" decision, or {}."""
    decision = db.session.scalar(select(ReviewDecision).where(ReviewDecision.project_id == project.id)
                                 .order_by(ReviewDecision.id.desc()).limit(1))
    return decision.reasons if decision and decision.decision == "changes" else {}


def check_moderator(project, moderator):
    """Refuse (ReviewError) a moderator deciding on their own project."""
    if project.creator_id == moderator.id:
        raise ReviewError("own_project")


def approve(project, moderator, launch_at=None, now=None):
    """Approve; launch now, or at `launch_at` (the scheduler launches it then)."""
    now = now or utcnow()
    check_moderator(project, moderator)
    scheduled = launch_at is not None and launch_at > now
    project.launch_at = launch_at if scheduled else None
    db.session.add(ReviewDecision(project_id=project.id, moderator_id=moderator.id, decision="approve",
                                  launch_at=project.launch_at))
    lifecycle.transition(project, S.APPROVED, actor=moderator, reason="approved", now=now, commit=False)
    audit.record(moderator, "project.approve", project, launch_at=launch_at.isoformat() if scheduled else "now")
    if scheduled:
        notify(project.creator_id, "project_scheduled", link=f"/projects/{project.slug}", project_id=project.id,
               title=project.title)
    else:
        lifecycle.transition(project, S.LIVE, actor=moderator, reason="launched on approval", now=now, commit=False)
        notify(project.creator_id, "project_live", link=f"/projects/{project.slug}", project_id=project.id,
               title=project.title)
    db.session.commit()


def request_changes(project, moderator, reasons):
    """Send the project back with reasons per wizard step."""
    check_moderator(project, moderator)
    reasons = {step: text.strip() for step, text in reasons.items() if text and text.strip()}
    if not reasons:
        raise ReviewError("no_reasons")
    db.session.add(ReviewDecision(project_id=project.id, moderator_id=moderator.id, decision="changes",
                                  reasons=reasons))
    lifecycle.transition(project, S.CHANGES_REQUESTED, actor=moderator, reason="changes requested", commit=False)
    audit.record(moderator, "project.request_changes", project, reasons=reasons)
    first_step = next(step for step in ("basics", "story", "funding", "rewards", "risk") if step in reasons)
    notify(project.creator_id, "project_changes", link=f"/me/projects/{project.slug}/edit/{first_step}",
           project_id=project.id, title=project.title)
    db.session.commit()


def reject(project, moderator, reason):
    """Reject for good, with a reason."""
    check_moderator(project, moderator)
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("reason")
    db.session.add(ReviewDecision(project_id=project.id, moderator_id=moderator.id, decision="reject",
                                  reasons={"reason": reason}))
    lifecycle.transition(project, S.REJECTED, actor=moderator, reason=reason, commit=False)
    audit.record(moderator, "project.reject", project, reason=reason)
    notify(project.creator_id, "project_rejected", link="/me/projects", project_id=project.id, title=project.title,
           reason=reason)
    db.session.commit()


def set_featured(project, moderator, featured):
    """Moderators choose what the home page features."""
    project.featured = bool(featured)
    audit.record(moderator, "project.feature" if featured else "project.unfeature", project)
    db.session.commit()


def launch_due(now=None):
    """Launch approved projects whose scheduled time has come; returns how many."""
    now = now or utcnow()
    due = db.session.scalars(select(Project).where(Project.status == S.APPROVED, Project.launch_at <= now)).all()
    for project in due:
        lifecycle.transition(project, S.LIVE, reason="scheduled launch", now=now, commit=False)
        notify(project.creator_id, "project_live", link=f"/projects/{project.slug}", project_id=project.id,
               title=project.title)
    db.session.commit()
    return len(due)
