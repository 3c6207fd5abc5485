"""A reason others will read is required by the domain itself, whoever calls it: blank means nothing is done."""
import pytest

from crowdfund import accountability, closing, review
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import AuditEntry, Notification, Project, ProjectStatus, Refund, User

BLANKS = ["", "   ", "\n\t ", None]


def cancel(project, moderator, reason):
    closing.cancel(project, moderator, reason)


def blacklist(project, moderator, reason):
    accountability.blacklist(db.session.get(User, project.creator_id), moderator, reason)


def reject(project, moderator, reason):
    review.reject(project, moderator, reason)


@pytest.mark.parametrize("reason", BLANKS)
@pytest.mark.parametrize("action, status", [(cancel, "live"), (blacklist, "live"), (reject, "in_review")])
def test_a_reason_others_read_is_required(app, make_project, make_user, action, status, reason):
    """Cancelling a campaign (backers read it), blacklisting, rejecting (the creator reads it)."""
    backer = make_user()
    slug = make_project(status=status, paid=[(backer, 99_00, 0)] if status == "live" else ())
    moderator_id = make_user(roles=["moderator"])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        with pytest.raises(RuleError) as refused:
            action(project, db.session.get(User, moderator_id), reason)
        assert refused.value.code == "reason"
        db.session.rollback()
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        assert project.status == ProjectStatus(status) and project.creator.blacklisted_at is None
        assert db.session.scalar(db.select(db.func.count(AuditEntry.id)).where(AuditEntry.action != "user.roles")) == 0
        assert db.session.scalar(db.select(db.func.count(Notification.id))) == 0
        assert db.session.scalar(db.select(db.func.count(Refund.id))) == 0


def test_what_cancelling_would_refund(app, make_project, make_user):
    first, second = make_user(), make_user()
    slug = make_project(status="live", paid=[(first, 99_00, 0), (second, 20_00, None), (second, 5_00, None)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        assert closing.refunds_on_cancel(project) == (2, 124_00)
        assert closing.refunds_on_cancel(db.session.scalar(db.select(Project).filter_by(
            slug=make_project(status="live")))) == (0, 0)
