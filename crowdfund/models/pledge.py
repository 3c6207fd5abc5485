"""Pledges: what backers promised and paid (the payments issue adds the flow and providers)."""
import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow
from crowdfund.models.project import str_enum


class PledgeStatus(str, enum.Enum):
    PENDING = "pending"  # holds its tier slot until paid or expired
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Pledge(db.Model):
    """A backer's pledge to a project, optionally for a reward tier."""

    __tablename__ = "pledges"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("reward_tiers.id", ondelete="RESTRICT"), index=True)
    backer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[PledgeStatus] = mapped_column(str_enum(PledgeStatus, "pledge_status"),
                                                 default=PledgeStatus.PENDING, index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
