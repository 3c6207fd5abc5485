"""Uploaded files: images (with resized variants), PDF documents and videos."""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow
from crowdfund.models.project import str_enum


class MediaKind(str, enum.Enum):
    IMAGE = "image"
    DOCUMENT = "document"
    VIDEO = "video"


class Media(db.Model):
    """One stored upload; `key` names it in storage, never the uploader's file name."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MediaKind] = mapped_column(str_enum(MediaKind, "media_kind"))
    key: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    original_name: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    variants: Mapped[dict] = mapped_column(JSON, default=dict)  # {"480": key, "960": key, ...}
    private: Mapped[bool] = mapped_column(default=False)  # identity papers: owner and moderators only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
