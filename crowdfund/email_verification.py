"""E-mail verification and a sign-up that does not tell whether an address is registered (issue 12).

Sign-up answers the same for every address: a new one gets an unconfirmed account and a link, mailed by a job,
that confirms the address and logs the new account in; a registered one gets a mail to its owner saying that
someone tried to sign up with it. The link is an itsdangerous token (its own salt) naming the account and the
address it was sent to, so it stops working when the address changes, and after EMAIL_VERIFY_MAX_AGE seconds.
Pledging and launching need a confirmed address (`is_verified`).
"""
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from crowdfund import accounts, signed_links, throttle
from crowdfund.extensions import db
from crowdfund.models import User
from crowdfund.models.base import utcnow
from crowdfund.queueing import enqueue

log = logging.getLogger(__name__)

SALT = "crowdfund.email-verification"
KINDS = ("verify", "signup_attempt")


class LinkError(Exception):
    """The confirmation link cannot be used."""


class LinkInvalid(LinkError):
    """Tampered with, not one of ours, or for an address the account no longer has."""


class LinkExpired(LinkError):
    """Older than EMAIL_VERIFY_MAX_AGE."""


def is_verified(user):
    """Whether the account's current address has been confirmed."""
    return getattr(user, "email_verified_at", None) is not None


def make_token(user, now=None):
    """The signed token of a confirmation link for the account's current address."""
    return signed_links.serializer(SALT, now).dumps({"u": user.id, "e": user.email})


def read_token(token, now=None):
    """The account a confirmation link is for; LinkInvalid or LinkExpired when it cannot be used."""
    found = signed_links.read(token, SALT, "e")
    if found is None:
        raise LinkInvalid()
    user, payload, signed_at = found
    if user.email != payload["e"]:  # the address changed since the link was sent
        raise LinkInvalid()
    if (now or utcnow()) - signed_at > timedelta(seconds=current_app.config["EMAIL_VERIFY_MAX_AGE"]):
        raise LinkExpired()
    return user


def confirm(user, now=None):
    """Mark the account's address confirmed; False when it already was (a link used twice changes nothing)."""
    done = db.session.execute(update(User).where(User.id == user.id, User.email_verified_at.is_(None))
                              .values(email_verified_at=now or utcnow())).rowcount
    db.session.commit()
    db.session.refresh(user)
    return bool(done)


def sign_up(email, display_name, password, *, locale=None, next_url=None):
    """Start a sign-up without telling whether the address is registered; returns nothing either way.

    A new address gets an unconfirmed account and a confirmation link; a registered one a mail to its owner.
    Both cost one password hash. Raises WeakPassword.
    """
    accounts.check_new_password(password)
    existing = accounts.find_by_email(email)
    if existing is None:
        try:
            user = accounts.register(email, display_name, password, locale=locale)
        except (accounts.EmailTaken, IntegrityError):  # signed up a moment ago, by a parallel request
            db.session.rollback()
            existing = accounts.find_by_email(email)
        else:
            queue_email(user, "verify", next_url)
            return
    accounts.hasher.hash(password)  # the work a new account costs, so the answer takes as long
    if existing is not None:
        queue_email(existing, "signup_attempt", next_url)


def resend(user, next_url=None):
    """Mail a new confirmation link: "sent", "verified" (nothing to do) or "limited" (the address's budget)."""
    if is_verified(user):
        return "verified"
    return "sent" if queue_email(user, "verify", next_url) else "limited"


def queue_email(user, kind, next_url=None):
    """Hand an account e-mail to a job, within the address's RATELIMIT_ACCOUNT_EMAIL; False when over it."""
    if kind not in KINDS:
        raise ValueError(kind)
    if not throttle.take_mail_slot(user.email):
        log.info("account e-mail budget used up for user %s; %s not sent", user.id, kind)
        return False
    enqueue(send_account_email, user.id, kind, next_url, queue="notifications",
            job_id=f"account-email-{kind}-{user.id}-{secrets.token_hex(6)}", timeout=60)
    return True


def send_account_email(user_id, kind, next_url=None):
    """Job: mail the account its confirmation link, or tell its owner someone tried to sign up with the address.

    The link is made here, for the address the account has now; an address confirmed meanwhile gets no link.
    """
    from crowdfund.mailer import send_now

    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None or (kind == "verify" and is_verified(user)):
        return "skipped"
    return send_now(account_message(user, kind, next_url))


def link_for(user, next_url=None, now=None):
    """The full URL of a confirmation link (SITE_URL based, for e-mail)."""
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    return f"{current_app.config['SITE_URL']}/verify-email/{make_token(user, now)}{query}"


def account_message(user, kind, next_url=None):
    """The confirmation or "someone tried to sign up" e-mail, in the account's language."""
    from crowdfund.mailer import build_message, recipient

    config = current_app.config
    site = config["SITE_URL"]
    locale = user.locale if user.locale in config["LANGUAGES"] else config["BABEL_DEFAULT_LOCALE"]
    hours = config["EMAIL_VERIFY_MAX_AGE"] // 3600
    with force_locale(locale):
        if kind == "verify":
            subject = _("Confirm your e-mail address")
            lines = [_("Welcome to Crowdfund. Confirm that this is your e-mail address to finish signing up:")]
            button, link = _("Confirm my e-mail address"), link_for(user, next_url)
            note = _("The link works for %(hours)d hours. If you did not sign up, ignore this e-mail: the account "
                     "cannot be used before its address is confirmed.", hours=hours)
        else:
            subject = _("Someone tried to sign up with your e-mail address")
            lines = [_("Someone, perhaps you, tried to create a Crowdfund account with this e-mail address. It "
                       "already has an account, so no new one was made and nothing was changed."),
                     _("If it was you, log in instead:")]
            query = f"?{urlencode({'next': next_url})}" if next_url else ""
            button, link = _("Log in"), f"{site}/login{query}"
            note = _("If it was not you, you can ignore this e-mail.")
        context = dict(user=user, subject=subject, lines=lines, button=button, link=link, note=note,
                       lang=locale.replace("_", "-"))
        text = render_template("emails/account.txt", **context)
        html = render_template("emails/account.html", **context)
    return build_message(recipient(user), subject, text, html)
