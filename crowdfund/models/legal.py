"""Versioned legal documents and the consents people give to them (SPEC 5.1)."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class LegalDocument(db.Model):
    """One published version of a legal document, in Chinese and English; versions are never edited."""

    __tablename__ = "legal_documents"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_legal_documents_key_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(30), index=True)  # terms | privacy | risk | creator_rules
    version: Mapped[str] = mapped_column(String(40))
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    body_zh: Mapped[str] = mapped_column(Text)  # Markdown, as the administrator wrote it
    body_en: Mapped[str] = mapped_column(Text)
    body_zh_html: Mapped[str] = mapped_column(Text)  # rendered and cleaned once, on publishing
    body_en_html: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    def title(self, locale):
        """The title in this locale (zh_CN or en)."""
        return self.title_zh if locale.startswith("zh") else self.title_en

    def body_html(self, locale):
        """The cleaned HTML body in this locale."""
        return self.body_zh_html if locale.startswith("zh") else self.body_en_html


class Consent(db.Model):
    """A person accepting one version of a document: when, from which (hashed) address, for which pledge or launch.

    `document_key` is a LegalDocument key, or "project_risk" for a project's own risk disclosure (its version a
    short hash of the text the backer saw, with `project_id`).
    """

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_user_document", "user_id", "document_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    document_key: Mapped[str] = mapped_column(String(30))
    version: Mapped[str] = mapped_column(String(40))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_hash: Mapped[str | None] = mapped_column(String(64))  # HMAC of the address (crowdfund.sessions.hash_ip)
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledges.id", ondelete="SET NULL"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
