"""Server-side login sessions: one row per login, named by the session and remember-me cookies."""
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class LoginSession(db.Model):
    """One signed-in device; revoking the row signs that device out, whichever cookie it replays."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the random key carried in the cookies: a copy of the database does not sign anyone in.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_hash: Mapped[str | None] = mapped_column(String(64))  # HMAC-SHA256 of the address, never the address
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    remember: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
