"""Bookkeeping for periodic jobs."""
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime


class PeriodicRun(db.Model):
    """When each periodic job last finished, for /healthz and the embedded ticker."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
