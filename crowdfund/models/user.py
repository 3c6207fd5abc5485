"""Accounts and the roles they hold."""
import enum
from datetime import datetime
import secrets

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class Role(str, enum.Enum):
    """Roles beyond "backer", which every account is."""

    CREATOR = "creator"
    MODERATOR = "moderator"
    FINANCE = "finance"
    ADMIN = "admin"


def new_session_token():
    """A random token; changing it signs the account out everywhere."""
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    """A person with an account; every account can back projects."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_display_name_trgm", "display_name", postgresql_using="gin",
              postgresql_ops={"display_name": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(255))
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    locale: Mapped[str | None] = mapped_column(String(10))
    terms_version: Mapped[str] = mapped_column(String(20))
    privacy_version: Mapped[str] = mapped_column(String(20))
    agreed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the owner followed the link mailed to `email` (crowdfund/email_verification.py); pledging and
    # launching need it.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    blacklisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # 注销: personal data erased, see privacy.py
    # Mainland mobile number, normalized "+86…" (crowdfund/phones.py); set only once an SMS code proved it.
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The random code this person's share links carry as ?ref= (crowdfund/growth.py), made on first use.
    share_code: Mapped[str | None] = mapped_column(String(16), unique=True)

    role_rows: Mapped[list["UserRole"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin", foreign_keys="UserRole.user_id"
    )

    def get_id(self):
        """Flask-Login identity: id, session token and the key of the login session (crowdfund.sessions)."""
        from crowdfund.sessions import identity

        return identity(self)

    @property
    def public_name(self):
        """The name others see: the display name, or "Deleted user" once the account is deleted."""
        if self.deleted_at is not None:
            from flask_babel import gettext

            return gettext("Deleted user")
        return self.display_name

    @property
    def roles(self):
        """The set of extra roles this account holds."""
        return {row.role for row in self.role_rows}

    def has_role(self, role):
        """Whether the account holds the role; admins hold every role."""
        role = Role(role)
        return role in self.roles or Role.ADMIN in self.roles


class UserRole(db.Model):
    """One role granted to one account."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="role", native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        primary_key=True,
    )
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(back_populates="role_rows", foreign_keys=[user_id])
