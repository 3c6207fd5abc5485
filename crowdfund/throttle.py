"""Budgets kept in the rate limiter's storage (Redis in production, memory in embedded mode) for things counted
per person rather than per request: failed logins per e-mail address (cleared by a password reset), account
e-mail per address (confirmation links and password-reset links share it).

Keys are an HMAC of the normalized address with the app's secret, so the storage never holds addresses. An
unknown address is counted exactly like a registered one: the answers tell nobody which addresses have accounts.
When the storage is down the budgets do not apply (as RATELIMIT_SWALLOW_ERRORS does for the views' limits).
"""
import hashlib
import hmac
import logging
import time

from flask import current_app
from limits import parse_many

from crowdfund.extensions import limiter

log = logging.getLogger(__name__)


def _key(email):
    from crowdfund.accounts import normalize_email

    return hmac.new(current_app.config["SECRET_KEY"].encode(), normalize_email(email or "").encode(),
                    hashlib.sha256).hexdigest()


def _items(setting):
    return parse_many(current_app.config[setting])


def _retry_after(setting, scope, key):
    """Seconds until every limit of `setting` has room again for `key`, or None when none is used up."""
    strategy = limiter.limiter
    waits = []
    for item in _items(setting):
        if not strategy.test(item, scope, key):
            reset_at = strategy.get_window_stats(item, scope, key).reset_time
            waits.append(max(int(reset_at - time.time()), 1))
    return max(waits) if waits else None


def login_blocked(email):
    """Seconds to wait before logging in with this address is tried again, or None (RATELIMIT_LOGIN_ACCOUNT)."""
    try:
        return _retry_after("RATELIMIT_LOGIN_ACCOUNT", "login-account", _key(email))
    except Exception as error:
        log.warning("per-account login limit unavailable (%s)", error)
        return None


def _each_login_limit(email, action):
    """Apply `action(item, namespace, key)` to every RATELIMIT_LOGIN_ACCOUNT window of this address."""
    key = _key(email)
    try:
        for item in _items("RATELIMIT_LOGIN_ACCOUNT"):
            action(item, "login-account", key)
    except Exception as error:
        log.warning("per-account login limit unavailable (%s)", error)


def note_failed_login(email):
    """Count one failed login with this address, known or not."""
    _each_login_limit(email, limiter.limiter.hit)


def clear_failed_logins(email):
    """Forget the failed logins counted for this address (its owner proved it by resetting the password)."""
    _each_login_limit(email, limiter.limiter.clear)


def take_mail_slot(email):
    """True when one more account e-mail may go to this address (RATELIMIT_ACCOUNT_EMAIL), counting it."""
    key = _key(email)
    try:
        items = _items("RATELIMIT_ACCOUNT_EMAIL")
        if not all(limiter.limiter.test(item, "account-email", key) for item in items):
            return False
        for item in items:
            limiter.limiter.hit(item, "account-email", key)
        return True
    except Exception as error:
        log.warning("account e-mail budget unavailable (%s); sending anyway", error)
        return True
