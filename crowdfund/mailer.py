"""E-mail over SMTP (the MAIL_* settings) and the jobs that e-mail notifications (SPEC 3.5).

Each notification of an EMAIL_KINDS kind is e-mailed at most once: a job claims it with a conditional UPDATE
(`emailed_at IS NULL` -> now) before sending, and gives the claim back when the server could not take the
message, so a retry or the next catch-up run sends it. A worker killed between claim and send loses that one
e-mail rather than risking a second copy. New notifications are handed to `send_email` right after their
commit; `send_pending_emails` (every minute) catches up on fan-outs and anything a lost job left behind.
"""
import logging
import os
import smtplib
import ssl
import time
from pathlib import Path
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from flask import current_app, has_app_context, render_template
from flask_babel import force_locale
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from crowdfund import notifications
from crowdfund.extensions import db
from crowdfund.models import EmailOptOut, Notification, User
from crowdfund.models.base import utcnow
from crowdfund.queueing import enqueue, periodic, redis_connection

log = logging.getLogger(__name__)

CATCH_UP_HOURS = 48  # older unsent notifications are left alone (e.g. from before e-mail was configured)
BATCH = 200  # notifications loaded and sent over one SMTP connection
RUN_SECONDS = 100  # a catch-up run stops starting batches after this, well inside RQ's job timeout
IMMEDIATE = 20  # a commit with more new notifications than this (a fan-out) leaves them to one catch-up run


class MailPolicy(EmailPolicy):
    """The standard policy, except that List-Unsubscribe stays on one line: folding a long URL would turn it into
    an RFC 2047 encoded word, which mail clients do not decode in that header."""

    def fold(self, name, value):
        if name.lower() == "list-unsubscribe":
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if name.lower() == "list-unsubscribe":
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


POLICY = MailPolicy()


class SendFailed(Exception):
    """The mail server did not take a message; the notification was released for a later attempt."""


def connect():
    """An SMTP connection as configured: STARTTLS when MAIL_USE_TLS, login when MAIL_USERNAME is set."""
    config = current_app.config
    smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"])
    try:
        if config["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
    except Exception:
        smtp.close()
        raise
    return smtp


def recipient(user):
    """The To header for an account: an Address, or for an internationalised address (non-ASCII before the @,
    which Address refuses) the same as text, sent with SMTPUTF8 by smtplib."""
    try:
        return Address(display_name=user.display_name, addr_spec=user.email)
    except (ValueError, IndexError):  # email.errors.NonASCIILocalPartDefect is a ValueError
        name = user.display_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{name}" <{user.email}>'


def build_message(to, subject, text, html, headers=None):
    """A multipart/alternative message (plain text, then HTML) from the configured sender."""
    config = current_app.config
    message = EmailMessage(policy=POLICY)
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain=urlsplit(config["SITE_URL"]).hostname or "localhost")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_now(message):
    """Send one message that must reach its recipient (account e-mail): over SMTP when MAIL_ENABLED, else into
    MAIL_OUTBOX (development and tests). Raises SendFailed when neither can take it, so the job is retried."""
    config = current_app.config
    if config["MAIL_ENABLED"]:
        try:
            smtp = connect()
        except (OSError, smtplib.SMTPException) as error:
            raise SendFailed(str(error)) from error
        try:
            smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise SendFailed(str(error)) from error
        finally:
            _quit(smtp)
        return "sent"
    if not config.get("MAIL_OUTBOX"):
        raise SendFailed("no mail server is configured (MAIL_SERVER) and there is no MAIL_OUTBOX")
    folder = Path(config["MAIL_OUTBOX"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns()}-{os.urandom(4).hex()}.eml"  # sorted by name = by time
    path.write_bytes(message.as_bytes(policy=message.policy.clone(utf8=True)))  # as SMTPUTF8 would carry it
    log.info("no mail server: e-mail to %s written to %s", message["To"], path)
    return "outbox"


def outbox(folder):
    """The messages in an outbox folder, oldest first (for development and tests)."""
    from email import message_from_bytes, policy

    paths = sorted(Path(folder).glob("*.eml")) if folder and Path(folder).is_dir() else []
    return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in paths]


def notification_message(notification, user):
    """The e-mail for one notification, in the recipient's language, with a one-click unsubscribe link."""
    config = current_app.config
    site = config["SITE_URL"]
    locale = user.locale if user.locale in config["LANGUAGES"] else config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        sentence = str(notifications.text(notification))
        token = notifications.unsubscribe_token(user.id, notification.kind, notification.project_id)
        link = notification.link if notification.link.startswith("/") else "/account/notifications"
        context = dict(user=user, sentence=sentence, link=site + link, unsubscribe_url=f"{site}/unsubscribe/{token}",
                       settings_url=f"{site}/account/notifications/settings", lang=locale.replace("_", "-"))
        text = render_template("emails/notification.txt", **context)
        html = render_template("emails/notification.html", **context)
    # RFC 8058: mail clients may offer "unsubscribe" that POSTs to the link without opening a browser.
    headers = {"List-Unsubscribe": f"<{context['unsubscribe_url']}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return build_message(recipient(user), sentence[:150], text, html, headers)


def send_email(notification_id):
    """Job: e-mail one notification unless already claimed, not an e-mail kind, or opted out."""
    sent = deliver([notification_id])
    return "sent" if sent else "skipped"


@periodic(interval=60, queue="notifications")
def send_pending_emails(now=None, batch=BATCH, run_seconds=RUN_SECONDS):
    """Catch-up job: e-mail recent notifications nobody has claimed yet, batch by batch; returns how many went out."""
    if not current_app.config["MAIL_ENABLED"]:
        return 0
    since = (now or utcnow()) - timedelta(hours=CATCH_UP_HOURS)
    deadline, sent, after = time.monotonic() + run_seconds, 0, 0
    while time.monotonic() < deadline:
        ids = db.session.scalars(select(Notification.id).where(
            Notification.id > after, Notification.emailed_at.is_(None), Notification.created_at >= since,
            Notification.kind.in_(notifications.EMAIL_KINDS)).order_by(Notification.id).limit(batch)).all()
        db.session.rollback()  # end the read transaction; claims commit one by one
        if not ids:
            break
        after = ids[-1]
        try:
            sent += deliver(ids)
        except SendFailed:
            break  # the server is refusing: the next run tries again
    return sent


def deliver(ids):
    """Claim, render and send the notifications `ids` over one connection; returns how many were sent.

    Raises SendFailed (after releasing the claim) when the server fails on a message it might take later.
    """
    rows = db.session.execute(select(Notification, User).join(User, User.id == Notification.user_id).where(
        Notification.id.in_(ids), Notification.emailed_at.is_(None),
        Notification.kind.in_(notifications.EMAIL_KINDS)).order_by(Notification.id)).all()
    opt_outs = {}
    for row in db.session.scalars(select(EmailOptOut).where(EmailOptOut.user_id.in_({u.id for _, u in rows}))):
        opt_outs.setdefault(row.user_id, []).append(row)
    # Detach what was loaded, so the commit of each claim does not expire it (and reload it row by row).
    for obj in [*(o for pair in rows for o in pair), *(o for found in opt_outs.values() for o in found)]:
        if obj in db.session:
            db.session.expunge(obj)
    smtp, sent = None, 0
    try:
        for notification, user in rows:
            claimed_at = _claim(notification.id)
            if claimed_at is None:
                continue  # another job has it
            # An opted-out notification stays claimed: it is handled, just not by e-mail.
            if notifications.opted_out(opt_outs.get(user.id, []), notification.kind, notification.project_id):
                continue
            try:
                message = notification_message(notification, user)
            except Exception:
                log.exception("could not render the e-mail for notification %s", notification.id)
                continue
            try:
                smtp = smtp or connect()
                smtp.send_message(message)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
                if _permanent(error):
                    log.warning("e-mail for notification %s refused for good: %s", notification.id, error)
                    continue
                _release(notification.id, claimed_at)
                raise SendFailed(str(error)) from error
            except (OSError, smtplib.SMTPException) as error:
                _release(notification.id, claimed_at)
                raise SendFailed(str(error)) from error
            sent += 1
    finally:
        if smtp is not None:
            _quit(smtp)
    return sent


def _claim(notification_id):
    """Mark the notification as e-mailed unless someone did already; returns the claim's time or None."""
    now = utcnow()
    claimed = db.session.execute(update(Notification).where(
        Notification.id == notification_id, Notification.emailed_at.is_(None)).values(emailed_at=now)).rowcount
    db.session.commit()
    return now if claimed else None


def _release(notification_id, claimed_at):
    db.session.execute(update(Notification).where(
        Notification.id == notification_id, Notification.emailed_at == claimed_at).values(emailed_at=None))
    db.session.commit()


def _permanent(error):
    """A 5xx answer about this message or recipient: retrying would only repeat it."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return error.smtp_code >= 500


def _quit(smtp):
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


@event.listens_for(Session, "after_flush")
def _remember_new_notifications(session, _context):
    """Note the ids of new e-mail-kind notifications (added with notify()) so they are sent after the commit."""
    ids = [obj.id for obj in session.new if isinstance(obj, Notification) and obj.kind in notifications.EMAIL_KINDS]
    if ids:
        session.info.setdefault(notifications.NEW_EMAILS, []).extend(ids)


@event.listens_for(Session, "after_rollback")
def _forget_new_notifications(session):
    session.info.pop(notifications.NEW_EMAILS, None)


@event.listens_for(Session, "after_commit")
def _send_new_notifications(session):
    """Hand the committed notifications to `send_email` (inline without Redis), or a fan-out to one catch-up run."""
    root = session.get_transaction()
    if root is not None and root.is_active:
        return  # only a savepoint was released (begin_nested): the notifications are not committed yet
    ids = session.info.pop(notifications.NEW_EMAILS, None)
    if not ids or not has_app_context() or not current_app.config.get("MAIL_ENABLED"):
        return
    try:
        if len(ids) > IMMEDIATE:
            # A fan-out commits batch after batch: one catch-up run queued per 30 s is enough, as it sends them all.
            redis = redis_connection()
            if redis is None or redis.set("crowdfund:email-catch-up-queued", 1, nx=True, ex=30):
                enqueue(send_pending_emails, queue="notifications", timeout=180, retries=0)
        else:
            for notification_id in ids:
                enqueue(send_email, notification_id, queue="notifications", job_id=f"email-{notification_id}",
                        timeout=60)
    except Exception:
        # Redis unreachable: the commit stands, and send_pending_emails picks these up within a minute.
        log.exception("could not queue e-mail for notifications %s", ids)
