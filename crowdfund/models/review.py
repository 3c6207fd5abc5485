"""Machine-review findings and moderators' decisions."""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow
from crowdfund.models.project import str_enum


class Severity(str, enum.Enum):
    BLOCKING = "blocking"
    WARNING = "warning"
    INFO = "info"


class ReviewFinding(db.Model):
    """One thing machine review noticed about a submission."""

    __tablename__ = "review_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    submission: Mapped[int] = mapped_column(default=1)  # which submission of the project it belongs to
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, "severity"))
    field: Mapped[str] = mapped_column(String(40), default="")
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewDecision(db.Model):
    """What a moderator (or machine review) decided, with reasons per wizard step."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(20))  # approve | changes | reject
    reasons: Mapped[dict] = mapped_column(JSON, default=dict)  # {"basics": "...", "story": "..."}
    launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    moderator = relationship("User")
