"""Following a project and reminders (SPEC 3.4).

Anyone signed in may follow (关注) a public project without pledging; "提醒我" follows and asks for a
reminder 48 hours before a live campaign ends. Two periodic jobs remind people: followers who asked,
once per project (key `ending:<project>`), and backers whose pledge is still unpaid, once per pledge
before its hold expires (key `unpaid:<pledge>`). The keys make every run safe to repeat.
"""
import math
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from crowdfund import lifecycle
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.i18n import format_when
from crowdfund.models import Notification, Pledge, PledgeStatus, Project, ProjectStatus
from crowdfund.models.base import utcnow
from crowdfund.models.community import Follow
from crowdfund.notifications import notify_many
from crowdfund.queueing import periodic

REMIND_BEFORE = timedelta(hours=48)
BATCH = 1000


class FollowError(RuleError):
    """Not allowed: not_public, own (a creator's own project), ended (nothing left to remind of)."""


@dataclass(frozen=True)
class FollowState:
    """One account's relation to a project, as the funding box shows it."""

    following: bool
    reminding: bool
    is_backer: bool  # holds a paid pledge
    own: bool
    can_remind: bool  # the campaign is live and has not ended


def paid_pledge_clause(project_id, user_id):
    """SQL: the account holds a paid pledge for the project."""
    return exists().where(Pledge.project_id == project_id, Pledge.backer_id == user_id,
                          Pledge.status == PledgeStatus.PAID)


def can_remind(project, now=None):
    """A reminder only makes sense for a live campaign that has not ended."""
    return project.status == ProjectStatus.LIVE and project.end_at is not None and (now or utcnow()) < project.end_at


def state(project, user, now=None):
    """The signed-in account's follow, reminder and backer state in one query (None when signed out)."""
    if user is None or not user.is_authenticated:
        return None
    remind = select(Follow.remind_before_end).where(Follow.project_id == project.id,
                                                    Follow.user_id == user.id).scalar_subquery()
    row = db.session.execute(select(remind.label("remind"),
                                    paid_pledge_clause(project.id, user.id).label("backer"))).one()
    return FollowState(following=row.remind is not None, reminding=bool(row.remind), is_backer=bool(row.backer),
                       own=user.id == project.creator_id, can_remind=can_remind(project, now))


def follow(project, user, remind=False, now=None):
    """Follow the project (again: nothing changes); with `remind`, also ask for the 48-hour reminder."""
    if not lifecycle.is_public(project):
        raise FollowError("not_public")
    if user.id == project.creator_id:
        raise FollowError("own")
    if remind and not can_remind(project, now):
        raise FollowError("ended")
    row = db.session.get(Follow, (user.id, project.id))
    if row is None:
        row = Follow(user_id=user.id, project_id=project.id, remind_before_end=False, created_at=now or utcnow())
        db.session.add(row)
    if remind:
        row.remind_before_end = True
    try:
        db.session.commit()
    except IntegrityError:  # the same person following twice at once (a double click): the other request won
        db.session.rollback()
        if remind:
            db.session.get(Follow, (user.id, project.id)).remind_before_end = True
            db.session.commit()
    return db.session.get(Follow, (user.id, project.id))


def unfollow(project, user):
    """Stop following (and any reminder)."""
    db.session.execute(db.delete(Follow).where(Follow.user_id == user.id, Follow.project_id == project.id))
    db.session.commit()


def stop_reminder(project, user):
    """Keep following, but no reminder before the end."""
    row = db.session.get(Follow, (user.id, project.id))
    if row is not None:
        row.remind_before_end = False
        db.session.commit()


def followed_by(user):
    """The projects the account follows, most recent first, with the follow rows."""
    return db.session.execute(select(Follow, Project).join(Project, Project.id == Follow.project_id)
                              .where(Follow.user_id == user.id)
                              .options(joinedload(Project.cover))
                              .order_by(Follow.created_at.desc(), Project.id.desc())).all()


@periodic(interval=600, queue="notifications")
def remind_ending(now=None):
    """Tell followers who asked that a live campaign ends within 48 hours (once each); returns how many were told."""
    now = now or utcnow()
    ending = db.session.execute(select(Project.id, Project.slug, Project.title, Project.end_at).where(
        Project.status == ProjectStatus.LIVE, Project.end_at > now, Project.end_at <= now + REMIND_BEFORE)).all()
    told = 0
    for project_id, slug, title, end_at in ending:
        hours = math.ceil((end_at - now).total_seconds() / 3600)  # who asked late hears the truth, not "48"
        key = f"ending:{project_id}"
        # Skip those already told, so each tick over the 48 hours only looks at people who asked since.
        told_already = exists().where(Notification.user_id == Follow.user_id, Notification.key == key)
        after = 0
        while True:
            ids = db.session.scalars(select(Follow.user_id).where(
                Follow.project_id == project_id, Follow.remind_before_end.is_(True), Follow.user_id > after,
                ~told_already).order_by(Follow.user_id).limit(BATCH)).all()
            if not ids:
                break
            told += notify_many(ids, "project_ending", key, link=f"/projects/{slug}", project_id=project_id,
                                title=title, hours=hours)
            db.session.commit()
            after = ids[-1]
    return told


@periodic(interval=60, queue="notifications")
def remind_unpaid(now=None):
    """Remind each backer of a pending pledge once, PLEDGE_REMINDER_MINUTES before its hold expires."""
    now = now or utcnow()
    window = now + timedelta(minutes=current_app.config["PLEDGE_REMINDER_MINUTES"])
    due = db.session.execute(select(Pledge.id, Pledge.backer_id, Pledge.project_id, Pledge.expires_at, Project.title)
                             .join(Project, Project.id == Pledge.project_id)
                             .where(Pledge.status == PledgeStatus.PENDING, Pledge.expires_at > now,
                                    Pledge.expires_at <= window)).all()
    told = 0
    for pledge_id, backer_id, project_id, expires_at, title in due:
        # The time as the backer reads it (Asia/Shanghai); within minutes of now, it needs no date.
        told += notify_many([backer_id], "pledge_unpaid", f"unpaid:{pledge_id}",
                            link=f"/me/pledges/{pledge_id}#payment_status", project_id=project_id, title=title,
                            expires=format_when(expires_at, "HH:mm"))
    db.session.commit()
    return told
