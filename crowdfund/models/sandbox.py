"""State of the built-in Alipay-protocol sandbox gateway (PAYMENT_SANDBOX=1 only)."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class SandboxTrade(db.Model):
    """A trade as a sandbox gateway ("Alipay", "WeChat Pay", "UnionPay": `provider`) sees it, in its own words."""

    __tablename__ = "sandbox_trades"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), default="alipay", server_default="alipay")
    out_trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))
    total_fen: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(20), default="WAIT_BUYER_PAY")
    channel: Mapped[str] = mapped_column(String(10))
    notify_url: Mapped[str | None] = mapped_column(String(300))
    return_url: Mapped[str | None] = mapped_column(String(300))
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    notifications_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # UnionPay names an order by orderId and txnTime together, and stops payment at payTimeOut (both Beijing time,
    # YYYYMMDDhhmmss as sent); the other sandboxes leave them empty.
    txn_time: Mapped[str | None] = mapped_column(String(14))
    pay_timeout: Mapped[str | None] = mapped_column(String(14))


class SandboxRefund(db.Model):
    """A refund, remembered by the merchant's out_request_no so a retry never refunds twice."""

    __tablename__ = "sandbox_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("sandbox_trades.id", ondelete="CASCADE"), index=True)
    out_request_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
