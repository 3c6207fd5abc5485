"""Recording moderator, finance and admin actions (append-only), and reading them back for admins."""
from datetime import datetime, time, timedelta

from sqlalchemy import event, or_, select

from crowdfund.extensions import db
from crowdfund.models import AuditEntry, User

PER_PAGE = 50


class AppendOnly(Exception):
    """Audit entries are never updated or deleted."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_changes(mapper, connection, target):
    # The ORM refuses on every backend; on PostgreSQL a trigger refuses too (migration 0014).
    raise AppendOnly("audit entries are append-only")


def record(actor, action, obj, **details):
    """Add an audit entry for `actor` doing `action` to `obj`; the caller's transaction commits it."""
    db.session.add(AuditEntry(actor_id=actor.id if actor else None, action=action,
                              object_type=type(obj).__tablename__, object_id=obj.id, details=details))


def _escape_like(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(actor=None, action=None, object_type=None, since=None, until=None, page=1, per_page=PER_PAGE):
    """Audit entries, newest first, filtered; returns (rows of (entry, actor or None), has_more).

    `actor` matches part of the actor's e-mail or display name; `since` and `until` are aware datetimes,
    `until` exclusive.
    """
    query = select(AuditEntry, User).outerjoin(User, User.id == AuditEntry.actor_id)
    if actor:
        pattern = f"%{_escape_like(actor.strip().lower())}%"
        query = query.where(or_(User.email.like(pattern, escape="\\"),
                                User.display_name.ilike(pattern, escape="\\")))
    if action:
        query = query.where(AuditEntry.action == action)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    if until is not None:
        query = query.where(AuditEntry.created_at < until)
    rows = db.session.execute(query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
                              .limit(per_page + 1).offset((page - 1) * per_page)).all()
    return [tuple(row) for row in rows[:per_page]], len(rows) > per_page


def known_values():
    """The actions and object types recorded so far, for the filter's choices."""
    actions = db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all()
    types = db.session.scalars(select(AuditEntry.object_type).distinct().order_by(AuditEntry.object_type)).all()
    return actions, types


def day_bounds(first_day, last_day, zone):
    """The instants from the start of `first_day` to the end of `last_day` (dates in `zone`), either may be None."""
    since = datetime.combine(first_day, time.min, zone) if first_day else None
    until = datetime.combine(last_day + timedelta(days=1), time.min, zone) if last_day else None
    return since, until
