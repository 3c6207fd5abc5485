"""Project updates (项目动态, SPEC 3.2): posting, editing with history, who may read them, and the fan-out.

A creator posts updates once the campaign is live; an update is public or for backers only (paid
backers, the creator and moderators read its body; everyone else sees that it exists). Each edit
keeps what the update said before as an UpdateRevision. Posting enqueues a job that notifies
followers and paid backers in batches by user id; the notification's unique key `update:<id>` makes
a re-run, or a run after a worker was killed midway, add only what is missing.
"""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select, union
from sqlalchemy.orm import selectinload

from crowdfund import follows
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import Notification, Pledge, PledgeStatus, Project, ProjectStatus, Role
from crowdfund.models.base import utcnow
from crowdfund.models.community import Follow, ProjectUpdate, UpdateRevision
from crowdfund.notifications import notify_many
from crowdfund.queueing import enqueue, periodic
from crowdfund.sanitize import markdown_to_html

S = ProjectStatus
# A creator has something to report from launch on, including after a failure (a relaunch, what went wrong).
POSTABLE = {S.LIVE, S.SUCCESSFUL, S.DELIVERING, S.COMPLETED, S.FAILED}
MAX_TITLE = 100
MAX_BODY = 20_000
PAGE_LATEST = 3  # updates shown on the project page
FEED_SIZE = 50
BATCH = 1000  # recipients per INSERT and commit in the fan-out


class UpdateError(RuleError):
    """Not allowed or not valid: owner, status, title, body."""


@dataclass(frozen=True)
class Reader:
    """What one account may do with a project's updates."""

    can_read_all: bool  # backers-only bodies too
    can_post: bool
    can_edit: bool  # any update of the project (the creator while the project is postable, moderators always)


def _is_moderator(user):
    return user is not None and user.is_authenticated and user.has_role(Role.MODERATOR)


def reader(project, user, is_backer=None):
    """The account's rights on the project's updates; `is_backer` saves the query when the caller knows."""
    if user is None or not user.is_authenticated:
        return Reader(False, False, False)
    own = user.id == project.creator_id
    moderator = _is_moderator(user)
    if is_backer is None and not (own or moderator):
        is_backer = is_paid_backer(project.id, user.id)
    postable = project.status in POSTABLE
    return Reader(bool(own or moderator or is_backer), own and postable, moderator or (own and postable))


def is_paid_backer(project_id, user_id):
    """Whether the account holds a paid pledge for the project."""
    return bool(db.session.scalar(select(follows.paid_pledge_clause(project_id, user_id))))


def _clean(title, body):
    title, body = (title or "").strip(), (body or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise UpdateError("title")
    if not body or len(body) > MAX_BODY:
        raise UpdateError("body")
    return title, body


def with_image(body, image_key):
    """The body with an uploaded image appended as Markdown (sanitize keeps only /media/ images)."""
    return f"{(body or '').rstrip()}\n\n![](/media/{image_key})" if image_key else body


def post(project, author, title, body, backers_only=False, now=None):
    """The creator publishes an update; the fan-out job notifies followers and backers."""
    if author.id != project.creator_id:
        raise UpdateError("owner")
    if project.status not in POSTABLE:
        raise UpdateError("status")
    title, body = _clean(title, body)
    update = ProjectUpdate(project_id=project.id, author_id=author.id, title=title, body=body,
                           body_html=markdown_to_html(body), backers_only=bool(backers_only),
                           created_at=now or utcnow())
    db.session.add(update)
    db.session.commit()
    enqueue(send_notifications, update.id, queue="notifications", job_id=f"update-fan-out-{update.id}")
    return update


def edit(update, editor, title, body, backers_only, now=None):
    """Change an update, keeping what it said before as a revision (no revision when nothing changed)."""
    project = db.session.get(Project, update.project_id)
    if not reader(project, editor, is_backer=False).can_edit:
        raise UpdateError("owner")
    title, body = _clean(title, body)
    if (title, body, bool(backers_only)) == (update.title, update.body, update.backers_only):
        return update
    now = now or utcnow()
    if (title, body) != (update.title, update.body):
        update.revisions.append(UpdateRevision(title=update.title, body=update.body, editor_id=editor.id,
                                               replaced_at=now))
    update.title, update.body, update.body_html = title, body, markdown_to_html(body)
    opened = update.backers_only and not backers_only
    update.backers_only = bool(backers_only)
    update.edited_at = now
    if opened:  # followers were not told of a backers-only update; now they may read it, tell them
        update.fanned_out_at = None
    db.session.commit()
    if opened:
        enqueue(send_notifications, update.id, queue="notifications", job_id=f"update-fan-out-{update.id}-open")
    return update


def get(project, update_id):
    """One update of the project, with its history, or None."""
    return db.session.scalar(select(ProjectUpdate).where(ProjectUpdate.id == update_id,
                                                         ProjectUpdate.project_id == project.id)
                             .options(selectinload(ProjectUpdate.revisions)))


def of_project(project, limit=None):
    """The project's updates, newest first."""
    query = select(ProjectUpdate).where(ProjectUpdate.project_id == project.id) \
        .order_by(ProjectUpdate.created_at.desc(), ProjectUpdate.id.desc())
    return db.session.scalars(query.limit(limit) if limit else query).all()


def page_context(project, user):
    """What the project page needs: the latest updates (one query) and the follow state (one query)."""
    latest = of_project(project, limit=PAGE_LATEST + 1)
    state = follows.state(project, user)
    return {"updates": latest[:PAGE_LATEST], "more_updates": len(latest) > PAGE_LATEST,
            "update_reader": reader(project, user, is_backer=state.is_backer if state else None),
            "follow": state}


def recipient_ids(update, after_id=0, limit=BATCH):
    """The next `limit` accounts to notify, by id: followers (public updates) and paid backers not yet told."""
    project = db.session.get(Project, update.project_id)
    backers = select(Pledge.backer_id.label("user_id")).where(Pledge.project_id == project.id,
                                                              Pledge.status == PledgeStatus.PAID)
    # Followers who never backed could not read a backers-only update: they are not told about it.
    everyone = backers if update.backers_only else union(
        select(Follow.user_id.label("user_id")).where(Follow.project_id == project.id), backers)
    ids = everyone.subquery()
    # Those already told are skipped, so a re-run after a crash only works through the rest.
    told = exists().where(Notification.user_id == ids.c.user_id, Notification.key == f"update:{update.id}")
    return db.session.scalars(select(ids.c.user_id).where(ids.c.user_id > after_id,
                                                          ids.c.user_id != project.creator_id, ~told)
                              .order_by(ids.c.user_id).limit(limit)).all()


def notify_batch(update, after_id=0, limit=BATCH):
    """Notify one batch of recipients after `after_id` and commit; returns (last id or None, new notifications)."""
    ids = recipient_ids(update, after_id, limit)
    if not ids:
        return None, 0
    project = db.session.get(Project, update.project_id)
    added = notify_many(ids, "update_posted", f"update:{update.id}", link=link(project, update),
                        project_id=project.id, title=project.title, update=update.title)
    db.session.commit()
    return ids[-1], added


def send_notifications(update_id, max_batches=None, batch=BATCH):
    """The fan-out job: notify every recipient batch by batch, then mark the update fanned out; returns how many.

    `max_batches` stops early (as a killed worker would); the next run fills in only what is missing.
    """
    update = db.session.get(ProjectUpdate, update_id)
    if update is None:
        return 0
    after, total, batches = 0, 0, 0
    while max_batches is None or batches < max_batches:
        after, added = notify_batch(update, after, batch)
        if after is None:
            update.fanned_out_at = utcnow()
            db.session.commit()
            break
        total, batches = total + added, batches + 1
    return total


@periodic(interval=600, queue="notifications")
def resume_fan_outs(now=None):
    """Finish fan-outs a dead worker left behind (older than ten minutes and not marked done)."""
    cutoff = (now or utcnow()) - timedelta(minutes=10)
    pending = db.session.scalars(select(ProjectUpdate.id).where(ProjectUpdate.fanned_out_at.is_(None),
                                                                ProjectUpdate.created_at <= cutoff)).all()
    for update_id in pending:
        send_notifications(update_id)
    return len(pending)


def link(project, update):
    """The update's page (a path: notifications and e-mail add the site)."""
    return f"/projects/{project.slug}/updates/{update.id}"


def feed_updated(project, items):
    """The feed's <updated>: its newest change, or the project's last change when it has no updates."""
    stamps = [u.edited_at or u.created_at for u in items]
    return max(stamps) if stamps else (project.updated_at or project.created_at)
