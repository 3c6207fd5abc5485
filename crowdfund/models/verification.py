"""Creator verification (资质核验, SPEC 1.4)."""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow
from crowdfund.models.project import str_enum


class VerificationKind(str, enum.Enum):
    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"


class VerificationStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class CreatorVerification(db.Model):
    """Identity or business papers a creator submits; a moderator approves or rejects them."""

    __tablename__ = "creator_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[VerificationKind] = mapped_column(str_enum(VerificationKind, "verification_kind"))
    real_name: Mapped[str | None] = mapped_column(String(50))
    id_number: Mapped[str | None] = mapped_column(String(18))
    organisation_name: Mapped[str | None] = mapped_column(String(100))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    document_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"))
    status: Mapped[VerificationStatus] = mapped_column(str_enum(VerificationStatus, "verification_status"),
                                                       default=VerificationStatus.PENDING, index=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User", foreign_keys=[user_id])
    document = relationship("Media")

    @property
    def masked_id_number(self):
        """An ID number shown as 110***********1234."""
        value = self.id_number or self.credit_code or ""
        if len(value) <= 7:
            return "*" * len(value)
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
