"""The escrow ledger: double-entry, append-only, hash-chained (SPEC 2.4, 2.8)."""
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db
from crowdfund.models.base import UTCDateTime, utcnow


class LedgerAccount(db.Model):
    """An account such as `clearing:alipay`, `escrow:project:12` or `fee_revenue`."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)


class LedgerTransaction(db.Model):
    """A balanced set of entries, applied at most once (idempotency key) and chained to the previous one."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # position in the hash chain
    kind: Mapped[str] = mapped_column(String(30))  # payment | refund | late_payment | ...
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    memo: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    entries = relationship("LedgerEntry", order_by="LedgerEntry.id", lazy="selectin")


class LedgerHead(db.Model):
    """The chain's tip: updating this one row serialises posting (a row lock on PostgreSQL, the write lock on SQLite)."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class LedgerEntry(db.Model):
    """One side of a transaction: positive debits, negative credits, in fen."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)

    account = relationship("LedgerAccount", lazy="joined")


class Withdrawal(db.Model):
    """A creator's request to take money out of escrow, decided by finance and paid out T+N business days later."""

    __tablename__ = "withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    stage: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)  # requested|approved|rejected|paid
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    due_date: Mapped[date | None] = mapped_column(Date)
    payout_reference: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    project = relationship("Project")


class Refund(db.Model):
    """Money going back to a backer through the provider that took it; one out_request_no per refund."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id", ondelete="RESTRICT"), index=True)
    out_request_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    guarantee_fen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # part booked to the guarantor
    # Not paid out by the provider: a coupon's part, moved from escrow back to the marketing account.
    coupon_fen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    pledge = relationship("Pledge")


class Guarantee(db.Model):
    """A third-party guarantee (担保) a moderator verified: claims beyond escrow are booked to `guarantor:<id>`."""

    __tablename__ = "guarantees"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), unique=True)
    guarantor_name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str] = mapped_column(String(18))
    amount_fen: Mapped[int] = mapped_column(Integer)
    verified_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReconciliationRun(db.Model):
    """One run of the daily reconciliation of ledger bookings against the provider's records.

    `status` goes queued → running → finished or failed; `checked` of `total` is the progress so far.
    `in_progress` is true while queued or running and NULL after: its unique constraint lets only one
    run be in progress, however many finance users press "Run now" at once.
    """

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16), default="finished", server_default="finished")
    checked: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    mismatches: Mapped[list] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(40))
    in_progress: Mapped[bool | None] = mapped_column(Boolean, unique=True)


class LedgerVerification(db.Model):
    """One recorded check of the hash chain (SPEC 2.8), by the periodic job or `flask ledger verify`.

    A full pass recomputes every transaction from the genesis hash; an incremental one trusts the chain up to
    the previous sound check (`last_seq`, `last_hash`) and recomputes what was booked after it. `last_seq` is
    how far the chain is known sound (or was read, when not `ok`); `broken_seq` is the first transaction
    found wrong, when the problem lies in one.
    """

    __tablename__ = "ledger_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(10))  # job | cli
    full: Mapped[bool] = mapped_column(Boolean)
    ok: Mapped[bool] = mapped_column(Boolean)
    checked: Mapped[int] = mapped_column(Integer)  # transactions recomputed by this check
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    broken_seq: Mapped[int | None] = mapped_column(Integer)
    problems: Mapped[list] = mapped_column(JSON, default=list)
