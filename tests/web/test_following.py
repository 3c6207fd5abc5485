"""Follow (关注) and 提醒我 in the funding box: plain forms and htmx, login required, My following page."""
from datetime import timedelta

from sqlalchemy import select

from crowdfund import follows, notifications
from crowdfund.extensions import db
from crowdfund.models import Notification, Pledge, PledgeStatus, Project, User
from crowdfund.models.base import utcnow
from crowdfund.models.community import Follow
from tests.conftest import Browserless


def signed_in(app, user_id):
    with app.app_context():
        email = db.session.get(User, user_id).email
    browser = Browserless(app.test_client())
    assert browser.login(email=email).status_code == 303
    return browser


def follow_row(app, slug, user_id):
    with app.app_context():
        project_id = db.session.scalar(select(Project.id).filter_by(slug=slug))
        row = db.session.get(Follow, (user_id, project_id))
        return None if row is None else row.remind_before_end


def test_anonymous_readers_are_sent_to_log_in(app, client, make_project):
    slug = make_project(status="live")
    page = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'href="/login?next=/projects/{slug}"' in page and "登录后关注此项目" in page
    assert 'id="follow_box"' in page
    token = Browserless(client).token(f"/projects/{slug}")
    response = client.post(f"/projects/{slug}/follow", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(Follow.user_id)) is None


def test_follow_and_remind_without_js(app, make_project, make_user):
    fan = make_user()
    slug = make_project(status="live")
    browser = signed_in(app, fan)
    page = browser.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'action="/projects/{slug}/follow"' in page and ">关注</button>" in page and ">提醒我</button>" in page

    done = browser.post(f"/projects/{slug}/follow", {}, form_path=f"/projects/{slug}")
    assert done.status_code == 303 and done.headers["Location"] == f"/projects/{slug}"
    assert follow_row(app, slug, fan) is False
    page = browser.client.get(done.headers["Location"]).get_data(as_text=True)
    assert "已关注此项目" in page and ">已关注</button>" in page and f'action="/projects/{slug}/unfollow"' in page

    assert browser.post(f"/projects/{slug}/remind", {}, form_path=f"/projects/{slug}").status_code == 303
    assert follow_row(app, slug, fan) is True
    page = browser.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert ">已设提醒</button>" in page and f'action="/projects/{slug}/remind/cancel"' in page

    assert browser.post(f"/projects/{slug}/remind/cancel", {}, form_path=f"/projects/{slug}").status_code == 303
    assert follow_row(app, slug, fan) is False
    assert browser.post(f"/projects/{slug}/unfollow", {}, form_path=f"/projects/{slug}").status_code == 303
    assert follow_row(app, slug, fan) is None


def test_remind_me_first_with_htmx(app, make_project, make_user):
    fan = make_user()
    slug = make_project(status="live")
    browser = signed_in(app, fan)
    box = browser.post(f"/projects/{slug}/remind", {}, form_path=f"/projects/{slug}", htmx=True)
    body = box.get_data(as_text=True)
    assert box.status_code == 200 and body.lstrip().startswith('<div id="follow_box"') and "<html" not in body
    assert ">已关注</button>" in body and ">已设提醒</button>" in body and "结束前 48 小时提醒你" in body
    assert follow_row(app, slug, fan) is True, "提醒我 follows too"
    box = browser.post(f"/projects/{slug}/unfollow", {}, form_path=f"/projects/{slug}", htmx=True)
    assert ">关注</button>" in box.get_data(as_text=True) and follow_row(app, slug, fan) is None
    assert "提醒也已取消" in box.get_data(as_text=True), "unfollowing says the reminder went with it"


def test_what_cannot_be_followed(app, make_project, make_user):
    fan = make_user()
    slug, draft = make_project(status="live"), make_project(status="draft")
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        creator_id = project.creator_id
    browser = signed_in(app, fan)
    assert browser.post(f"/projects/{draft}/follow", {}, form_path="/").status_code == 404
    creator = signed_in(app, creator_id)
    assert 'id="follow_box"' in creator.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert ">关注</button>" not in creator.client.get(f"/projects/{slug}").get_data(as_text=True)
    own = creator.post(f"/projects/{slug}/follow", {}, form_path=f"/projects/{slug}", htmx=True)
    assert own.status_code == 422 and "这是你自己的项目" in own.get_data(as_text=True)

    with app.app_context():
        db.session.scalar(select(Project).filter_by(slug=slug)).end_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    ended = browser.post(f"/projects/{slug}/remind", {}, form_path=f"/projects/{slug}")
    assert ended.status_code == 303 and follow_row(app, slug, fan) is None
    assert "项目已结束" in browser.client.get(ended.headers["Location"]).get_data(as_text=True)
    page = browser.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert ">关注</button>" in page and "提醒我</button>" not in page, "nothing to remind of once it has ended"


def test_my_following_page(app, make_project, make_user):
    fan = make_user()
    slug = make_project(status="live", title="会飞的伞")
    browser = signed_in(app, fan)
    assert "你还没有关注任何项目" in browser.client.get("/me/following").get_data(as_text=True)
    browser.post(f"/projects/{slug}/remind", {}, form_path=f"/projects/{slug}")
    page = browser.client.get("/me/following").get_data(as_text=True)
    assert "会飞的伞" in page and "已设提醒" in page
    done = browser.post(f"/projects/{slug}/unfollow", {"next": "/me/following"}, form_path="/me/following")
    assert done.status_code == 303 and done.headers["Location"] == "/me/following"
    elsewhere = browser.post(f"/projects/{slug}/follow", {"next": "https://evil.example/"}, form_path="/me/following")
    assert elsewhere.headers["Location"] == f"/projects/{slug}", "only our own pages as next"


def test_unpaid_reminder_links_back_to_payment(app, make_project, make_user):
    backer = make_user()
    slug = make_project(status="live")
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        pledge = Pledge(project_id=project.id, backer_id=backer, amount_fen=99_00, status=PledgeStatus.PENDING,
                        expires_at=utcnow() + timedelta(minutes=5), out_trade_no=f"T{project.id}remind")
        db.session.add(pledge)
        db.session.commit()
        assert follows.remind_unpaid() == 1
        notice = db.session.scalar(select(Notification).where(Notification.key == f"unpaid:{pledge.id}"))
        with app.test_request_context("/"):
            assert notifications.text(notice) == (f"你对“{project.title}”的支持尚未付款。请在 "
                                                  f"{notice.params['expires']} 前完成支付，否则回报名额将被释放。")
        link = notice.link
    assert link == f"/me/pledges/{pledge.id}#payment_status"
    page = signed_in(app, backer).client.get(link.split("#")[0]).get_data(as_text=True)
    assert 'id="payment_status"' in page and f'action="/me/pledges/{pledge.id}/pay"' in page
