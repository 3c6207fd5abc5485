"""Project updates (SPEC 3.2): posting, edit history, who reads backers-only updates, the idempotent fan-out."""
import secrets
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, literal, select

from crowdfund import follows, updates
from crowdfund.extensions import db
from crowdfund.models import Notification, Pledge, PledgeStatus, Project, User
from crowdfund.models.base import UTCDateTime, utcnow
from crowdfund.models.community import Follow, ProjectUpdate
from crowdfund.queueing import PERIODIC_JOBS, enqueue
from tests.conftest import wait_for


def load(slug):
    project = db.session.scalar(select(Project).filter_by(slug=slug))
    return project, db.session.get(User, project.creator_id)


def notified(update_id):
    return db.session.scalar(select(func.count(Notification.id)).where(Notification.key == f"update:{update_id}"))


def fanned_out_at(update_id):
    """Read from the database (the inline job ran in its own session)."""
    return db.session.scalar(select(ProjectUpdate.fanned_out_at).where(ProjectUpdate.id == update_id))


def pending_pledge(project_id, backer_id, expires_at=None):
    db.session.add(Pledge(project_id=project_id, backer_id=backer_id, amount_fen=10_00, status=PledgeStatus.PENDING,
                          expires_at=expires_at or utcnow() + timedelta(minutes=30)))


def test_creator_posts_sanitized_update_with_image(app, make_project, make_user):
    slug = make_project(status="live")
    stranger = make_user()
    with app.app_context():
        project, creator = load(slug)
        body = updates.with_image("第一批样机到了 **顺利**\n\n<script>alert(1)</script>"
                                  "<img src=\"https://tracker.example/x.png\">", "abc-1280.jpg")
        update = updates.post(project, creator, "  样机到了  ", body)
        assert update.title == "样机到了"
        assert "<strong>顺利</strong>" in update.body_html and "<script>" not in update.body_html
        assert '<img alt="" src="/media/abc-1280.jpg" loading="lazy" decoding="async">' in update.body_html
        assert "tracker.example" not in update.body_html, "only our own uploads are shown"
        with pytest.raises(updates.UpdateError) as refused:
            updates.post(project, db.session.get(User, stranger), "x", "y")
        assert refused.value.code == "owner"
        for title, body, code in [("", "正文", "title"), ("x" * 101, "正文", "title"), ("标题", "   ", "body")]:
            with pytest.raises(updates.UpdateError) as invalid:
                updates.post(project, creator, title, body)
            assert invalid.value.code == code
        assert db.session.scalar(select(func.count(ProjectUpdate.id))) == 1


@pytest.mark.parametrize("status", ["draft", "submitted", "approved"])
def test_no_updates_before_launch(app, make_project, status):
    slug = make_project(status=status)
    with app.app_context():
        project, creator = load(slug)
        with pytest.raises(updates.UpdateError) as refused:
            updates.post(project, creator, "标题", "正文")
        assert refused.value.code == "status"
        assert not updates.reader(project, creator).can_post


def test_edit_keeps_history_and_moderators_may_edit(app, make_project, make_user):
    slug = make_project(status="live")
    moderator_id, stranger_id = make_user(roles=["moderator"]), make_user()
    with app.app_context():
        project, creator = load(slug)
        t0 = utcnow()
        update = updates.post(project, creator, "第一版", "原来的内容", now=t0)
        updates.edit(update, creator, "第一版", "原来的内容", False, now=t0 + timedelta(minutes=1))
        assert update.revisions == [] and update.edited_at is None, "saving without a change is no edit"
        updates.edit(update, creator, "第二版", "改过的内容", False, now=t0 + timedelta(minutes=2))
        updates.edit(update, db.session.get(User, moderator_id), "第三版", "审核员删去了电话号码", True,
                     now=t0 + timedelta(minutes=3))
        with pytest.raises(updates.UpdateError):
            updates.edit(update, db.session.get(User, stranger_id), "改", "改", False)
        db.session.rollback()
        update = db.session.get(ProjectUpdate, update.id)
        assert (update.title, update.backers_only, update.edited_at) == ("第三版", True, t0 + timedelta(minutes=3))
        assert "审核员删去了电话号码" in update.body_html
        assert [(r.title, r.body, r.editor_id) for r in update.revisions] == [
            ("第一版", "原来的内容", creator.id), ("第二版", "改过的内容", moderator_id)]


def test_backers_only_is_read_by_paid_backers_creator_and_moderators(app, make_project, make_user):
    backer, pending, follower, moderator, stranger = (make_user(), make_user(), make_user(),
                                                      make_user(roles=["moderator"]), make_user())
    slug = make_project(status="live", paid=[(backer, 99_00, 0)])
    with app.app_context():
        project, creator = load(slug)
        pending_pledge(project.id, pending)
        db.session.add(Follow(user_id=follower, project_id=project.id))
        db.session.commit()
        can_read = {name: updates.reader(project, user).can_read_all for name, user in [
            ("backer", db.session.get(User, backer)), ("pending", db.session.get(User, pending)),
            ("follower", db.session.get(User, follower)), ("moderator", db.session.get(User, moderator)),
            ("stranger", db.session.get(User, stranger)), ("creator", creator)]}
        assert can_read == {"backer": True, "pending": False, "follower": False, "moderator": True,
                            "stranger": False, "creator": True}


def test_fan_out_reaches_followers_and_paid_backers_once_each(app, make_project, make_user):
    both, backer, follower, pending, stranger = (make_user(), make_user(), make_user(), make_user(), make_user())
    slug = make_project(status="live", paid=[(both, 99_00, 0), (backer, 99_00, 0), (backer, 10_00, None)])
    with app.app_context():
        project, creator = load(slug)
        pending_pledge(project.id, pending)
        db.session.add_all([Follow(user_id=both, project_id=project.id),
                            Follow(user_id=follower, project_id=project.id)])
        db.session.commit()
        public = updates.post(project, creator, "公开动态", "大家好")  # fanned out inline (no Redis)
        rows = db.session.scalars(select(Notification).where(Notification.key == f"update:{public.id}")).all()
        assert sorted(n.user_id for n in rows) == sorted([both, backer, follower])
        assert {(n.kind, n.link, n.project_id) for n in rows} == {
            ("update_posted", f"/projects/{slug}/updates/{public.id}", project.id)}
        assert rows[0].params == {"title": project.title, "update": "公开动态"}
        assert fanned_out_at(public.id) is not None

        secret = updates.post(project, creator, "仅限支持者", "内部消息", backers_only=True)
        told = db.session.scalars(select(Notification.user_id).where(Notification.key == f"update:{secret.id}")).all()
        assert sorted(told) == sorted([both, backer]), "followers who never backed cannot read it: not told"
        assert stranger not in told and creator.id not in told

        updates.edit(secret, creator, "仅限支持者", "内部消息", backers_only=False)
        told = db.session.scalars(select(Notification.user_id).where(Notification.key == f"update:{secret.id}")).all()
        assert sorted(told) == sorted([both, backer, follower]), "made public: followers hear of it, nobody twice"


def bulk_followers(project_id, count):
    """`count` accounts following the project, inserted in bulk (registering 10,000 accounts would take minutes)."""
    now, tag = utcnow(), uuid.uuid4().hex[:8]
    db.session.execute(insert(User), [
        dict(email=f"f{i}-{tag}@example.com", display_name=f"关注者{i}", password_hash="!", locale=None,
             session_token=secrets.token_hex(16), terms_version="1", privacy_version="1", agreed_at=now,
             created_at=now) for i in range(count)])
    db.session.execute(insert(Follow).from_select(
        ["user_id", "project_id", "remind_before_end", "created_at"],
        select(User.id, literal(project_id), literal(False), literal(now, UTCDateTime()))
        .where(User.email.like(f"%-{tag}@example.com"))))
    db.session.commit()


def test_fan_out_to_10500_followers_is_exact_and_idempotent(app, make_project):
    slug = make_project(status="live")
    with app.app_context():
        project, creator = load(slug)
        bulk_followers(project.id, 10_500)
        update = ProjectUpdate(project_id=project.id, author_id=creator.id, title="万人动态", body="x", body_html="x")
        db.session.add(update)
        db.session.commit()

        assert updates.send_notifications(update.id) == 10_500
        assert notified(update.id) == 10_500
        assert updates.send_notifications(update.id) == 0, "a re-run adds nothing"
        assert notified(update.id) == 10_500

        db.session.execute(db.delete(Notification))
        update.fanned_out_at = None
        db.session.commit()
        assert updates.send_notifications(update.id, max_batches=1) == 1000, "killed after the first batch"
        assert notified(update.id) == 1000 and fanned_out_at(update.id) is None
        assert updates.resume_fan_outs(now=utcnow() + timedelta(minutes=11)) == 1, "the catch-up job finishes it"
        assert notified(update.id) == 10_500
        assert fanned_out_at(update.id) is not None
        assert db.session.scalar(select(func.count(func.distinct(Notification.user_id)))) == 10_500


def test_fan_out_runs_in_a_real_worker(redis_app, rq_worker, make_project, make_user):
    fans = [make_user() for _ in range(3)]
    slug = make_project(status="live", paid=[(fans[0], 99_00, 0)])
    with redis_app.app_context():
        project, creator = load(slug)
        db.session.add_all([Follow(user_id=fan, project_id=project.id) for fan in fans])
        db.session.commit()
        update = updates.post(project, creator, "工厂开工", "开工了")  # enqueued on the notifications queue
        update_id = update.id
        assert notified(update_id) == 0, "nothing is sent in the request"

    def done():
        with redis_app.app_context():
            return fanned_out_at(update_id) is not None and notified(update_id) == 3

    wait_for(done, timeout=30)
    with redis_app.app_context():
        job = enqueue(updates.send_notifications, update_id, queue="notifications")
    wait_for(lambda: job.get_status(refresh=True) == "finished", timeout=30)
    with redis_app.app_context():
        assert notified(update_id) == 3, "a second run through the worker adds nothing"


def test_feed_updated_and_periodic_registration(app, make_project):
    assert {"crowdfund.updates.resume_fan_outs", "crowdfund.follows.remind_ending",
            "crowdfund.follows.remind_unpaid"} <= {job.name for job in PERIODIC_JOBS}
    slug = make_project(status="live")
    with app.app_context():
        project, creator = load(slug)
        assert updates.feed_updated(project, []) == project.updated_at
        t0 = utcnow()
        first = updates.post(project, creator, "一", "一", now=t0)
        second = updates.post(project, creator, "二", "二", now=t0 + timedelta(hours=1))
        updates.edit(first, creator, "一改", "一", False, now=t0 + timedelta(hours=2))
        assert [u.id for u in updates.of_project(project)] == [second.id, first.id]
        assert updates.feed_updated(project, updates.of_project(project)) == t0 + timedelta(hours=2)
        assert follows.state(project, creator).own
