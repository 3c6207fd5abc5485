"""In-app notifications: `notify()` stores one; templates render it in the reader's language."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

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
    "reward_late": _l("Your reward for “%(title)s” is late. You may claim your money back on the pledge page."),
    "creator_late": _l("Rewards of “%(title)s” are past their promised date. Ship them, and explain the delay to "
                       "your backers."),
    "reward_shipped": _l("Your reward for “%(title)s” has shipped."),
    "verification_approved": _l("Your creator verification was approved. You can now submit projects."),
    "verification_rejected": _l("Your creator verification was rejected: %(reason)s"),
}


def notify(user_id, kind, link="", commit=False, **params):
    """Queue an in-app notification for one account."""
    if kind not in TEXTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    db.session.add(Notification(user_id=user_id, kind=kind, params=params, link=link))
    if commit:
        db.session.commit()


def notify_finance(kind, link="", **params):
    """Queue the notification for every finance user (administrators hold the finance role too), once each."""
    from crowdfund.models import Role, User, UserRole

    for user_id in db.session.scalars(select(User.id).join(UserRole, UserRole.user_id == User.id)
                                      .where(UserRole.role.in_([Role.FINANCE, Role.ADMIN])).distinct()):
        notify(user_id, kind, link=link, **params)


def text(notification):
    """The notification's sentence in the current language."""
    return TEXTS[notification.kind] % notification.params


def unread_count(user_id):
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)))


def recent(user_id, limit=50):
    return db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                              .order_by(Notification.id.desc()).limit(limit)).all()


def mark_all_read(user_id):
    db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                  Notification.read_at.is_(None)).values(read_at=utcnow()))
    db.session.commit()


def unread_notifications():
    """For the header badge: the signed-in account's unread count (0 when signed out)."""
    from flask_login import current_user

    return unread_count(current_user.id) if current_user.is_authenticated else 0
