"""Server-side login sessions (ASVS 3.3): each login is a row that logout, "log out everywhere" and a
password change revoke, so replaying an old session or remember-me cookie signs nobody in.

The Flask-Login identity kept in both cookies is "<user id>:<session token>:<session key>". The key is
random and stored only as its SHA-256; the session token is the account-wide switch ("log out everywhere"
rotates it, which ends even sessions that predate these rows).
"""
import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import select, update

from crowdfund.extensions import db
from crowdfund.models import LoginSession, User
from crowdfund.models.base import utcnow
from crowdfund.models.user import new_session_token

# last_seen_at is written at most this often per session, so browsing costs no write per request.
TOUCH_EVERY = timedelta(minutes=5)
USER_AGENT_MAX = 200


def _hash_key(key):
    return hashlib.sha256(key.encode()).hexdigest()


def hash_ip(address):
    """HMAC-SHA256 of a client address with the app's secret: comparable, never reversible to the address."""
    if not address:
        return None
    return hmac.new(current_app.config["SECRET_KEY"].encode(), address.encode(), hashlib.sha256).hexdigest()


def open_session(user, remember=False, address=None, user_agent=None):
    """Record a new login of `user`; returns the random key the cookies will carry (shown nowhere else)."""
    if has_request_context():
        address = address if address is not None else request.remote_addr
        user_agent = user_agent if user_agent is not None else request.user_agent.string
    key = secrets.token_urlsafe(24)
    now = utcnow()
    db.session.add(LoginSession(user_id=user.id, key_hash=_hash_key(key), created_at=now, last_seen_at=now,
                                ip_hash=hash_ip(address), user_agent=(user_agent or "")[:USER_AGENT_MAX],
                                remember=bool(remember)))
    db.session.commit()
    user.session_key = key
    return key


def identity(user):
    """What Flask-Login stores for this user's current session (see User.get_id)."""
    key = getattr(user, "session_key", None)
    return f"{user.id}:{user.session_token}:{key}" if key else f"{user.id}:{user.session_token}"


def load(identity_string):
    """The user a cookie's identity names, or None when it is malformed, stale, unknown or revoked.

    The user comes back with `session_key` and `login_session` set, and last_seen_at is refreshed
    when it is older than TOUCH_EVERY.
    """
    parts = (identity_string or "").split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1] or not parts[2]:
        return None
    user_id, token, key = int(parts[0]), parts[1], parts[2]
    if user_id > 2**31 - 1:
        return None
    row = db.session.scalar(select(LoginSession).where(LoginSession.key_hash == _hash_key(key)))
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not secrets.compare_digest(user.session_token, token):
        return None
    now = utcnow()
    if now - row.last_seen_at >= TOUCH_EVERY:
        # Bookkeeping, not content: tell the page cache this write changes no public page.
        db.session.execute(update(LoginSession).where(LoginSession.id == row.id).values(last_seen_at=now),
                           execution_options={"crowdfund_not_content": True})
        db.session.commit()
    user.session_key = key
    user.login_session = row
    return user


def current(user):
    """The LoginSession of the request's own login, or None."""
    return getattr(user, "login_session", None)


def active_sessions(user):
    """The account's unrevoked sessions, most recently used first."""
    return db.session.scalars(
        select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
    ).all()


def revoke(user, session_id):
    """Sign one of the account's own sessions out; False when it is not theirs or already ended."""
    row = db.session.get(LoginSession, session_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    db.session.commit()
    return True


def revoke_current(user):
    """Logout: end the request's own session so neither of its cookies works again."""
    row = current(user)
    if row is not None:
        db.session.execute(update(LoginSession).where(LoginSession.id == row.id, LoginSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))
        db.session.commit()


def revoke_others(user, keep=None, commit=True):
    """End every session of the account except `keep` (a LoginSession, or None for all of them)."""
    statement = update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
    if keep is not None:
        statement = statement.where(LoginSession.id != keep.id)
    db.session.execute(statement.values(revoked_at=utcnow()))
    if commit:
        db.session.commit()


def log_out_everywhere(user):
    """End every session of the account, this one included, and rotate its session token."""
    revoke_others(user, commit=False)
    user.session_token = new_session_token()
    db.session.commit()


BROWSERS = (("MicroMessenger", "WeChat"), ("DingTalk", "DingTalk"), ("AlipayClient", "Alipay"),
            ("Edg", "Edge"), ("OPR", "Opera"), ("Firefox", "Firefox"), ("UCBrowser", "UC Browser"),
            ("QQBrowser", "QQ Browser"), ("Chrome", "Chrome"), ("CriOS", "Chrome"), ("Safari", "Safari"))
SYSTEMS = (("HarmonyOS", "HarmonyOS"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_browser(user_agent):
    """A short "Browser on System" summary of a User-Agent string ("" when nothing is recognised)."""
    user_agent = user_agent or ""
    browser = next((name for token, name in BROWSERS if re.search(rf"\b{token}\b", user_agent)), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    return " · ".join(part for part in (browser, system) if part)
