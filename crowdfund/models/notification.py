"""In-app notifications, some also sent by e-mail."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class Notification(db.Model):
    """A message for one account; the text is rendered from `kind` and `params` in their language."""

    __tablename__ = "notifications"
    # `key` names the event (e.g. "update:12"): one notification per account and event, however often a job runs.
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_notifications_user_key"),
                      Index("ix_notifications_unsent", "emailed_at", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(200), default="")
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    key: Mapped[str | None] = mapped_column(String(100))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
