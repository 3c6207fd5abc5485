"""Password reset by e-mail ("忘记密码", issue 12).

Asking for a reset answers the same for every address. Within the address's account-mail budget
(RATELIMIT_ACCOUNT_EMAIL, shared with confirmation links) a job is queued for every address typed, registered or
not; the job mails a link only to a registered, not-deleted account, so the request does the same work either way.

The link is an itsdangerous token (its own salt) holding the account id and a fingerprint: an HMAC, keyed with
the app's secret, of the account's password hash, session token and address. Setting a password changes the hash
and rotates the session token, so a link works once, and no older link survives any password change, "log out
everywhere" or a change of address -- single use without a table. It also expires after PASSWORD_RESET_MAX_AGE.

Using it sets the new password (the usual rules), ends every login session, confirms the address if it was not
confirmed yet (the mailbox's owner clicked), clears the per-address login throttle, audits
`account.password_reset`, and the view logs the owner in on a fresh session.
"""
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import update

from crowdfund import accounts, audit, sessions, signed_links, throttle
from crowdfund.extensions import db
from crowdfund.models import User
from crowdfund.models.base import utcnow
from crowdfund.models.user import new_session_token
from crowdfund.queueing import enqueue

log = logging.getLogger(__name__)

SALT = "crowdfund.password-reset"


class LinkError(Exception):
    """The reset link cannot be used."""


class LinkInvalid(LinkError):
    """Tampered with, cut short, or not one of ours."""


class LinkUsed(LinkError):
    """Genuine, but the password (or the address, or the session token) has changed since it was sent."""


class LinkExpired(LinkError):
    """Older than PASSWORD_RESET_MAX_AGE."""


def fingerprint(user):
    """What the link binds besides the account id: changes with the password, the session token and the address."""
    material = "\x1f".join((user.password_hash or "", user.session_token or "", user.email or ""))
    return hmac.new(current_app.config["SECRET_KEY"].encode(), material.encode(), hashlib.sha256).hexdigest()[:32]


def make_token(user, now=None):
    """The signed token of a reset link for the account as it is now."""
    return signed_links.serializer(SALT, now).dumps({"u": user.id, "f": fingerprint(user)})


def read_token(token, now=None):
    """The account a reset link is for; LinkInvalid, LinkUsed or LinkExpired when it cannot be used."""
    found = signed_links.read(token, SALT, "f")
    if found is None:
        raise LinkInvalid()
    user, payload, signed_at = found
    if not secrets.compare_digest(fingerprint(user), payload["f"]):
        raise LinkUsed()
    if (now or utcnow()) - signed_at > timedelta(seconds=current_app.config["PASSWORD_RESET_MAX_AGE"]):
        raise LinkExpired()
    return user


def request_reset(email):
    """Someone asked for a reset link for `email`: nothing is returned, nothing tells whether it is registered.

    Every address typed takes one of its account-mail slots and, within the budget, queues the same job.
    """
    email = accounts.normalize_email(email)
    if not throttle.take_mail_slot(email):
        log.info("account e-mail budget used up for an address; no password reset mail")
        return
    enqueue(send_reset_email, email, queue="notifications", job_id=f"password-reset-{secrets.token_hex(8)}",
            timeout=60)


def send_reset_email(email):
    """Job: mail a reset link to the account using `email`, if there is one and it is not deleted."""
    from crowdfund.mailer import send_now

    user = accounts.find_by_email(email)
    if user is None or user.deleted_at is not None:
        return "skipped"
    return send_now(reset_message(user))


def link_for(user, now=None):
    """The full URL of a reset link (SITE_URL based, for e-mail)."""
    return f"{current_app.config['SITE_URL']}/password/reset/{make_token(user, now)}"


def reset_message(user):
    """The reset e-mail, in the account's language."""
    from crowdfund.mailer import build_message, recipient

    config = current_app.config
    locale = user.locale if user.locale in config["LANGUAGES"] else config["BABEL_DEFAULT_LOCALE"]
    minutes = config["PASSWORD_RESET_MAX_AGE"] // 60
    with force_locale(locale):
        subject = _("Reset your password")
        lines = [_("Someone, perhaps you, asked to reset the password of the Crowdfund account that uses this "
                   "e-mail address. To choose a new password, open this link:")]
        note = _("The link works once, for %(minutes)d minutes. If you did not ask for it, ignore this e-mail: "
                 "your password stays as it is.", minutes=minutes)
        context = dict(user=user, subject=subject, lines=lines, button=_("Choose a new password"),
                       link=link_for(user), note=note, lang=locale.replace("_", "-"))
        text = render_template("emails/account.txt", **context)
        html = render_template("emails/account.html", **context)
    return build_message(recipient(user), subject, text, html)


def reset_password(user, new_password, now=None):
    """Set a new password from a reset link: every session ends, the session token rotates (so this link and
    every other dies), an unconfirmed address is confirmed, the address's login throttle is cleared; audited.

    The write is conditional on the password hash and session token the link was checked against, so two
    requests racing with one link set one password; the other gets LinkUsed. Returns whether the address was
    confirmed by this reset. Raises WeakPassword.
    """
    accounts.check_new_password(new_password)
    now = now or utcnow()
    confirmed = user.email_verified_at is None
    values = dict(password_hash=accounts.hasher.hash(new_password), session_token=new_session_token(),
                  last_login_at=now)
    if confirmed:
        values["email_verified_at"] = now
    done = db.session.execute(
        update(User).where(User.id == user.id, User.password_hash == user.password_hash,
                           User.session_token == user.session_token, User.email == user.email).values(**values)
    ).rowcount
    if not done:
        db.session.rollback()
        raise LinkUsed()
    sessions.revoke_others(user, commit=False)
    audit.record(user, "account.password_reset", user, email_confirmed=confirmed)
    db.session.commit()
    db.session.refresh(user)
    throttle.clear_failed_logins(user.email)
    return confirmed
