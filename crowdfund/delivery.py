"""Delivery of rewards (SPEC 2.9): shipping, confirmation of receipt, ratings, late claims, reliability.

The creator marks paid reward pledges shipped, one by one or from a CSV of tracking numbers; the
first shipment moves the project from successful to delivering. The backer confirms receipt
(or it is confirmed automatically AUTO_CONFIRM_DAYS after shipping) and may rate the reward.
Once every reward pledge is received the project is completed. A reward not shipped by the end of
its promised month plus LATE_GRACE_DAYS lets the backer claim their share still in escrow —
and, when the project carries a guarantee, the rest from the guarantor (`guarantees.py`).
"""
import calendar
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask import current_app
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import joinedload

from crowdfund import lifecycle, pagecache, risk
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import Guarantee, Pledge, PledgeStatus, Project, ProjectStatus, Refund, RewardTier
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify
from crowdfund.queueing import periodic

P = PledgeStatus
SHIPPING_STATES = (ProjectStatus.SUCCESSFUL, ProjectStatus.DELIVERING)
CSV_COLUMNS = ["pledge", "reward", "name", "phone", "address", "carrier", "tracking_number"]


class DeliveryError(RuleError):
    """Not allowed; `code` says why."""


class ImportFailed(Exception):
    """A tracking CSV with problems: nothing was saved; `errors` lists (line, code)."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} problems")
        self.errors = errors


def promised_by(delivery_month):
    """The last day a reward promised for "YYYY-MM" may ship before backers can claim: month end + grace."""
    year, month = (int(part) for part in delivery_month.split("-"))
    month_end = date(year, month, calendar.monthrange(year, month)[1])
    return month_end + timedelta(days=current_app.config["LATE_GRACE_DAYS"])


def reward_pledges(project):
    """Paid pledges for a reward, with their tier and backer: what the creator has to deliver."""
    return db.session.scalars(select(Pledge).where(Pledge.project_id == project.id, Pledge.status == P.PAID,
                                                   Pledge.tier_id.is_not(None))
                              .options(joinedload(Pledge.tier), joinedload(Pledge.backer))
                              .order_by(Pledge.tier_id, Pledge.id)).all()


def _check_owner(project, creator):
    if project.creator_id != creator.id:
        raise DeliveryError("owner")
    if project.status not in SHIPPING_STATES:
        raise DeliveryError("status")


def _ship(project, pledge, carrier, tracking_number, now):
    """Validate and record one shipment (no commit); returns True if anything changed."""
    carrier, tracking_number = (carrier or "").strip()[:30], (tracking_number or "").strip()[:60]
    if pledge is None or pledge.project_id != project.id or pledge.status != P.PAID or pledge.tier_id is None:
        raise DeliveryError("pledge")
    if pledge.shipped_at is not None and (pledge.carrier or "", pledge.tracking_number or "") == (carrier,
                                                                                                  tracking_number):
        return False  # unchanged (a re-uploaded list repeats what was already shipped)
    if pledge.received_at is not None:
        raise DeliveryError("received")
    if pledge.tier.physical and not (carrier and tracking_number):
        raise DeliveryError("tracking")
    first = pledge.shipped_at is None
    pledge.carrier, pledge.tracking_number = carrier or None, tracking_number or None
    pledge.shipped_at = pledge.shipped_at or now
    if first:
        notify(pledge.backer_id, "reward_shipped", link=f"/me/pledges/{pledge.id}", project_id=project.id,
               title=project.title)
    return True


def _start_delivering(project, creator, now):
    if project.status == ProjectStatus.SUCCESSFUL:
        lifecycle.transition(project, ProjectStatus.DELIVERING, actor=creator, reason="first reward shipped",
                             now=now, commit=False)


def mark_shipped(project, creator, pledge_id, carrier="", tracking_number="", now=None):
    """The creator ships one pledge's reward (a tracking number is required for physical rewards)."""
    _check_owner(project, creator)
    now = now or utcnow()
    _ship(project, db.session.get(Pledge, pledge_id), carrier, tracking_number, now)
    _start_delivering(project, creator, now)
    db.session.commit()


def _cell(value):
    """Backers typed names and addresses: never let a spreadsheet read one as a formula."""
    value = "" if value is None else str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def shipping_csv(project):
    """The creator's shipping list as CSV (UTF-8 with BOM for spreadsheet programs), to fill in and upload."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for pledge in reward_pledges(project):
        address = "".join(filter(None, [pledge.ship_province, pledge.ship_city, pledge.ship_district,
                                        pledge.ship_detail]))
        writer.writerow([pledge.id] + [_cell(value) for value in (
            pledge.tier.title, pledge.ship_name or pledge.backer.display_name, pledge.ship_phone, address,
            pledge.carrier, pledge.tracking_number)])
    return out.getvalue()


def import_tracking(project, creator, text, now=None):
    """Ship every row of a tracking CSV that has a tracking number, or nothing at all; returns how many changed."""
    _check_owner(project, creator)
    now = now or utcnow()
    if not text.strip():
        raise ImportFailed([(None, "file")])
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [column.strip().lower() for column in next(reader, [])]
    if "pledge" not in header or "tracking_number" not in header:
        raise ImportFailed([(1, "header")])
    index = {name: header.index(name) for name in ("pledge", "carrier", "tracking_number") if name in header}
    pledges = {p.id: p for p in reward_pledges(project)}
    errors, changed, seen = [], 0, set()
    for line, row in enumerate(reader, start=2):
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in index.items()}
        if not cells.get("tracking_number") and not cells.get("carrier"):
            continue  # not shipped yet
        try:
            pledge_id = int(cells["pledge"])
        except ValueError:
            errors.append((line, "pledge"))
            continue
        if pledge_id in seen:
            errors.append((line, "duplicate"))
            continue
        seen.add(pledge_id)
        try:
            changed += _ship(project, pledges.get(pledge_id), cells.get("carrier"), cells["tracking_number"], now)
        except DeliveryError as error:
            errors.append((line, error.code))
    if errors:
        db.session.rollback()
        raise ImportFailed(errors)
    if changed:
        _start_delivering(project, creator, now)
    db.session.commit()
    return changed


def _own_pledge(pledge, backer):
    if pledge.backer_id != backer.id:
        raise DeliveryError("owner")


def confirm_receipt(pledge, backer, now=None):
    """The backer says the reward arrived (确认收货)."""
    _own_pledge(pledge, backer)
    if pledge.status != P.PAID or pledge.shipped_at is None:
        raise DeliveryError("not_shipped")
    if pledge.received_at is None:
        pledge.received_at = now or utcnow()
        _maybe_complete(pledge.project, now)
    db.session.commit()


def rate(pledge, backer, stars, comment=""):
    """A backer who received the reward rates it 1–5, once, with an optional comment."""
    _own_pledge(pledge, backer)
    if pledge.received_at is None:
        raise DeliveryError("not_received")
    if pledge.rating is not None:
        raise DeliveryError("rated")
    if stars not in (1, 2, 3, 4, 5):
        raise DeliveryError("stars")
    pledge.rating, pledge.rating_comment = stars, (comment or "").strip()[:500] or None
    db.session.commit()


def _maybe_complete(project, now=None):
    """Delivering → completed once no paid reward pledge is still waiting to be received."""
    if project.status != ProjectStatus.DELIVERING:
        return
    waiting = db.session.scalar(select(func.count(Pledge.id)).where(
        Pledge.project_id == project.id, Pledge.status == P.PAID, Pledge.tier_id.is_not(None),
        Pledge.received_at.is_(None)))
    if not waiting:
        lifecycle.transition(project, ProjectStatus.COMPLETED, reason="every reward received", now=now, commit=False)


@periodic(interval=3600)
def auto_confirm(now=None):
    """Confirm receipt of rewards shipped AUTO_CONFIRM_DAYS ago that the backer never confirmed."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["AUTO_CONFIRM_DAYS"])
    due = db.session.scalars(select(Pledge).where(Pledge.status == P.PAID, Pledge.shipped_at <= cutoff,
                                                  Pledge.received_at.is_(None))).all()
    for pledge in due:
        pledge.received_at, pledge.auto_confirmed = now, True
    for project in {pledge.project for pledge in due}:
        _maybe_complete(project, now)
    db.session.commit()
    return len(due)


@dataclass(frozen=True)
class Progress:
    rewards: int  # paid reward pledges
    physical: int
    shipped: int
    received: int
    physical_received: int
    late: int  # paid, not shipped, past the promised month plus grace
    claimed: int  # late rewards whose backers took their money back

    @property
    def physical_received_percent(self):
        return 100 * self.physical_received // self.physical if self.physical else 100


def progress(project, today=None):
    """How far delivery has come, counted over paid reward pledges."""
    today = today or utcnow().date()
    rows = db.session.execute(select(Pledge.shipped_at, Pledge.received_at, RewardTier.physical,
                                     RewardTier.delivery_month)
                              .join(RewardTier, RewardTier.id == Pledge.tier_id)
                              .where(Pledge.project_id == project.id, Pledge.status == P.PAID)).all()
    return Progress(rewards=len(rows), physical=sum(1 for r in rows if r.physical),
                    shipped=sum(1 for r in rows if r.shipped_at), received=sum(1 for r in rows if r.received_at),
                    physical_received=sum(1 for r in rows if r.physical and r.received_at),
                    late=sum(1 for r in rows if not r.shipped_at and today > promised_by(r.delivery_month)),
                    claimed=db.session.scalar(select(func.count(Refund.id)).join(Pledge, Pledge.id == Refund.pledge_id)
                                              .where(Pledge.project_id == project.id, Refund.reason == "late")))


def stage2_open(project):
    """Stage 2 opens when WITHDRAWAL_STAGE2_CONFIRMED % of physical pledges are received (or every digital one)."""
    done = progress(project)
    if done.physical:
        return done.physical_received * 100 >= current_app.config["WITHDRAWAL_STAGE2_CONFIRMED"] * done.physical
    return done.received == done.rewards


def is_late(pledge, today=None):
    """A paid reward that has not shipped by its promised month plus the grace period."""
    today = today or utcnow().date()
    return (pledge.status == P.PAID and pledge.tier_id is not None and pledge.shipped_at is None
            and today > promised_by(pledge.tier.delivery_month))


def claim_split(pledge):
    """(from escrow, from the guarantor) a late pledge's claim would get.

    Escrow pays the pledge's proportional share of what it still holds (the same share for every
    claimant, whatever the order); a guarantee tops the claim up to the amount paid, while it lasts.
    """
    from crowdfund import guarantees

    from crowdfund import refunds

    held = max(refunds.available_escrow(pledge.project_id), 0)
    pool = db.session.scalar(select(func.coalesce(func.sum(Pledge.amount_fen), 0)).where(
        Pledge.project_id == pledge.project_id, Pledge.status == P.PAID))
    paid = pledge.due_fen  # a coupon's part was the platform's, not the backer's: never more back than they paid
    from_escrow = min(held * pledge.amount_fen // pool, paid) if pool else 0
    guarantee = guarantees.of(pledge.project)
    from_guarantor = min(paid - from_escrow, guarantees.remaining(guarantee)) if guarantee else 0
    return from_escrow, from_guarantor


def claim_late(pledge, backer, today=None):
    """The backer of a late reward claims their money back (refunds path); returns the Refund."""
    from crowdfund import pledging, refunds

    _own_pledge(pledge, backer)
    if not is_late(pledge, today):
        raise DeliveryError("not_late")
    # Claims on one project's guarantee take turns, so together they never exceed it.
    db.session.execute(select(Guarantee.id).where(Guarantee.project_id == pledge.project_id).with_for_update())
    from_escrow, from_guarantor = claim_split(pledge)
    if from_escrow + from_guarantor <= 0:
        raise DeliveryError("nothing")
    if not pledging.withdraw_pledge(pledge):
        raise DeliveryError("not_late")
    refund = refunds.request_refund(pledge, "late", amount_fen=from_escrow + from_guarantor,
                                    guarantee_fen=from_guarantor, commit=False)
    db.session.commit()
    risk.queue_check(pledge.project_id)
    return refunds.queue(refund)


@periodic(interval=86400)
def notify_late(today=None):
    """Once per late reward: tell the backer they may claim, and the creator that an explanation is due."""
    from crowdfund.models import Notification

    today = today or utcnow().date()
    told = set(db.session.scalars(select(Notification.link).where(Notification.kind.in_(["reward_late",
                                                                                         "creator_late"]))))
    late = [pledge for pledge in db.session.scalars(
        select(Pledge).join(Project, Project.id == Pledge.project_id)
        .where(Pledge.status == P.PAID, Pledge.tier_id.is_not(None), Pledge.shipped_at.is_(None),
               Project.status.in_(SHIPPING_STATES)).options(joinedload(Pledge.tier), joinedload(Pledge.project)))
        if today > promised_by(pledge.tier.delivery_month)]
    for pledge in late:
        link = f"/me/pledges/{pledge.id}"
        if link not in told:
            notify(pledge.backer_id, "reward_late", link=link, project_id=pledge.project_id, title=pledge.project.title)
            told.add(link)
    for project in {pledge.project for pledge in late}:
        link = f"/me/projects/{project.slug}/delivery"
        if link not in told:
            notify(project.creator_id, "creator_late", link=link, project_id=project.id, title=project.title)
    db.session.commit()
    return len(late)


@dataclass(frozen=True)
class Reliability:
    due: int  # rewards that have shipped or are past their promised date
    on_time: int
    shipped: int
    confirmed: int  # confirmed by the backer (not automatically)
    ratings: int
    rating_sum: int
    questions: int = 0  # questions of the last 30 days that count for the 24-hour reply rate (comments.reply_rate)
    answered_in_time: int = 0

    @property
    def on_time_percent(self):
        return 100 * self.on_time // self.due if self.due else None

    @property
    def confirmed_percent(self):
        return 100 * self.confirmed // self.shipped if self.shipped else None

    @property
    def average_rating(self):
        return round(self.rating_sum / self.ratings, 1) if self.ratings else None

    @property
    def reply_percent(self):
        from crowdfund.comments import ReplyRate

        return ReplyRate(self.questions, self.answered_in_time).percent

    @property
    def score(self):
        """0–100 over what is known: on-time delivery 40, confirmations 20, ratings 20, 24-hour replies 20.

        None without a delivery record: answering questions alone does not make a creator reliable.
        """
        if not self.due:
            return None
        parts = [(40, self.on_time / self.due)]
        if self.shipped:
            parts.append((20, self.confirmed / self.shipped))
        if self.ratings:
            parts.append((20, (self.rating_sum / self.ratings - 1) / 4))
        if self.questions:
            parts.append((20, self.answered_in_time / self.questions))
        return round(100 * sum(w * v for w, v in parts) / sum(w for w, _ in parts))


def reliability(creator_id, today=None):
    """A creator's delivery record over all their projects (one query) and 24-hour reply rate (one more)."""
    today = today or utcnow().date()
    rows = db.session.execute(
        select(Pledge.shipped_at, Pledge.received_at, Pledge.auto_confirmed, Pledge.rating, RewardTier.delivery_month)
        .join(RewardTier, RewardTier.id == Pledge.tier_id).join(Project, Project.id == Pledge.project_id)
        .where(Project.creator_id == creator_id,
               or_(Pledge.status == P.PAID, Pledge.id.in_(select(Refund.pledge_id).where(Refund.reason == "late"))),
               Project.status.in_([ProjectStatus.SUCCESSFUL, ProjectStatus.DELIVERING, ProjectStatus.COMPLETED]))).all()
    due = on_time = shipped = confirmed = ratings = rating_sum = 0
    for row in rows:
        deadline = promised_by(row.delivery_month)
        if row.shipped_at is None and today <= deadline:
            continue  # not due yet: says nothing either way
        due += 1
        if row.shipped_at is not None:
            shipped += 1
            on_time += row.shipped_at.date() <= deadline
            confirmed += bool(row.received_at and not row.auto_confirmed)
        if row.rating:
            ratings, rating_sum = ratings + 1, rating_sum + row.rating
    from crowdfund.comments import reply_rate

    replies = reply_rate(creator_id)
    return Reliability(due, on_time, shipped, confirmed, ratings, rating_sum, replies.asked, replies.in_time)


def on_time_creators(creator_ids, today=None):
    """The creators (among `creator_ids`, a list or a subquery) with an on-time record, in one query.

    On time (SPEC 6.1, the home-page boost): at least ON_TIME_CREATOR_DELIVERED_PROJECTS successfully
    funded projects whose every reward has shipped, and every reward that has come due across all their
    projects shipped by its promised date (month end + LATE_GRACE_DAYS) — a late claim counts as late.
    """
    today = today or utcnow().date()
    shipped = func.sum(case((Pledge.shipped_at.is_not(None), 1), else_=0))
    waiting = func.sum(case((Pledge.shipped_at.is_(None), 1), else_=0))
    rows = db.session.execute(
        select(Project.creator_id, Pledge.project_id, RewardTier.delivery_month, shipped, waiting,
               func.max(Pledge.shipped_at))
        .join(RewardTier, RewardTier.id == Pledge.tier_id).join(Project, Project.id == Pledge.project_id)
        .where(Project.creator_id.in_(creator_ids),
               or_(Pledge.status == P.PAID, Pledge.id.in_(select(Refund.pledge_id).where(Refund.reason == "late"))),
               Project.status.in_([ProjectStatus.SUCCESSFUL, ProjectStatus.DELIVERING, ProjectStatus.COMPLETED]))
        .group_by(Project.creator_id, Pledge.project_id, RewardTier.delivery_month)).all()
    late, open_projects, projects = set(), set(), {}
    for creator_id, project_id, month, shipped_count, waiting_count, last_shipped in rows:
        deadline = promised_by(month)
        if (waiting_count and today > deadline) or (shipped_count and last_shipped.date() > deadline):
            late.add(creator_id)
        if waiting_count:
            open_projects.add(project_id)
            if today <= deadline:  # the record turns late the day after, with nothing written
                pagecache.valid_until(datetime.combine(deadline + timedelta(days=1), time.min, timezone.utc))
        projects.setdefault(creator_id, set()).add(project_id)
    needed = max(current_app.config["ON_TIME_CREATOR_DELIVERED_PROJECTS"], 1)
    return {creator_id for creator_id, ids in projects.items()
            if creator_id not in late and len(ids - open_projects) >= needed}


def recent_ratings(creator_id, limit=20):
    """The latest ratings with comments across a creator's projects (no backer names)."""
    return db.session.execute(
        select(Pledge.rating, Pledge.rating_comment, Project.title, Project.slug)
        .join(Project, Project.id == Pledge.project_id)
        .where(Project.creator_id == creator_id, Pledge.rating.is_not(None))
        .order_by(Pledge.received_at.desc(), Pledge.id.desc()).limit(limit)).all()


def delivered_on_time_before(project):
    """Whether the creator has another project whose rewards all shipped on time (for the fee discount)."""
    others = db.session.scalars(select(Project).where(Project.creator_id == project.creator_id,
                                                      Project.id != project.id,
                                                      Project.status == ProjectStatus.COMPLETED)).all()
    for other in others:
        rows = db.session.execute(select(Pledge.shipped_at, RewardTier.delivery_month)
                                  .join(RewardTier, RewardTier.id == Pledge.tier_id)
                                  .where(Pledge.project_id == other.id, Pledge.shipped_at.is_not(None))).all()
        if rows and all(r.shipped_at.date() <= promised_by(r.delivery_month) for r in rows):
            return True
    return False
