"""Personal-data exports (个人信息保护法): a zip the account owner may download for 24 hours."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class DataExport(db.Model):
    """One requested download of everything the site holds about an account.

    `status` goes pending → ready → expired (or pending → failed). `pending` is true while pending and NULL
    after: its unique constraint with `user_id` allows one pending export per account, however fast the
    button is pressed.
    """

    __tablename__ = "data_exports"
    __table_args__ = (UniqueConstraint("user_id", "pending", name="uq_data_exports_user_pending"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|ready|failed|expired
    pending: Mapped[bool | None] = mapped_column(Boolean, default=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    storage_key: Mapped[str | None] = mapped_column(String(200))  # in crowdfund.storage, never a public URL
    size_bytes: Mapped[int | None] = mapped_column(Integer)
