"""What providers tell us: notifications are verified, stored, acknowledged, then applied by a job.

Reconciliation asks the provider about pledges whose notification never came and applies the
answer through the very same functions. (The daily check of the ledger against the provider is
`crowdfund.payments.reconciliation`.)
"""
import logging
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from crowdfund import pledging
from crowdfund.extensions import db
from crowdfund.models import PaymentNotification, Pledge, PledgeStatus
from crowdfund.models.base import utcnow
from crowdfund.payments import InvalidNotification, NothingToApply, PaymentError, get_provider
from crowdfund.queueing import enqueue, periodic

log = logging.getLogger(__name__)


REFUSED_KEPT = 2000  # characters of a refused notification kept as evidence (its raw body, each parameter)


def _clipped(params):
    """A refused notification's parameters, cut down: whoever sent it chose their size."""
    return {key[:64]: str(value)[:200] for key, value in list(params.items())[:40]}


def receive(provider_name, params, raw):
    """Verify and durably store one notification; returns (accepted, stored row). Nothing else changes here.

    A refused one is kept clipped (REFUSED_KEPT), so storing it costs the same whatever was sent. The stored
    parameters carry the trade in the one vocabulary of `base` (out_trade_no, trade_no, trade_status,
    total_amount in yuan) whatever the provider's own words were. A notification whose id was accepted
    before is acknowledged again but not applied again.
    """
    provider = get_provider(provider_name)
    row = PaymentNotification(provider=provider_name, params=_clipped(params), raw=raw[:REFUSED_KEPT],
                              accepted=False, out_trade_no=(params.get("out_trade_no") or "")[:64] or None,
                              notify_id=(params.get("notify_id") or "")[:128] or None,
                              trade_status=(params.get("trade_status") or "")[:32] or None)
    try:
        notification = provider.verify_notification(params)
        pledge = db.session.scalar(select(Pledge).where(Pledge.out_trade_no == notification.out_trade_no,
                                                        Pledge.provider == provider_name))
        if pledge is None:
            raise InvalidNotification("unknown out_trade_no")
        if notification.total_amount != Decimal(pledge.paid_fen or pledge.due_fen) / 100:
            raise InvalidNotification(f"total_amount {notification.total_amount} does not match the pledge")
        row.accepted, row.raw = True, raw
        row.params = {**notification.params, "out_trade_no": notification.out_trade_no,
                      "trade_no": notification.trade_no, "trade_status": notification.trade_status,
                      "total_amount": str(notification.total_amount)}
        row.out_trade_no, row.trade_status = notification.out_trade_no, notification.trade_status
        row.notify_id = (notification.notify_id or "")[:128] or None
    except NothingToApply as error:  # genuine, about no payment: acknowledged, not applied
        row.reason = error.reason[:200]
        db.session.add(row)
        db.session.commit()
        return True, row
    except InvalidNotification as error:
        row.reason = error.reason[:200]
        log.warning("rejected %s notification for %s: %s", provider_name, row.out_trade_no, error.reason)
    if row.accepted and row.notify_id and db.session.scalar(select(PaymentNotification.id).where(
            PaymentNotification.provider == provider_name, PaymentNotification.notify_id == row.notify_id,
            PaymentNotification.accepted.is_(True))) is not None:
        row.accepted, row.reason = False, "duplicate notification id"  # kept as evidence, acknowledged, not applied
        db.session.add(row)
        db.session.commit()
        return True, row
    db.session.add(row)
    db.session.commit()
    if row.accepted:
        enqueue(apply_notification, row.id, queue="payments", job_id=f"notification-{row.id}")
    return row.accepted, row


def apply_notification(notification_id):
    """Job: apply a stored, accepted notification to its pledge (safe to run any number of times)."""
    row = db.session.get(PaymentNotification, notification_id)
    if row is None or not row.accepted or row.applied_at is not None:
        return "skipped"
    params = row.params
    status = params.get("trade_status")
    if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        outcome = pledging.record_payment(row.out_trade_no, params.get("trade_no"),
                                          int(Decimal(params["total_amount"]) * 100))
    elif status == "TRADE_CLOSED":
        outcome = pledging.record_closed(row.out_trade_no)
    else:
        outcome = "ignored"
    row = db.session.get(PaymentNotification, notification_id)
    row.outcome, row.applied_at = outcome, utcnow()
    db.session.commit()
    return outcome


def apply_trade_status(out_trade_no, status):
    """Apply what a trade query answered, as the notification saying it would be applied; returns the outcome.

    Paid → the payment is recorded; closed → the slot is released; anything else (or no such trade) → "waiting".
    """
    if status is not None and status.paid:
        return pledging.record_payment(out_trade_no, status.trade_no, int(status.total_amount * 100))
    if status is not None and status.closed:
        return pledging.record_closed(out_trade_no)
    return "waiting"


@periodic(interval=180, queue="payments")
def reconcile(now=None):
    """Ask the provider about pledges pending for over 5 minutes; apply payments and closures, close and expire
    overdue ones."""
    now = now or utcnow()
    pending = db.session.scalars(select(Pledge).where(Pledge.status == PledgeStatus.PENDING,
                                                      Pledge.created_at <= now - timedelta(minutes=5))).all()
    results = {"paid": 0, "closed": 0, "expired": 0, "waiting": 0, "errors": 0}
    for pledge in pending:
        out_trade_no, pledge_id, tier_id = pledge.out_trade_no, pledge.id, pledge.tier_id
        overdue = pledge.expires_at <= now
        provider = get_provider(pledge.provider)
        try:
            outcome = apply_trade_status(out_trade_no, provider.query(out_trade_no))
            if outcome in ("paid", "closed"):
                results[outcome] += 1
            if outcome != "waiting":
                continue
            if overdue:
                provider.close(out_trade_no)
        except PaymentError as error:
            log.warning("reconciliation of pledge %s failed: %s", pledge_id, error)
            results["errors"] += 1
            db.session.rollback()
            continue
        if overdue:
            pledging.expire(pledge_id, tier_id)
            results["expired"] += 1
        else:
            results["waiting"] += 1
    db.session.commit()
    return results
