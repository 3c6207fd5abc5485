"""The project state machine (SPEC 1.5)."""
from datetime import timedelta

import pytest

from crowdfund import lifecycle
from crowdfund.extensions import db
from crowdfund.models import Project, ProjectEvent, ProjectStatus
from crowdfund.models.base import utcnow

S = ProjectStatus
ALLOWED = {(a, b) for a, targets in lifecycle.TRANSITIONS.items() for b in targets}


def test_the_lifecycle_matches_the_spec():
    assert ALLOWED == {
        (S.DRAFT, S.SUBMITTED), (S.DRAFT, S.CANCELLED),
        (S.SUBMITTED, S.IN_REVIEW), (S.SUBMITTED, S.CHANGES_REQUESTED), (S.SUBMITTED, S.REJECTED),
        (S.IN_REVIEW, S.APPROVED), (S.IN_REVIEW, S.CHANGES_REQUESTED), (S.IN_REVIEW, S.REJECTED),
        (S.CHANGES_REQUESTED, S.SUBMITTED), (S.CHANGES_REQUESTED, S.CANCELLED),
        (S.APPROVED, S.LIVE), (S.APPROVED, S.CANCELLED),
        (S.LIVE, S.SUCCESSFUL), (S.LIVE, S.FAILED), (S.LIVE, S.CANCELLED), (S.LIVE, S.SUSPENDED),
        (S.SUSPENDED, S.LIVE), (S.SUSPENDED, S.CANCELLED),
        (S.SUCCESSFUL, S.DELIVERING), (S.DELIVERING, S.COMPLETED),
    }


@pytest.fixture
def project(app, make_user):
    """Factory: a bare project row in the given state, its campaign window already over."""
    creator_id = make_user()
    counter = iter(range(10_000))

    def factory(status):
        row = Project(slug=f"lc{next(counter)}", creator_id=creator_id, status=status, duration_days=30,
                      launch_at=utcnow() - timedelta(days=40), end_at=utcnow() - timedelta(days=10))
        db.session.add(row)
        db.session.commit()
        return row

    with app.app_context():
        yield factory


@pytest.mark.parametrize("source, target", sorted(ALLOWED, key=lambda p: (p[0].value, p[1].value)))
def test_every_allowed_transition_is_logged(project, source, target, make_user):
    row = project(source)
    if (source, target) == (S.APPROVED, S.LIVE):
        row.launch_at, row.end_at = None, None
    lifecycle.transition(row, target, reason="because")
    assert row.status == target
    event = db.session.scalars(db.select(ProjectEvent).filter_by(project_id=row.id)).all()[-1]
    assert (event.from_status, event.to_status, event.reason) == (source, target, "because")
    assert event.created_at is not None


@pytest.mark.parametrize("source, target", [(a, b) for a in S for b in S if (a, b) not in ALLOWED])
def test_every_other_transition_is_refused(project, source, target):
    row = project(source)
    with pytest.raises(lifecycle.InvalidTransition):
        lifecycle.transition(row, target)
    assert row.status == source
    assert db.session.scalar(db.select(db.func.count(ProjectEvent.id)).filter_by(project_id=row.id)) == 0


def test_going_live_sets_the_campaign_window(app, make_project):
    slug = make_project(status="live", duration_days=10)
    with app.app_context():
        row = db.session.scalar(db.select(Project).filter_by(slug=slug))
        assert row.end_at - row.launch_at == timedelta(days=10)
        assert lifecycle.accepts_pledges(row)


def test_guards_refuse_early_launch_and_early_closing(project):
    row, live = project(S.APPROVED), project(S.LIVE)
    row.launch_at = utcnow() + timedelta(hours=1)
    with pytest.raises(lifecycle.GuardFailed):
        lifecycle.transition(row, S.LIVE)
    live.end_at = utcnow() + timedelta(days=1)
    with pytest.raises(lifecycle.GuardFailed):
        lifecycle.transition(live, S.SUCCESSFUL)


def test_a_live_project_past_its_end_accepts_nothing_before_closing(project):
    row = project(S.LIVE)
    assert row.status == S.LIVE and row.end_at < utcnow()
    assert not lifecycle.accepts_pledges(row)
    row.end_at = utcnow() + timedelta(minutes=1)
    assert lifecycle.accepts_pledges(row)
    assert not lifecycle.accepts_pledges(row, now=row.end_at)
