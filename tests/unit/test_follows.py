"""Following and reminders (SPEC 3.4): follow without pledging, 提醒我 48 h before the end, the unpaid-pledge reminder."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from crowdfund import follows
from crowdfund.extensions import db
from crowdfund.models import Notification, Pledge, PledgeStatus, Project, ProjectStatus, User
from crowdfund.models.base import utcnow
from crowdfund.models.community import Follow
from crowdfund.queueing import enqueue
from tests.conftest import wait_for
from tests.web.test_discovery import count_queries


def load(slug):
    return db.session.scalar(select(Project).filter_by(slug=slug))


def told(key):
    return sorted(db.session.scalars(select(Notification.user_id).where(Notification.key == key)))


def test_follow_remind_and_stop(app, make_project, make_user):
    fan_id = make_user()
    slug = make_project(status="live")
    with app.app_context():
        project, fan = load(slug), db.session.get(User, fan_id)
        assert follows.state(project, fan) == follows.FollowState(False, False, False, False, True)
        follows.follow(project, fan)
        follows.follow(project, fan)  # again: still one row
        assert follows.state(project, fan).following and not follows.state(project, fan).reminding
        follows.follow(project, fan, remind=True)
        assert follows.state(project, fan).reminding, "提醒我 implies following"
        follows.stop_reminder(project, fan)
        assert follows.state(project, fan) == follows.FollowState(True, False, False, False, True)
        follows.unfollow(project, fan)
        assert not follows.state(project, fan).following
        follows.follow(project, fan, remind=True)
        assert [(f.project_id, p.slug) for f, p in follows.followed_by(fan)] == [(project.id, slug)]
        assert db.session.scalar(select(func.count()).select_from(Follow)) == 1


def test_what_cannot_be_followed(app, make_project, make_user):
    fan_id = make_user()
    draft, live = make_project(status="draft"), make_project(status="live")
    with app.app_context():
        fan = db.session.get(User, fan_id)
        with pytest.raises(follows.FollowError) as refused:
            follows.follow(load(draft), fan)
        assert refused.value.code == "not_public"
        project = load(live)
        with pytest.raises(follows.FollowError) as own:
            follows.follow(project, db.session.get(User, project.creator_id))
        assert own.value.code == "own"
        with pytest.raises(follows.FollowError) as ended:
            follows.follow(project, fan, remind=True, now=project.end_at + timedelta(seconds=1))
        assert ended.value.code == "ended"
        assert db.session.scalar(select(func.count()).select_from(Follow)) == 0
        follows.follow(project, fan, now=project.end_at + timedelta(seconds=1))  # following an ended one is fine
        assert not follows.state(project, fan, now=project.end_at + timedelta(seconds=1)).can_remind


def test_state_is_one_query_and_knows_paid_backers(app, make_project, make_user):
    backer_id, pending_id = make_user(), make_user()
    slug = make_project(status="live", paid=[(backer_id, 99_00, 0)])
    with app.app_context():
        project = load(slug)
        db.session.add(Pledge(project_id=project.id, backer_id=pending_id, amount_fen=99_00,
                              status=PledgeStatus.PENDING))
        db.session.commit()
        backer, pending = db.session.get(User, backer_id), db.session.get(User, pending_id)
        db.session.refresh(project)  # loaded, as the project page has it, before counting
        with count_queries(app) as statements:
            state = follows.state(project, backer)
        assert len(statements) == 1 and state.is_backer and not state.following
        assert not follows.state(project, pending).is_backer, "an unpaid pledge is not backing yet"


def ending_setup(app, make_project, make_user, hours_left=47):
    """A live project ending in `hours_left` hours with a follower who asked for the reminder and one who did not."""
    asked, silent = make_user(), make_user()
    slug = make_project(status="live")
    with app.app_context():
        project = load(slug)
        project.end_at = utcnow() + timedelta(hours=hours_left)
        db.session.add_all([Follow(user_id=asked, project_id=project.id, remind_before_end=True),
                            Follow(user_id=silent, project_id=project.id)])
        db.session.commit()
        return project.id, project.end_at, asked, silent


def test_ending_reminder_once_48_hours_before(app, make_project, make_user):
    project_id, end_at, asked, silent = ending_setup(app, make_project, make_user)
    with app.app_context():
        key = f"ending:{project_id}"
        assert follows.remind_ending(now=end_at - timedelta(hours=49)) == 0, "too early"
        assert follows.remind_ending(now=end_at - timedelta(hours=47)) == 1
        assert told(key) == [asked]
        assert follows.remind_ending(now=end_at - timedelta(hours=46, minutes=50)) == 0, "once, however often it runs"
        late = User(email="late@example.com", display_name="Late", password_hash="!", terms_version="1",
                    privacy_version="1")
        db.session.add(late)
        db.session.flush()
        db.session.add(Follow(user_id=late.id, project_id=project_id, remind_before_end=True))
        db.session.commit()
        assert follows.remind_ending(now=end_at - timedelta(hours=2)) == 1, "who asks later is told at the next run"
        assert follows.remind_ending(now=end_at + timedelta(minutes=1)) == 0, "nothing after the end"
        rows = db.session.scalars(select(Notification).where(Notification.key == key)).all()
        assert sorted(n.user_id for n in rows) == sorted([asked, late.id]) and silent not in told(key)
        project = db.session.get(Project, project_id)
        assert {(n.kind, n.link, n.project_id, n.params["title"]) for n in rows} == {
            ("project_ending", f"/projects/{project.slug}", project_id, project.title)}
        assert {n.user_id: n.params["hours"] for n in rows} == {asked: 47, late.id: 2}, "the hours actually left"


def test_ending_reminder_only_for_live_projects(app, make_project, make_user):
    project_id, end_at, asked, _ = ending_setup(app, make_project, make_user)
    with app.app_context():
        db.session.get(Project, project_id).status = ProjectStatus.SUSPENDED
        db.session.commit()
        assert follows.remind_ending(now=end_at - timedelta(hours=1)) == 0


def unpaid_setup(app, make_project, make_user, expires_in):
    backer = make_user()
    slug = make_project(status="live")
    with app.app_context():
        project = load(slug)
        pledge = Pledge(project_id=project.id, backer_id=backer, amount_fen=99_00, status=PledgeStatus.PENDING,
                        expires_at=utcnow() + expires_in)
        db.session.add(pledge)
        db.session.commit()
        return pledge.id, pledge.expires_at, backer, project.title


def test_unpaid_pledge_reminded_once_before_the_hold_expires(app, make_project, make_user):
    pledge_id, expires_at, backer, title = unpaid_setup(app, make_project, make_user, timedelta(minutes=30))
    with app.app_context():
        key = f"unpaid:{pledge_id}"
        assert follows.remind_unpaid(now=expires_at - timedelta(minutes=11)) == 0, "not yet"
        assert follows.remind_unpaid(now=expires_at - timedelta(minutes=9)) == 1
        assert follows.remind_unpaid(now=expires_at - timedelta(minutes=8)) == 0, "one reminder per pledge"
        assert follows.remind_unpaid(now=expires_at - timedelta(minutes=1)) == 0
        (notice,) = db.session.scalars(select(Notification).where(Notification.key == key)).all()
        shanghai = expires_at.astimezone(timezone(timedelta(hours=8)))
        assert (notice.user_id, notice.kind, notice.link) == (backer, "pledge_unpaid",
                                                              f"/me/pledges/{pledge_id}#payment_status")
        assert notice.params == {"title": title, "expires": shanghai.strftime("%H:%M")}


def test_no_unpaid_reminder_for_paid_or_expired_pledges(app, make_project, make_user):
    pledge_id, expires_at, _, _ = unpaid_setup(app, make_project, make_user, timedelta(minutes=5))
    with app.app_context():
        assert follows.remind_unpaid(now=expires_at + timedelta(seconds=1)) == 0, "the hold is over"
        db.session.get(Pledge, pledge_id).status = PledgeStatus.PAID
        db.session.commit()
        assert follows.remind_unpaid(now=expires_at - timedelta(minutes=1)) == 0


def test_reminders_run_in_a_real_worker(redis_app, rq_worker, make_project, make_user):
    project_id, end_at, asked, _ = ending_setup(redis_app, make_project, make_user, hours_left=30)
    pledge_id, expires_at, backer, _ = unpaid_setup(redis_app, make_project, make_user, timedelta(minutes=5))
    with redis_app.app_context():
        jobs = [enqueue(follows.remind_ending, queue="notifications"),
                enqueue(follows.remind_unpaid, queue="notifications"),
                enqueue(follows.remind_ending, datetime.now(timezone.utc), queue="notifications")]
    for job in jobs:
        wait_for(lambda job=job: job.get_status(refresh=True) == "finished", timeout=30)
    assert [job.return_value() for job in jobs] == [1, 1, 0]
    with redis_app.app_context():
        assert told(f"ending:{project_id}") == [asked]
        assert told(f"unpaid:{pledge_id}") == [backer]
