"""One-time SMS codes for phone sign-in, binding and changing a number."""
import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class SmsPurpose(str, enum.Enum):
    """What a code proves: signing in, owning a new number, or owning the current one (to change it)."""

    LOGIN = "login"
    BIND = "bind"
    CHANGE = "change"


class SmsCode(db.Model):
    """A code sent by SMS: only its HMAC is kept; the newest per number and purpose is the only live one."""

    __tablename__ = "sms_codes"
    __table_args__ = (Index("ix_sms_codes_phone_purpose", "phone", "purpose", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[SmsPurpose] = mapped_column(
        Enum(SmsPurpose, name="sms_purpose", native_enum=False, length=10,
             values_callable=lambda e: [m.value for m in e]))
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 keyed with SECRET_KEY, never the code
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
