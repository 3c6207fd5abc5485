"""Platform-funded coupons bought with backers' points (SPEC 6.2)."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class Coupon(db.Model):
    """A coupon worth `value_fen` off one pledge, paid by the platform's marketing account.

    available → applied (held by the pending pledge `pledge_id`) → used (that pledge was paid); an applied
    coupon whose pledge lapses unpaid, and a used one whose pledge is refunded in full, are available again.
    An available coupon past `expires_at` is expired (shown so, never applied).
    """

    __tablename__ = "coupons"
    __table_args__ = (CheckConstraint("value_fen > 0", name="value_positive"),
                      CheckConstraint("points > 0", name="points_positive"),
                      CheckConstraint("status IN ('available', 'applied', 'used')", name="status_known"),
                      CheckConstraint("status = 'available' OR pledge_id IS NOT NULL", name="held_by_pledge"),
                      Index("ix_coupons_user_status", "user_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    value_fen: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)  # what it cost
    status: Mapped[str] = mapped_column(String(10), default="available")
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledges.id", ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    pledge = relationship("Pledge")
