"""The project lifecycle (SPEC 1.5): every state change goes through `transition()`.

    draft → submitted → in_review → approved → live → successful → delivering → completed
                     ↘ changes_requested ↗    ↘ rejected      ↘ failed | cancelled | suspended
"""
from datetime import timedelta

from crowdfund.extensions import db
from crowdfund.models import ProjectEvent, ProjectStatus
from crowdfund.models.base import utcnow

S = ProjectStatus

TRANSITIONS = {
    S.DRAFT: {S.SUBMITTED, S.CANCELLED},
    S.SUBMITTED: {S.IN_REVIEW, S.CHANGES_REQUESTED, S.REJECTED},
    S.IN_REVIEW: {S.APPROVED, S.CHANGES_REQUESTED, S.REJECTED},
    S.CHANGES_REQUESTED: {S.SUBMITTED, S.CANCELLED},
    S.APPROVED: {S.LIVE, S.CANCELLED},
    S.REJECTED: set(),
    S.LIVE: {S.SUCCESSFUL, S.FAILED, S.CANCELLED, S.SUSPENDED},
    S.SUSPENDED: {S.LIVE, S.CANCELLED},
    S.SUCCESSFUL: {S.DELIVERING},
    S.FAILED: set(),
    S.CANCELLED: set(),
    S.DELIVERING: {S.COMPLETED},
    S.COMPLETED: set(),
}

EDITABLE = {S.DRAFT, S.CHANGES_REQUESTED}
PUBLIC = {S.LIVE, S.SUCCESSFUL, S.FAILED, S.SUSPENDED, S.DELIVERING, S.COMPLETED, S.CANCELLED}


class TransitionError(Exception):
    """Base class: the project cannot move as asked."""


class InvalidTransition(TransitionError):
    """The lifecycle has no such move from the project's current state."""

    def __init__(self, project, to):
        super().__init__(f"project {project.id}: {project.status.value} → {to.value} is not allowed")
        self.project, self.to = project, to


class GuardFailed(TransitionError):
    """The move exists but its precondition does not hold."""


def _guard_live(project, now):
    if project.duration_days is None:
        raise GuardFailed("a project needs a duration before it goes live")
    if project.launch_at is not None and project.launch_at > now:
        raise GuardFailed("the scheduled launch time has not come yet")


def _guard_closing(project, now):
    if project.end_at is None or project.end_at > now:
        raise GuardFailed("a campaign closes only after its end time")


GUARDS = {
    (S.APPROVED, S.LIVE): _guard_live,
    (S.SUSPENDED, S.LIVE): lambda project, now: None,
    (S.LIVE, S.SUCCESSFUL): _guard_closing,
    (S.LIVE, S.FAILED): _guard_closing,
}


def can_transition(project, to):
    """Whether the lifecycle allows the move (guards aside)."""
    return ProjectStatus(to) in TRANSITIONS[project.status]


def transition(project, to, actor=None, reason="", now=None, commit=True):
    """Move the project to `to`, check the move's guard, and log who/when/why as a ProjectEvent."""
    to = ProjectStatus(to)
    now = now or utcnow()
    if not can_transition(project, to):
        raise InvalidTransition(project, to)
    guard = GUARDS.get((project.status, to))
    if guard is not None:
        guard(project, now)
    if to == S.LIVE and project.status == S.APPROVED:
        project.launch_at = project.launch_at or now
        project.end_at = project.launch_at + timedelta(days=project.duration_days)
    if to == S.SUBMITTED:
        project.submitted_at = now
    db.session.add(ProjectEvent(project_id=project.id, actor_id=actor.id if actor else None,
                                from_status=project.status, to_status=to, reason=reason or "", created_at=now))
    project.status = to
    if commit:
        db.session.commit()
    return project


def accepts_pledges(project, now=None):
    """Only a live project before its end time takes pledges, whether or not the closing job has run."""
    now = now or utcnow()
    return project.status == S.LIVE and project.end_at is not None and project.launch_at <= now < project.end_at


def is_editable(project):
    """Whether the creator may change the project in the wizard."""
    return project.status in EDITABLE


def is_public(project):
    """Whether anyone may see the project page."""
    return project.status in PUBLIC


def visible_to(project, user):
    """Whether `user` may see the project page: anyone once public, before that its creator and moderators."""
    if is_public(project):
        return True
    return bool(user and user.is_authenticated) and (project.creator_id == user.id or user.has_role("moderator"))
