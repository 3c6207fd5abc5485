"""In-app notifications: `notify()` stores one, `notify_many()` one per account for a fan-out; templates render
each in the reader's language. A notification with a `key` exists at most once per account, so a job that
notifies can be re-run (or killed midway and re-run) without anyone hearing twice. The important kinds
(EMAIL_KINDS) are also e-mailed by crowdfund.mailer, unless the account opted out (per kind group or project).
"""
from importlib import import_module

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select, update

from crowdfund.extensions import db
from crowdfund.models import Notification
from crowdfund.models.base import utcnow

TEXTS = {
    "project_approved": _l("Your project “%(title)s” was approved."),
    "project_scheduled": _l("Your project “%(title)s” was approved and will launch at the chosen time."),
    "project_changes": _l("Your project “%(title)s” needs changes before it can launch."),
    "project_rejected": _l("Your project “%(title)s” was rejected: %(reason)s"),
    "project_live": _l("Your project “%(title)s” is live."),
    "creator_successful": _l("Your campaign “%(title)s” succeeded."),
    "creator_failed": _l("Your campaign “%(title)s” did not reach its goal; every backer is being refunded."),
    "backer_successful": _l("“%(title)s”, which you backed, was funded."),
    "backer_failed": _l("“%(title)s”, which you backed, was not funded; your money is being refunded in full."),
    "creator_cancelled": _l("Your campaign “%(title)s” was cancelled (%(reason)s); every backer is being refunded."),
    "backer_cancelled": _l("“%(title)s”, which you backed, was cancelled (%(reason)s); your money is being refunded "
                           "in full."),
    "refund_failed": _l("Refunding pledge %(pledge)s keeps failing; please look into it."),
    "withdrawal_approved": _l("Your withdrawal for “%(title)s” was approved; the payout is due on %(due)s."),
    "withdrawal_rejected": _l("Your withdrawal for “%(title)s” was rejected: %(reason)s"),
    "reconciliation_mismatch": _l("The daily reconciliation found %(count)s bookings that do not match the provider."),
    "ledger_broken": _l("The ledger's hash chain no longer verifies; the command “flask ledger verify” lists the "
                        "problems."),
    "reward_late": _l("Your reward for “%(title)s” is late. You may claim your money back on the pledge page."),
    "creator_late": _l("Rewards of “%(title)s” are past their promised date. Ship them, and explain the delay to "
                       "your backers."),
    "reward_shipped": _l("Your reward for “%(title)s” has shipped."),
    "verification_approved": _l("Your creator verification was approved. You can now submit projects."),
    "verification_rejected": _l("Your creator verification was rejected: %(reason)s"),
    # Community (SPEC 3)
    "question_asked": _l("%(name)s asked a question about “%(title)s”."),
    "comment_replied": _l("%(name)s replied to your comment on “%(title)s”."),
    "question_answered": _l("Your question about “%(title)s” was answered."),
    "question_waiting": _l("A question about “%(title)s” has waited %(hours)s hours for your reply."),
    "update_posted": _l("“%(title)s” posted an update: %(update)s"),
    "project_ending": _l("“%(title)s”, which you asked to be reminded of, ends in %(hours)s hours."),
    "pledge_unpaid": _l("Your pledge to “%(title)s” is not paid yet. Pay before %(expires)s or the reward is "
                        "released."),
    "message_received": _l("%(name)s sent you a private message about “%(title)s”."),
    "pledge_paid": _l("Your payment of %(amount_fen)s for “%(title)s” was received."),
    "refund_done": _l("Your refund of %(amount_fen)s for “%(title)s” is complete."),
    "data_export_ready": _l("Your personal data is ready to download for the next 24 hours."),
}


def notify(user_id, kind, link="", commit=False, project_id=None, key=None, **params):
    """Queue an in-app notification for one account; with a `key`, only if that account has none with it yet."""
    if kind not in TEXTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if key is None:
        db.session.add(Notification(user_id=user_id, kind=kind, params=params, link=link, project_id=project_id))
    else:
        notify_many([user_id], kind, key, link=link, project_id=project_id, **params)
    if commit:
        db.session.commit()


def notify_many(user_ids, kind, key, link="", project_id=None, **params):
    """Add one notification per account for the event `key`, skipping accounts that already have it.

    One INSERT for the whole batch; the unique (user_id, key) constraint makes a re-run a no-op.
    Returns how many were new. The caller commits.
    """
    if kind not in TEXTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    rows = [dict(user_id=user_id, kind=kind, params=params, link=link, project_id=project_id, key=key,
                 created_at=utcnow()) for user_id in dict.fromkeys(user_ids)]
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect
    if dialect.name in ("postgresql", "sqlite"):
        upsert = import_module(f"sqlalchemy.dialects.{dialect.name}").insert
        statement = upsert(Notification).on_conflict_do_nothing(index_elements=["user_id", "key"])
        ids = db.session.execute(statement.values(rows).returning(Notification.id)).scalars().all()
    elif dialect.insert_returning:  # MariaDB 10.5+: INSERT IGNORE … RETURNING names only the rows that went in
        statement = insert(Notification).prefix_with("IGNORE").values(rows).returning(Notification.id)
        ids = db.session.execute(statement).scalars().all()
    else:  # MySQL has no RETURNING: one row at a time, keeping the id of each that went in
        results = [db.session.execute(insert(Notification).prefix_with("IGNORE").values(row)) for row in rows]
        ids = [result.inserted_primary_key[0] for result in results if result.rowcount]
    if kind in EMAIL_KINDS:
        db.session.info.setdefault(NEW_EMAILS, []).extend(ids)  # crowdfund.mailer sends them after the commit
    return len(ids)


def notify_finance(kind, link="", **params):
    """Queue the notification for every finance user (administrators hold the finance role too), once each."""
    from crowdfund.models import Role, User, UserRole

    for user_id in db.session.scalars(select(User.id).join(UserRole, UserRole.user_id == User.id)
                                      .where(UserRole.role.in_([Role.FINANCE, Role.ADMIN])).distinct()):
        notify(user_id, kind, link=link, **params)


def text(notification):
    """The notification's sentence in the current language (amounts in `*_fen` params shown as money)."""
    from crowdfund.i18n import format_money

    params = {k: format_money(v) if k.endswith("_fen") else v for k, v in (notification.params or {}).items()}
    return TEXTS[notification.kind] % params


BADGE_CAP = 99  # the header shows "99+" beyond this, so the count never scans more unread rows than that


def unread_count(user_id, cap=None):
    """How many notifications the account has not read (at most `cap` + 1 counted when a cap is given)."""
    unread = select(Notification.id).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if cap is not None:
        unread = unread.limit(cap + 1)
    return db.session.scalar(select(func.count()).select_from(unread.subquery()))


def page_of(user_id, before=None, per_page=20):
    """One page of the account's notifications, newest first, and the id to continue before (or None)."""
    query = select(Notification).where(Notification.user_id == user_id)
    if before:
        query = query.where(Notification.id < before)
    items = db.session.scalars(query.order_by(Notification.id.desc()).limit(per_page + 1)).all()
    return items[:per_page], (items[per_page - 1].id if len(items) > per_page else None)


def mark_read(user_id, notification_id, now=None):
    """Mark one of the account's own notifications read; returns it, or None when it is not theirs."""
    db.session.execute(update(Notification).where(
        Notification.id == notification_id, Notification.user_id == user_id, Notification.read_at.is_(None)
    ).values(read_at=now or utcnow()))
    db.session.commit()
    return db.session.scalar(select(Notification).where(Notification.id == notification_id,
                                                        Notification.user_id == user_id))


def mark_all_read(user_id, now=None):
    db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                  Notification.read_at.is_(None)).values(read_at=now or utcnow()))
    db.session.commit()


def unread_notifications():
    """For the header badge: the signed-in account's unread count, capped (0 when signed out)."""
    from flask_login import current_user

    return unread_count(current_user.id, cap=BADGE_CAP) if current_user.is_authenticated else 0


# E-mail (SPEC 3.5): which kinds are also e-mailed, grouped as the settings page offers them.
NEW_EMAILS = "new_email_notifications"  # session.info key: ids of new notifications to e-mail after the commit
EMAIL_GROUPS = {
    "projects": (_l("My projects: review decisions, campaign results, withdrawals and late rewards"), (
        "project_approved", "project_scheduled", "project_changes", "project_rejected", "project_live",
        "creator_successful", "creator_failed", "creator_cancelled", "creator_late", "withdrawal_approved",
        "withdrawal_rejected", "verification_approved", "verification_rejected")),
    "pledges": (_l("My pledges: payments, refunds, campaign results and rewards"), (
        "pledge_paid", "pledge_unpaid", "refund_done", "backer_successful", "backer_failed", "backer_cancelled",
        "reward_shipped", "reward_late")),
    "questions": (_l("Questions: new questions on my projects, answers to mine, reminders to reply"), (
        "question_asked", "question_waiting", "question_answered")),
    "updates": (_l("Updates and reminders from projects I follow or back"), ("update_posted", "project_ending")),
    "messages": (_l("Private messages"), ("message_received",)),
    "staff": (_l("Finance alerts (staff only)"), ("refund_failed", "reconciliation_mismatch", "ledger_broken")),
}
KIND_GROUP = {kind: group for group, (_label, kinds) in EMAIL_GROUPS.items() for kind in kinds}
EMAIL_KINDS = frozenset(KIND_GROUP)


def _opt_outs(user_id):
    from crowdfund.models import EmailOptOut

    return db.session.scalars(select(EmailOptOut).where(EmailOptOut.user_id == user_id)).all()


def opted_out(rows, kind, project_id):
    """Whether these opt-out rows (one account's) stop e-mail of `kind` about `project_id`."""
    return any(row.kind in ("", kind) and row.project_id in (None, project_id) for row in rows)


def email_settings(user_id):
    """{"everything": bool, <group>: bool}: what the account receives, for the settings form."""
    general = {row.kind for row in _opt_outs(user_id) if row.project_id is None}
    settings = {"everything": "" not in general}
    for group, (_label, kinds) in EMAIL_GROUPS.items():
        settings[group] = not general.intersection(kinds)
    return settings


def save_email_settings(user_id, everything, groups):
    """Store the settings form: all e-mail on or off, and each group (a dict group -> bool) on or off."""
    from crowdfund.models import EmailOptOut

    db.session.execute(delete(EmailOptOut).where(EmailOptOut.user_id == user_id, EmailOptOut.project_id.is_(None)))
    if not everything:
        db.session.add(EmailOptOut(user_id=user_id, kind=""))
    for group, wanted in groups.items():
        if not wanted:
            db.session.add_all(EmailOptOut(user_id=user_id, kind=kind) for kind in EMAIL_GROUPS[group][1])
    db.session.commit()


def set_project_email(user_id, project_id, wanted):
    """Receive (or stop) every e-mail about one project."""
    from crowdfund.models import EmailOptOut

    scope = (EmailOptOut.user_id == user_id, EmailOptOut.project_id == project_id)
    if wanted:
        db.session.execute(delete(EmailOptOut).where(*scope))
    elif not db.session.scalar(select(EmailOptOut.id).where(*scope, EmailOptOut.kind == "")):
        db.session.add(EmailOptOut(user_id=user_id, kind="", project_id=project_id))
    db.session.commit()


def project_email_choices(user_id):
    """[(project, receives e-mail)] for the projects the account follows, backed, created or muted."""
    from crowdfund.models import EmailOptOut, Follow, Pledge, Project

    related = (select(Follow.project_id).where(Follow.user_id == user_id)
               .union(select(Pledge.project_id).where(Pledge.backer_id == user_id, Pledge.paid_at.is_not(None)),
                      select(Project.id).where(Project.creator_id == user_id),
                      select(EmailOptOut.project_id).where(EmailOptOut.user_id == user_id,
                                                           EmailOptOut.project_id.is_not(None))))
    muted = set(db.session.scalars(select(EmailOptOut.project_id).where(
        EmailOptOut.user_id == user_id, EmailOptOut.kind == "", EmailOptOut.project_id.is_not(None))))
    projects = db.session.scalars(select(Project).where(Project.id.in_(related)).order_by(Project.id.desc())).all()
    return [(project, project.id not in muted) for project in projects]


def _serializer():
    from flask import current_app
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe")


def unsubscribe_token(user_id, kind, project_id=None):
    """A signed token standing for "stop e-mail like this" (no login needed to use it)."""
    return _serializer().dumps({"u": user_id, "k": kind, "p": project_id})


def read_unsubscribe_token(token):
    """(user_id, kind, project_id) from a token; raises itsdangerous.BadData when it was not ours or altered."""
    from itsdangerous import BadData

    data = _serializer().loads(token)
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or data.get("k") not in EMAIL_KINDS:
        raise BadData("malformed unsubscribe token")
    return data["u"], data["k"], data.get("p") if isinstance(data.get("p"), int) else None


def unsubscribed(user_id, kind, project_id, scope):
    """Whether the account already stopped this e-mail: about the project ("project") or of this group ("kind")."""
    rows = _opt_outs(user_id)
    if scope == "project":
        return any(row.kind == "" and row.project_id == project_id for row in rows)
    general = {row.kind for row in rows if row.project_id is None}
    return "" in general or set(EMAIL_GROUPS[KIND_GROUP[kind]][1]) <= general


def unsubscribe(user_id, kind, project_id, scope):
    """One-click unsubscribe: stop e-mail about the project, or every e-mail of the kind's group."""
    from crowdfund.models import EmailOptOut

    if scope == "project" and project_id is not None:
        return set_project_email(user_id, project_id, False)
    have = {row.kind for row in _opt_outs(user_id) if row.project_id is None}
    db.session.add_all(EmailOptOut(user_id=user_id, kind=other) for other in EMAIL_GROUPS[KIND_GROUP[kind]][1]
                       if other not in have)
    db.session.commit()
