"""Project-page visits (first-party, no third party) and backers' points (SPEC 4.2, 6.2)."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class Visit(db.Model):
    """One view of a project page: the day (Beijing time), a daily visitor hash, where it came from.

    `visitor` is an HMAC of address and browser with a key that changes every day, so the same
    person counts once a day and cannot be followed from one day to the next; the address itself is
    never stored. `key` makes writing a queued visit twice harmless.
    """

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_project_day", "project_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    visitor: Mapped[str] = mapped_column(String(32))
    referrer: Mapped[str] = mapped_column(String(100), default="")  # the referring site's host, "" for none
    ref: Mapped[str] = mapped_column(String(32), default="", index=True)  # the share link's ?ref=
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PointsEntry(db.Model):
    """A change to a backer's points; append-only, the balance is the sum. `key` books each reason once."""

    __tablename__ = "points_entries"
    __table_args__ = (CheckConstraint("delta <> 0", name="delta_not_zero"),
                      Index("ix_points_entries_user_day", "user_id", "day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))  # backing | share | redeem | reversal ...
    key: Mapped[str] = mapped_column(String(80), unique=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    memo: Mapped[str] = mapped_column(String(200), default="")
    day: Mapped[date] = mapped_column(Date)  # Beijing day, for the daily caps
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
