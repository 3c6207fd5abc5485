"""Recording moderator, finance and admin actions (append-only)."""
from crowdfund.extensions import db
from crowdfund.models import AuditEntry


def record(actor, action, obj, **details):
    """Add an audit entry for `actor` doing `action` to `obj`; the caller's transaction commits it."""
    db.session.add(AuditEntry(actor_id=actor.id if actor else None, action=action,
                              object_type=type(obj).__tablename__, object_id=obj.id, details=details))
