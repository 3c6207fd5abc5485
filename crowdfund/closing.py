"""Closing campaigns at their end time (SPEC 2.5): a periodic job, so a missed run is caught up next tick."""
from sqlalchemy import func, select

from crowdfund import lifecycle, pledging, refunds, settlement
from crowdfund.extensions import db
from crowdfund.models import FundingMode, Pledge, PledgeStatus, Project, ProjectStatus
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify
from crowdfund.queueing import periodic


def close(project, now=None):
    """Decide one ended campaign: expire its pending pledges, then successful or failed (refunding everyone)."""
    now = now or utcnow()
    for pledge_id, tier_id in db.session.execute(select(Pledge.id, Pledge.tier_id).where(
            Pledge.project_id == project.id, Pledge.status == PledgeStatus.PENDING)).all():
        pledging.expire(pledge_id, tier_id, commit=False)
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
    notify(project.creator_id, "creator_successful" if success else "creator_failed", link=link, title=project.title)
    paid = db.session.scalars(select(Pledge).where(Pledge.project_id == project.id,
                                                   Pledge.status == PledgeStatus.PAID)).all()
    for backer_id in {p.backer_id for p in paid}:
        notify(backer_id, "backer_successful" if success else "backer_failed", link=link, title=project.title)
    db.session.commit()
    if not success:
        for pledge in paid:
            refunds.request_refund(pledge, "failed")
    return target


@periodic(interval=60)
def close_ended_campaigns(now=None):
    """Close every live campaign whose end time has passed; returns how many."""
    now = now or utcnow()
    due = db.session.scalars(select(Project).where(Project.status == ProjectStatus.LIVE,
                                                   Project.end_at <= now)).all()
    for project in due:
        close(project, now)
    return len(due)
