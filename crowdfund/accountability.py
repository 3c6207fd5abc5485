"""Failure and blacklist (SPEC 2.7): creators explain failures; moderators blacklist repeat offenders."""
from sqlalchemy import select

from crowdfund import audit, lifecycle
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import Project, ProjectStatus
from crowdfund.models.base import utcnow

EXPLAINABLE = {ProjectStatus.FAILED, ProjectStatus.CANCELLED, ProjectStatus.SUSPENDED}


class AccountabilityError(RuleError):
    """Not allowed."""


def explain(project, creator, text):
    """The creator's public explanation of a failed, cancelled, suspended or undelivered project."""
    if project.creator_id != creator.id:
        raise AccountabilityError("owner")
    if not needs_explanation(project):
        raise AccountabilityError("status")
    if not text.strip():
        raise AccountabilityError("empty")
    project.creator_explanation = text.strip()[:5000]
    db.session.commit()


def needs_explanation(project):
    """Failed, cancelled and suspended projects, and those with rewards past their promised date."""
    from crowdfund import delivery

    if project.status in EXPLAINABLE:
        return True
    if project.status not in (*delivery.SHIPPING_STATES, ProjectStatus.COMPLETED):
        return False
    done = delivery.progress(project)
    return done.late > 0 or done.claimed > 0


def check_blacklist(user, moderator):
    """Refuse (AccountabilityError) a moderator blacklisting themselves."""
    if user.id == moderator.id:
        raise AccountabilityError("self")


def live_projects_of(user):
    """The creator's live projects: a blacklist suspends them."""
    return db.session.scalars(select(Project).where(Project.creator_id == user.id,
                                                    Project.status == ProjectStatus.LIVE)).all()


def blacklist(user, moderator, reason):
    """No new projects for this account; its live projects are suspended for review."""
    check_blacklist(user, moderator)
    reason = (reason or "").strip()
    if not reason:
        raise AccountabilityError("reason")
    user.blacklisted_at = utcnow()
    for project in live_projects_of(user):
        lifecycle.transition(project, ProjectStatus.SUSPENDED, actor=moderator, reason=f"creator blacklisted: {reason}",
                             commit=False)
    audit.record(moderator, "user.blacklist", user, reason=reason)
    db.session.commit()
