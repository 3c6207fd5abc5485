"""Daily reconciliation of the ledger against the provider (SPEC 2.3), kept as a run finance can watch.

A run is queued by `start()` (the finance page's "Run now") or by the daily job, and `perform()` moves
it queued → running (checked of total, saved as it goes) → finished (with the mismatches) or failed.
Only one run is in progress at a time. One that outlives RECONCILIATION_TIMEOUT (its worker died, the
web process restarted) shows as stale and is closed as failed by the next start.
"""
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.i18n import fen_to_yuan
from crowdfund.models import LedgerTransaction, Pledge, ReconciliationRun
from crowdfund.models.base import utcnow
from crowdfund.payments import PaymentError, get_provider
from crowdfund.queueing import enqueue, periodic

log = logging.getLogger(__name__)
IN_PROGRESS = ("queued", "running")


class ReconciliationError(RuleError):
    """`running`: another run is in progress; `queue`: the job could not be queued."""


class RunStopped(Exception):
    """The run was closed (as stale) while it was still working: stop without overwriting that."""


def check(since_hours=24, now=None, progress=None):
    """Every payment the ledger booked in the period must be paid, same amount, at the provider.

    Mismatches are (out_trade_no, code, detail): `unreachable` (the provider did not answer), `missing`
    (it has no payment for the booking) or `amount` (it took a different amount). `progress(checked, total)`
    is called before the first and after each booking.
    """
    now = now or utcnow()
    booked = db.session.scalars(select(LedgerTransaction).where(
        LedgerTransaction.kind.in_(["payment", "late_payment"]),
        LedgerTransaction.created_at >= now - timedelta(hours=since_hours)).order_by(LedgerTransaction.id)).all()
    bookings = []
    for txn in booked:
        out_trade_no = txn.idempotency_key.split(":", 1)[1]
        pledge = db.session.scalar(select(Pledge).where(Pledge.out_trade_no == out_trade_no))
        # What the provider took is what the booking put into clearing (a coupon's part came from marketing).
        bookings.append((out_trade_no, pledge.provider if pledge else "alipay",
                         sum(e.amount_fen for e in txn.entries if e.account.code.startswith("clearing:"))))
    report = {"checked": 0, "mismatches": []}
    if progress:
        progress(0, len(bookings))
    for out_trade_no, provider, amount in bookings:
        mismatch = compare(out_trade_no, provider, amount)
        if mismatch:
            report["mismatches"].append(mismatch)
        report["checked"] += 1
        if progress:
            progress(report["checked"], len(bookings))
    return report


def compare(out_trade_no, provider, amount_fen):
    """Ask the provider about one booking: None when it agrees, else the mismatch (out_trade_no, code, detail)."""
    try:
        status = get_provider(provider).query(out_trade_no)
    except PaymentError as error:
        return out_trade_no, "unreachable", str(error)[:200]
    if status is None or not status.paid:
        return out_trade_no, "missing", ""
    if int(status.total_amount * 100) != amount_fen:
        return out_trade_no, "amount", f"{status.total_amount} ≠ {fen_to_yuan(amount_fen)}"
    return None


def timeout_seconds():
    return current_app.config["RECONCILIATION_TIMEOUT"]


def latest_run():
    """The most recent run, whatever its state."""
    return db.session.scalar(select(ReconciliationRun).order_by(ReconciliationRun.ran_at.desc(),
                                                                ReconciliationRun.id.desc()).limit(1))


def shown_status(run, now=None):
    """The run's status as the page tells it: a run in progress past its timeout is `stale`."""
    if run is None:
        return None
    now = now or utcnow()
    if run.status in IN_PROGRESS and (run.started_at or run.ran_at) + timedelta(seconds=timeout_seconds()) < now:
        return "stale"
    return run.status


def close_stale(now=None):
    """Record runs that outlived their timeout as failed (`timeout`), freeing the way for a new one."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=timeout_seconds())
    db.session.execute(update(ReconciliationRun).where(
        ReconciliationRun.status.in_(IN_PROGRESS),
        func.coalesce(ReconciliationRun.started_at, ReconciliationRun.ran_at) < cutoff,
    ).values(status="failed", error="timeout", finished_at=now, in_progress=None))
    db.session.commit()


def queue_run(now=None):
    """Record a queued run of the 24 hours up to `now`; ReconciliationError("running") while one is in progress."""
    now = now or utcnow()
    close_stale(now)
    run = ReconciliationRun(ran_at=now, status="queued", checked=0, mismatches=[], in_progress=True)
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:  # the unique in_progress: someone else's run is queued or running
        db.session.rollback()
        raise ReconciliationError("running") from None
    return run


def start(now=None):
    """"Run now": queue a run and hand it to a worker (in embedded mode, a background thread); returns the run."""
    run = queue_run(now)
    try:
        enqueue(perform, run.id, queue="payments", job_id=f"reconciliation-run-{run.id}", retries=0,
                timeout=timeout_seconds(), background=True)
    except Exception:
        log.exception("could not queue reconciliation run %s", run.id)
        db.session.rollback()
        _move(run.id, "queued", status="failed", error="queue", finished_at=utcnow(), in_progress=None)
        raise ReconciliationError("queue") from None
    return run


def _move(run_id, from_status, **values):
    """Change a run only if it is still `from_status` (a stale run closed meanwhile is left alone)."""
    moved = db.session.execute(update(ReconciliationRun).where(
        ReconciliationRun.id == run_id, ReconciliationRun.status == from_status).values(**values)).rowcount
    db.session.commit()
    return moved == 1


def perform(run_id):
    """Job: run a queued reconciliation, saving progress as it goes, then its result (or that it failed)."""
    from crowdfund.notifications import notify_finance

    run = db.session.get(ReconciliationRun, run_id)
    if run is None or run.status != "queued":
        return "skipped"
    period_end = run.ran_at
    if not _move(run_id, "queued", status="running", started_at=utcnow()):
        return "skipped"

    def progress(checked, total):
        if not _move(run_id, "running", checked=checked, total=total):
            raise RunStopped

    try:
        report = check(24, period_end, progress)
    except RunStopped:
        log.warning("reconciliation run %s was closed before it finished", run_id)
        return "stopped"
    except Exception:
        log.exception("reconciliation run %s failed", run_id)
        db.session.rollback()
        _move(run_id, "running", status="failed", error="crashed", finished_at=utcnow(), in_progress=None)
        return "failed"
    mismatches = [list(mismatch) for mismatch in report["mismatches"]]
    if not _move(run_id, "running", status="finished", checked=report["checked"], mismatches=mismatches,
                 finished_at=utcnow(), in_progress=None):
        return "stopped"
    if mismatches:
        notify_finance("reconciliation_mismatch", link="/finance/reconciliation", count=len(mismatches))
        db.session.commit()
    return "finished"


@periodic(interval=86400, queue="payments")
def daily_reconciliation(now=None):
    """Every day: reconcile the last 24 hours as a recorded run; (checked, mismatches), or None if one was running."""
    try:
        run = queue_run(now)
    except ReconciliationError:
        log.info("daily reconciliation skipped: a run is already in progress")
        return None
    perform(run.id)
    run = db.session.get(ReconciliationRun, run.id)
    return run.checked, len(run.mismatches)
