"""Pledges, the backer's address book, and every payment notification received."""
import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow
from crowdfund.models.project import str_enum


class PledgeStatus(str, enum.Enum):
    PENDING = "pending"  # holds its tier slot until paid or expired
    PAID = "paid"
    EXPIRED = "expired"  # not paid in time; slot released
    CLOSED = "closed"  # the provider closed the trade unpaid
    CANCELLED = "cancelled"
    REFUND_DUE = "refund_due"  # money arrived after the pledge expired: it is refunded, never kept or dropped
    REFUNDED = "refunded"


class Pledge(db.Model):
    """A backer's pledge to a project, optionally for a reward tier; `amount_fen` includes shipping."""

    __tablename__ = "pledges"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("shipping_fen >= 0", name="shipping_nonnegative"),
        UniqueConstraint("backer_id", "idempotency_key", name="uq_pledges_backer_idempotency"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
        Index("ix_pledges_project_created", "project_id", "created_at"),  # the risk rules' recent-pledges window
        CheckConstraint("coupon_fen >= 0 AND coupon_fen < amount_fen", name="coupon_below_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("reward_tiers.id", ondelete="RESTRICT"), index=True)
    backer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    shipping_fen: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[PledgeStatus] = mapped_column(str_enum(PledgeStatus, "pledge_status"),
                                                 default=PledgeStatus.PENDING, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    out_trade_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(20), default="alipay")
    channel: Mapped[str] = mapped_column(String(10), default="pc")
    trade_no: Mapped[str | None] = mapped_column(String(64))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ship_region: Mapped[str | None] = mapped_column(String(20))
    ship_name: Mapped[str | None] = mapped_column(String(50))
    ship_phone: Mapped[str | None] = mapped_column(String(20))
    ship_province: Mapped[str | None] = mapped_column(String(30))
    ship_city: Mapped[str | None] = mapped_column(String(30))
    ship_district: Mapped[str | None] = mapped_column(String(30))
    ship_detail: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    paid_fen: Mapped[int | None] = mapped_column(Integer)  # what the provider took; amount_fen drops on a tier downgrade
    # A coupon's part of amount_fen, paid into escrow by the platform's marketing account; the provider is asked
    # for the rest (`due_fen`).
    coupon_fen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("pledges.id", ondelete="SET NULL"))  # tier change
    # Delivery (SPEC 2.9): shipped by the creator, confirmed by the backer (or automatically), rated.
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    carrier: Mapped[str | None] = mapped_column(String(30))
    tracking_number: Mapped[str | None] = mapped_column(String(60))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    auto_confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    client_hash: Mapped[str | None] = mapped_column(String(64))  # HMAC of the pledging address (risk rules), never the IP

    project = relationship("Project")
    tier = relationship("RewardTier")
    backer = relationship("User")

    @property
    def has_reward(self):
        return self.tier_id is not None

    @property
    def due_fen(self):
        """What the provider is asked to take: the pledge less its coupon."""
        return self.amount_fen - (self.coupon_fen or 0)


class Address(db.Model):
    """A shipping address in a backer's address book."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20))
    province: Mapped[str] = mapped_column(String(30))
    city: Mapped[str] = mapped_column(String(30))
    district: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(20), default="mainland")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def one_line(self):
        return f"{self.name} {self.phone} {self.province}{self.city}{self.district}{self.detail}"


class PaymentNotification(db.Model):
    """Every notification a provider sent us, stored before anything else happens (append-only)."""

    __tablename__ = "payment_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    out_trade_no: Mapped[str | None] = mapped_column(String(64), index=True)
    notify_id: Mapped[str | None] = mapped_column(String(128))
    trade_status: Mapped[str | None] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON)
    raw: Mapped[str] = mapped_column(Text)
    accepted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str | None] = mapped_column(String(40))  # what applying it did
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
