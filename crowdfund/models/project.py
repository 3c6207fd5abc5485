"""Projects, their lifecycle log and the money-free parts of a campaign."""
import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


def str_enum(enum_class, name):
    """A portable (VARCHAR) column type holding an enum's values."""
    return Enum(enum_class, name=name, native_enum=False, length=24,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class ProjectStatus(str, enum.Enum):
    """Lifecycle states (SPEC 1.5); crowdfund/lifecycle.py decides the moves between them."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    LIVE = "live"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"
    DELIVERING = "delivering"
    COMPLETED = "completed"


class FundingMode(str, enum.Enum):
    ALL_OR_NOTHING = "all_or_nothing"
    FLEXIBLE = "flexible"


class ProjectKind(str, enum.Enum):
    REWARD = "reward"
    CHARITY = "charity"


class Project(db.Model):
    """A campaign, from first draft to completion."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("goal_fen IS NULL OR goal_fen > 0", name="goal_positive"),
        CheckConstraint("duration_days IS NULL OR (duration_days BETWEEN 1 AND 60)", name="duration_range"),
        # Substring search that works for Chinese (crowdfund.discovery.search_condition): trigram GIN on PostgreSQL.
        Index("ix_projects_title_trgm", "title", postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}),
        Index("ix_projects_summary_trgm", "summary", postgresql_using="gin",
              postgresql_ops={"summary": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(16), unique=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[ProjectKind] = mapped_column(str_enum(ProjectKind, "project_kind"), default=ProjectKind.REWARD)
    title: Mapped[str] = mapped_column(String(60), default="")
    summary: Mapped[str] = mapped_column(String(200), default="")
    story_source: Mapped[str] = mapped_column(Text, default="")
    story_html: Mapped[str] = mapped_column(Text, default="")
    cover_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    video_url: Mapped[str | None] = mapped_column(String(300))
    video_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    goal_fen: Mapped[int | None] = mapped_column(Integer)
    duration_days: Mapped[int | None] = mapped_column(Integer)
    funding_mode: Mapped[FundingMode] = mapped_column(str_enum(FundingMode, "funding_mode"),
                                                      default=FundingMode.ALL_OR_NOTHING)
    risk_disclosure: Mapped[str] = mapped_column(Text, default="")
    partner_charity: Mapped[str | None] = mapped_column(String(100))
    charity_certificate_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    fund_use_plan: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ProjectStatus] = mapped_column(str_enum(ProjectStatus, "project_status"),
                                                  default=ProjectStatus.DRAFT, index=True)
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    fee_rate_bp: Mapped[int | None] = mapped_column(Integer)
    creator_explanation: Mapped[str | None] = mapped_column(Text)  # shown prominently when failed/cancelled  # platform fee in basis points; None = the default
    wizard_step: Mapped[str] = mapped_column(String(20), default="basics")
    launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    creator = relationship("User", lazy="joined", innerjoin=True)
    category = relationship("Category", lazy="joined")
    cover = relationship("Media", foreign_keys=[cover_id], lazy="joined")
    video = relationship("Media", foreign_keys=[video_id])
    charity_certificate = relationship("Media", foreign_keys=[charity_certificate_id])
    tiers = relationship("RewardTier", back_populates="project", order_by="RewardTier.position",
                         cascade="all, delete-orphan")
    documents = relationship("ProjectDocument", order_by="ProjectDocument.id", cascade="all, delete-orphan")
    events = relationship("ProjectEvent", order_by="ProjectEvent.id", back_populates="project")

    @property
    def is_charity(self):
        return self.kind == ProjectKind.CHARITY


class ProjectDocument(db.Model):
    """A PDF attached to a project's story (specs, certificates, plans)."""

    __tablename__ = "project_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))

    media = relationship("Media", lazy="joined")


class ProjectEvent(db.Model):
    """One recorded lifecycle transition: who moved the project from what to what, when and why."""

    __tablename__ = "project_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_status: Mapped[ProjectStatus] = mapped_column(str_enum(ProjectStatus, "project_status"))
    to_status: Mapped[ProjectStatus] = mapped_column(str_enum(ProjectStatus, "project_status"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project = relationship("Project", back_populates="events")
    actor = relationship("User")
