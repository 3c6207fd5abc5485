"""Risk alerts (SPEC 4.3): what the risk rules found about a project, and how moderators settled it."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class RiskAlert(db.Model):
    """One condition a risk rule found on a project (open → acknowledged → resolved), with its evidence.

    `open_key` (rule:project:subject) is unique while the alert is unresolved and NULL once resolved, so the same
    condition raises one open alert on every database, and a new occurrence after the resolution raises a new one.
    """

    __tablename__ = "risk_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str] = mapped_column(String(80), default="")  # e.g. "backer:12" or "ip:ab12…", "" for the project
    open_key: Mapped[str | None] = mapped_column(String(140), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open | acknowledged | resolved
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_note: Mapped[str] = mapped_column(Text, default="")

    project = relationship("Project")
    acknowledged_by = relationship("User", foreign_keys=[acknowledged_by_id])
    resolved_by = relationship("User", foreign_keys=[resolved_by_id])
