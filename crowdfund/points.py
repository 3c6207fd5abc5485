"""Backers' points (SPEC 6.2): an append-only book per person; the balance is the sum of its entries.

Every entry has a key naming why it exists (`backing:<pledge id>`, `share:<project>:<visitor>:<day>`,
`redeem:<coupon id>` …), so booking the same reason twice does nothing. What earns points and how
many, the daily caps, and redemption live with the rules that use them; this module only books.
"""
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from crowdfund.extensions import db
from crowdfund.models import PointsEntry
from crowdfund.models.base import utcnow


class AppendOnly(Exception):
    """Points entries are never updated or deleted (a correction is a new entry)."""


@event.listens_for(PointsEntry, "before_update")
@event.listens_for(PointsEntry, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise AppendOnly("points entries are append-only")


def balance(user_id):
    """The person's points now."""
    return db.session.scalar(select(func.coalesce(func.sum(PointsEntry.delta), 0))
                             .where(PointsEntry.user_id == user_id))


def earned_on(user_id, reason, day):
    """Points of one reason booked for the person on one (Beijing) day, for daily caps."""
    return db.session.scalar(select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
        PointsEntry.user_id == user_id, PointsEntry.reason == reason, PointsEntry.day == day))


def history(user_id, limit=50):
    """The person's latest entries, newest first."""
    return db.session.scalars(select(PointsEntry).where(PointsEntry.user_id == user_id)
                              .order_by(PointsEntry.id.desc()).limit(limit)).all()


def book(user_id, delta, reason, key, *, project_id=None, memo="", now=None):
    """Add one entry in the caller's transaction; None (and nothing booked) when `key` was booked before."""
    from crowdfund.visits import local_day

    if not isinstance(delta, int) or delta == 0:
        raise ValueError("a points entry needs a non-zero whole number")
    now = now or utcnow()
    entry = PointsEntry(user_id=user_id, delta=delta, reason=reason, key=key, project_id=project_id,
                        memo=memo[:200], day=local_day(now), created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        return None
    return entry
