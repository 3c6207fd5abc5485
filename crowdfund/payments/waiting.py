"""A backer waiting on the pledge page: when the notification is late, the page asks the provider itself.

The answer is applied by `callbacks.apply_trade_status`, exactly as reconciliation applies it. A
per-pledge limit kept in the rate limiter's storage (Redis in production, memory in embedded mode;
an atomic increment in both) lets one of several polls arriving together ask; the others wait.
"""
import logging
from datetime import datetime, timedelta

from flask import current_app
from limits import RateLimitItemPerSecond

from crowdfund.extensions import db, limiter
from crowdfund.models import PledgeStatus
from crowdfund.models.base import utcnow
from crowdfund.payments import PaymentError, get_provider
from crowdfund.payments.callbacks import apply_trade_status

log = logging.getLogger(__name__)
SESSION_KEY = "payment_return"
RELOAD_FOR = timedelta(minutes=2)  # how long a page without JS reloads by itself after the backer came back


RETURN_TOKEN_SECONDS = 24 * 3600


def _return_signer():
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="payment-return")


def return_token(out_trade_no):
    """Our signature on a trade number, for return addresses that carry no provider signature."""
    return _return_signer().dumps(out_trade_no)


def trade_of_return_token(token):
    """The trade number a return token was made for, or None if it is forged or older than a day."""
    from itsdangerous import BadData

    try:
        return _return_signer().loads(token, max_age=RETURN_TOKEN_SECONDS)
    except BadData:
        return None


def note_return(session, pledge, now=None):
    """Remember (in the backer's session) when they came back from the provider for this pledge."""
    session[SESSION_KEY] = {"pledge_id": pledge.id, "at": (now or utcnow()).isoformat()}


def returned_at(session, pledge):
    """When the backer came back from the provider for this pledge, or None."""
    mark = session.get(SESSION_KEY) or {}
    if mark.get("pledge_id") != pledge.id:
        return None
    try:
        return datetime.fromisoformat(mark["at"])
    except (KeyError, TypeError, ValueError):
        return None


def reload_after(pledge, returned, now=None):
    """Seconds after which a page without JS reloads itself while the backer waits just after paying, or None."""
    if pledge.status != PledgeStatus.PENDING or returned is None or (now or utcnow()) - returned > RELOAD_FOR:
        return None
    return current_app.config["PAYMENT_QUERY_EVERY_SECONDS"]


def _take_query_slot(pledge_id):
    """True for the one caller per PAYMENT_QUERY_EVERY_SECONDS that may ask about this pledge."""
    item = RateLimitItemPerSecond(1, current_app.config["PAYMENT_QUERY_EVERY_SECONDS"])
    try:
        return limiter.limiter.hit(item, "payment-query", str(pledge_id))
    except Exception as error:  # storage down: ask anyway; the reconciliation job needs the same Redis
        log.warning("payment query limit unavailable (%s); asking the provider anyway", error)
        return True


def check(pledge, *, returned=None, eager=False, now=None):
    """Ask the provider about a pending pledge and apply a payment or a closure; returns what it said.

    The polling page (`eager` false) waits PAYMENT_QUERY_AFTER_SECONDS after the backer came back (or
    the pledge was made) and asks at most once per PAYMENT_QUERY_EVERY_SECONDS per pledge; just before
    paying again (`eager`) it asks at once. Returns "paid", "closed", "waiting" (not paid yet),
    "unreachable", or without asking "not_pending", "too_soon", "limited".
    """
    if pledge.status != PledgeStatus.PENDING:
        return "not_pending"
    config = current_app.config
    if not eager:
        since = max(pledge.created_at, returned or pledge.created_at)
        if (now or utcnow()) - since < timedelta(seconds=config["PAYMENT_QUERY_AFTER_SECONDS"]):
            return "too_soon"
        if not _take_query_slot(pledge.id):
            return "limited"
    out_trade_no = pledge.out_trade_no
    try:
        status = get_provider(pledge.provider).query(out_trade_no, timeout=config["PAYMENT_QUERY_TIMEOUT"])
    except PaymentError as error:
        log.info("payment query for pledge %s failed: %s", pledge.id, error)
        return "unreachable"
    outcome = apply_trade_status(out_trade_no, status)
    db.session.refresh(pledge)
    log.info("payment query for pledge %s: %s → %s", pledge.id, status and status.trade_status, outcome)
    if status is not None and status.paid:
        return "paid"
    return "closed" if status is not None and status.closed else "waiting"
