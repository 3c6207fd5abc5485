"""Refunds (SPEC 2.7): one Refund per paid pledge, a deterministic out_request_no, a job per refund.

The provider remembers each out_request_no, and the ledger each `refund:<out_request_no>` key, so a
job killed halfway and run again refunds once and books once.
"""
import logging

from sqlalchemy import func, select

from crowdfund import coupons, guarantees, ledger
from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, Refund
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify, notify_finance
from crowdfund.payments import PaymentError, get_provider
from crowdfund.queueing import enqueue, periodic

log = logging.getLogger(__name__)
# Retries spread over hours: 1 min, 5 min, 30 min, 1 h, 2 h, then finance is alerted.
RETRY_SECONDS = [60, 300, 1800, 3600, 7200]


class RefundError(Exception):
    """The refund would give back more than the pledge paid."""


FULL = {"failed", "project_cancelled"}  # reasons that give back everything a still-paid pledge holds


def out_request_no(pledge, reason, sequence=None):
    """Deterministic per pledge and reason (tier changes, which can repeat, are numbered)."""
    return f"RF{pledge.id}{reason[:1].upper()}{sequence or ''}"


def owed_from_escrow(project_id):
    """Refunds promised but not yet booked (pending, or failed and awaiting a retry): escrow still holds them."""
    return db.session.scalar(select(func.coalesce(func.sum(Refund.amount_fen + Refund.coupon_fen - Refund.guarantee_fen), 0))
                             .join(Pledge, Pledge.id == Refund.pledge_id)
                             .where(Pledge.project_id == project_id, Refund.status.in_(["pending", "failed"])))


def available_escrow(project_id):
    """What escrow holds that no refund has been promised from yet."""
    return -ledger.balance(ledger.escrow(project_id)) - owed_from_escrow(project_id)


def refunded_so_far(pledge):
    """What the pledge's refunds give back, counting those still in progress (failed ones may be retried too)."""
    return sum(refund.amount_fen for refund in refunds_of(pledge))


def request_refund(pledge, reason, amount_fen=None, guarantee_fen=0, sequence=None, commit=True):
    """Create (once) a refund of a paid pledge — in full unless `amount_fen` says — and queue its job.

    `guarantee_fen` of the amount is booked against the project's guarantor rather than its escrow. In full, a
    pledge paid partly with a coupon gets back what the provider took, and its coupon part goes from escrow back
    to the marketing account in the same booking; a partial refund (`amount_fen`) leaves the coupon part alone.
    Refunds of one pledge never add up to more than the provider took for it. With commit=False the
    refund joins the caller's transaction (so a pledge never changes without its refund) and the
    caller runs `queue()` after committing.
    """
    number = out_request_no(pledge, reason, sequence)
    refund = db.session.scalar(select(Refund).where(Refund.out_request_no == number))
    if refund is None:
        amount = pledge.due_fen if amount_fen is None else amount_fen
        coupon = pledge.coupon_fen if amount_fen is None else 0
        earlier = refunds_of(pledge)
        if amount <= 0 or not 0 <= guarantee_fen <= amount or \
                sum(r.amount_fen for r in earlier) + amount > (pledge.paid_fen or pledge.due_fen) or \
                sum(r.coupon_fen for r in earlier) + coupon > pledge.coupon_fen:
            raise RefundError(f"pledge {pledge.id}: refund of {amount} is more than was paid")
        refund = Refund(pledge_id=pledge.id, out_request_no=number, amount_fen=amount, reason=reason,
                        guarantee_fen=guarantee_fen, coupon_fen=coupon)
        db.session.add(refund)
        if not commit:
            db.session.flush()
            return refund
        db.session.commit()
    return queue(refund)


def queue(refund):
    """Start the refund's job (once it is committed)."""
    if refund.status == "pending":
        enqueue(execute, refund.id, queue="payments", job_id=f"refund-{refund.id}",
                retries=len(RETRY_SECONDS), retry_intervals=RETRY_SECONDS)
    return refund


def execute(refund_id):
    """Job: ask the provider to refund, then book it and mark the pledge refunded — all or nothing."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != "pending":
        return "skipped"
    pledge = db.session.get(Pledge, refund.pledge_id)
    try:
        get_provider(pledge.provider).refund(out_trade_no=pledge.out_trade_no, amount_fen=refund.amount_fen,
                                             out_request_no=refund.out_request_no, reason=refund.reason)
    except PaymentError as error:
        refund.attempts += 1
        refund.last_error = str(error)[:300]
        if refund.attempts > len(RETRY_SECONDS):
            refund.status = "failed"
            notify_finance("refund_failed", link="/finance/refunds", pledge=pledge.id)
            db.session.commit()
            return "failed"
        db.session.commit()
        raise
    from_escrow = refund.amount_fen + refund.coupon_fen - refund.guarantee_fen
    entries = [(ledger.escrow(pledge.project_id), from_escrow)] if from_escrow else []
    if refund.guarantee_fen:
        entries.append((guarantees.account(guarantees.of(pledge.project)), refund.guarantee_fen))
    if refund.coupon_fen:
        entries.append((coupons.MARKETING, -refund.coupon_fen))
        coupons.restore(pledge)
    ledger.post("refund", f"refund:{refund.out_request_no}",
                entries + [(ledger.clearing(pledge.provider), -refund.amount_fen)], project_id=pledge.project_id)
    refund.status, refund.completed_at = "succeeded", utcnow()
    # A withdrawn pledge, or one whose project failed or was cancelled, is refunded; a tier downgrade's
    # difference leaves it paid.
    if pledge.status == PledgeStatus.CANCELLED or (pledge.status == PledgeStatus.PAID and refund.reason in FULL):
        pledge.status = PledgeStatus.REFUNDED
    notify(pledge.backer_id, "refund_done", link=f"/me/pledges/{pledge.id}", project_id=pledge.project_id,
           key=f"refund:{refund.id}", title=pledge.project.title, amount_fen=refund.amount_fen)
    db.session.commit()
    return "succeeded"


def retry(refund, finance):
    """Finance re-queues a failed refund with a fresh set of attempts (same out_request_no)."""
    from crowdfund import audit

    if refund.status == "failed":
        refund.status, refund.attempts = "pending", 0
        audit.record(finance, "refund.retry", refund)
        db.session.commit()
    if refund.status == "pending":
        enqueue(execute, refund.id, queue="payments", job_id=f"refund-{refund.id}-manual",
                retries=len(RETRY_SECONDS), retry_intervals=RETRY_SECONDS)


@periodic(interval=600, queue="payments")
def retry_pending_refunds():
    """Catch-up: run every refund still pending (a lost job, or embedded mode without RQ retries)."""
    pending = db.session.scalars(select(Refund.id).where(Refund.status == "pending")).all()
    for refund_id in pending:
        enqueue(execute, refund_id, queue="payments", job_id=f"refund-{refund_id}-retry", retries=0)
    return len(pending)


def refunds_of(pledge):
    return db.session.scalars(select(Refund).where(Refund.pledge_id == pledge.id).order_by(Refund.id)).all()
