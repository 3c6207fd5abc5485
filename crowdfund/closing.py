"""Closing campaigns at their end time (SPEC 2.5): a periodic job, so a missed run is caught up next tick.

Also cancelling a campaign before its end (by its creator, or by a moderator, e.g. after a
suspension): like a failure, every paid pledge is refunded in full.
"""
from sqlalchemy import func, select

from crowdfund import audit, lifecycle, pledging, refunds, settlement
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import FundingMode, Pledge, PledgeStatus, Project, ProjectStatus, Role
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify
from crowdfund.queueing import periodic


def _expire_pending(project):
    """Pending pledges end with the campaign: expire them and free their slots (the caller commits)."""
    for pledge_id, tier_id in db.session.execute(select(Pledge.id, Pledge.tier_id).where(
            Pledge.project_id == project.id, Pledge.status == PledgeStatus.PENDING)).all():
        pledging.expire(pledge_id, tier_id, commit=False)


def close(project, now=None):
    """Decide one ended campaign: expire its pending pledges, then successful or failed (refunding everyone)."""
    now = now or utcnow()
    _expire_pending(project)
    raised = db.session.scalar(select(func.coalesce(func.sum(Pledge.amount_fen), 0)).where(
        Pledge.project_id == project.id, Pledge.status == PledgeStatus.PAID))
    if project.funding_mode == FundingMode.ALL_OR_NOTHING:
        success = raised >= (project.goal_fen or 0)
    else:
        success = raised > 0
    target = ProjectStatus.SUCCESSFUL if success else ProjectStatus.FAILED
    lifecycle.transition(project, target, reason=f"closed at deadline with {raised} fen paid", now=now, commit=False)
    if success:
        settlement.book_fee(project)
    link = f"/projects/{project.slug}"
    notify(project.creator_id, "creator_successful" if success else "creator_failed", link=link, project_id=project.id,
           title=project.title)
    paid = db.session.scalars(select(Pledge).where(Pledge.project_id == project.id,
                                                   Pledge.status == PledgeStatus.PAID)).all()
    for backer_id in {p.backer_id for p in paid}:
        notify(backer_id, "backer_successful" if success else "backer_failed", link=link, project_id=project.id,
               title=project.title)
    db.session.commit()
    if not success:
        for pledge in paid:
            refunds.request_refund(pledge, "failed")
    return target


CANCELLABLE = {ProjectStatus.LIVE, ProjectStatus.SUSPENDED}


class CancelError(RuleError):
    """The campaign cannot be cancelled as asked."""


def check_cancel(project, actor):
    """Refuse (CancelError) unless `actor` may cancel this campaign now: its creator or a moderator, while live or
    suspended."""
    if not (actor.id == project.creator_id or actor.has_role(Role.MODERATOR)):
        raise CancelError("owner")
    if project.status not in CANCELLABLE:
        raise CancelError("status")


def refunds_on_cancel(project):
    """What cancelling would refund: (how many backers, how many fen), from the paid pledges."""
    backers, total = db.session.execute(select(func.count(func.distinct(Pledge.backer_id)),
                                               func.coalesce(func.sum(Pledge.amount_fen), 0)).where(
        Pledge.project_id == project.id, Pledge.status == PledgeStatus.PAID)).one()
    return backers, total


def cancel(project, actor, reason, now=None):
    """Cancel a live or suspended campaign (its creator, or a moderator) and refund every paid pledge."""
    check_cancel(project, actor)
    reason = (reason or "").strip()[:500]
    if not reason:
        raise CancelError("reason")
    now = now or utcnow()
    _expire_pending(project)
    lifecycle.transition(project, ProjectStatus.CANCELLED, actor=actor, reason=reason, now=now, commit=False)
    audit.record(actor, "project.cancel", project, reason=reason)
    paid = db.session.scalars(select(Pledge).where(Pledge.project_id == project.id,
                                                   Pledge.status == PledgeStatus.PAID)).all()
    link = f"/projects/{project.slug}"
    notify(project.creator_id, "creator_cancelled", link=link, project_id=project.id, title=project.title,
           reason=reason)
    for backer_id in {p.backer_id for p in paid}:
        notify(backer_id, "backer_cancelled", link=link, project_id=project.id, title=project.title, reason=reason)
    queued = [refunds.request_refund(pledge, "project_cancelled", commit=False) for pledge in paid]
    db.session.commit()
    for refund in queued:
        refunds.queue(refund)
    return len(queued)


@periodic(interval=60)
def close_ended_campaigns(now=None):
    """Close every live campaign whose end time has passed; returns how many."""
    now = now or utcnow()
    due = db.session.scalars(select(Project).where(Project.status == ProjectStatus.LIVE,
                                                   Project.end_at <= now)).all()
    for project in due:
        close(project, now)
    return len(due)
