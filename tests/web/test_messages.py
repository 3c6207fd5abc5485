"""Private messages on the web (SPEC 3.3): starting from the project page, replying, blocking, reporting, limits."""
import re

from crowdfund.extensions import db
from crowdfund.models import Notification, Project
from crowdfund.models.community import Follow, Message, MessageThread, Report
from tests.conftest import Browserless


def setup(app, make_project, make_user):
    """A live project, its creator, a backer and a follower; returns (slug, creator email)."""
    backer = make_user(email="backer@example.com", display_name="小李")
    follower = make_user(email="follower@example.com", display_name="小王")
    make_user(email="stranger@example.com", display_name="路人")
    slug = make_project(status="live", title="智能台灯", paid=[(backer, 99_00, 0)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        db.session.add(Follow(user_id=follower, project_id=project.id))
        db.session.commit()
        return slug, project.creator.email


def signed_in(app, email):
    browser = Browserless(app.test_client())
    assert browser.login(email=email).status_code == 303
    return browser


def start_thread(browser, slug, body="请问什么时候发货？"):
    response = browser.post(f"/messages/new?project={slug}", {"body": body}, form_path=f"/messages/new?project={slug}")
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(re.match(r"/messages/(\d+)#message-\d+$", response.headers["Location"]).group(1))


def test_a_backer_messages_the_creator_from_the_project_page_and_the_creator_replies(app, make_project, make_user):
    slug, creator_email = setup(app, make_project, make_user)
    backer = signed_in(app, "backer@example.com")
    page = backer.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'href="/messages/new?project={slug}">私信发起人</a>' in page
    form = backer.client.get(f"/messages/new?project={slug}").get_data(as_text=True)
    assert 'name="body"' in form and "发送" in form

    empty = backer.post(f"/messages/new?project={slug}", {"body": "  "}, form_path=f"/messages/new?project={slug}")
    assert empty.status_code == 422 and "请先填写私信内容" in empty.get_data(as_text=True)
    long = backer.post(f"/messages/new?project={slug}", {"body": "字" * 2001}, htmx=True,
                       form_path=f"/messages/new?project={slug}")
    fragment = long.get_data(as_text=True)
    assert long.status_code == 422 and fragment.lstrip().startswith('<form id="new_message"')
    assert "私信最多 2000 个字" in fragment and "<html" not in fragment

    thread_id = start_thread(backer, slug, "请问什么时候发货？\n<b>急</b>")
    assert backer.client.get(f"/messages/new?project={slug}").headers["Location"].endswith(f"/messages/{thread_id}"), \
        "a second 'Message the creator' goes to the same conversation"
    page = backer.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'href="/messages/{thread_id}">私信发起人</a>' in page

    creator = signed_in(app, creator_email)
    inbox = creator.client.get("/messages").get_data(as_text=True)
    assert 'id="message-badge" class="badge">1</span>' in inbox, "the header shows one unread conversation"
    assert "小李" in inbox and "智能台灯" in inbox and "1 个对话有未读私信" in inbox
    thread = creator.client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert '<p class="pre">请问什么时候发货？\n&lt;b&gt;急&lt;/b&gt;</p>' in thread, "escaped, line breaks kept"
    assert 'id="message-badge" class="badge" hidden>0</span>' in thread, "opening the thread marks it read"

    reply = creator.post(f"/messages/{thread_id}", {"body": "下个月发货"}, form_path=f"/messages/{thread_id}", htmx=True)
    fragment = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "<html" not in fragment
    assert fragment.lstrip().startswith('<section id="reply_area"') and 'name="body"' in fragment
    assert '<ol hx-swap-oob="beforeend:#message_list">' in fragment and "下个月发货" in fragment, \
        "htmx appends the sent message"
    plain = creator.post(f"/messages/{thread_id}", {"body": "谢谢支持"}, form_path=f"/messages/{thread_id}")
    assert plain.status_code == 303 and re.search(rf"/messages/{thread_id}#message-\d+$", plain.headers["Location"])
    refused = creator.post(f"/messages/{thread_id}", {"body": ""}, form_path=f"/messages/{thread_id}", htmx=True)
    assert refused.status_code == 422 and "请先填写私信内容" in refused.get_data(as_text=True)
    refused = creator.post(f"/messages/{thread_id}", {"body": "长" * 2001}, form_path=f"/messages/{thread_id}")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<html" in page and "私信最多 2000 个字" in page and "下个月发货" in page

    with app.app_context():
        bodies = db.session.scalars(db.select(Message.body).order_by(Message.id)).all()
        assert bodies == ["请问什么时候发货？\n<b>急</b>", "下个月发货", "谢谢支持"]
        notices = db.session.scalars(db.select(Notification.link).filter_by(kind="message_received")).all()
        assert notices == [f"/messages/{thread_id}"] * 3
    inbox = backer.client.get("/messages").get_data(as_text=True)
    assert 'id="message-badge" class="badge">1</span>' in inbox and '<span class="badge">2<' in inbox


def test_strangers_and_the_creator_get_no_way_to_write(app, make_project, make_user):
    slug, creator_email = setup(app, make_project, make_user)
    stranger = signed_in(app, "stranger@example.com")
    assert "私信发起人" not in stranger.client.get(f"/projects/{slug}").get_data(as_text=True)
    refused = stranger.client.get(f"/messages/new?project={slug}")
    assert refused.status_code == 403 and "支持、关注或评论过该项目后" in refused.get_data(as_text=True)
    token = stranger.token("/messages")
    forged = stranger.client.post(f"/messages/new?project={slug}", data={"csrf_token": token, "body": "广告"})
    assert forged.status_code == 403
    creator = signed_in(app, creator_email)
    assert "私信发起人" not in creator.client.get(f"/projects/{slug}").get_data(as_text=True)
    assert creator.client.get(f"/messages/new?project={slug}").status_code == 403
    assert stranger.client.get("/messages/new?project=nope").status_code == 404
    anonymous = app.test_client()
    assert "私信发起人" not in anonymous.get(f"/projects/{slug}").get_data(as_text=True)
    assert anonymous.get("/messages").status_code in (302, 303)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(MessageThread.id))) == 0


def test_someone_elses_thread_is_not_found(app, make_project, make_user):
    slug, _ = setup(app, make_project, make_user)
    thread_id = start_thread(signed_in(app, "backer@example.com"), slug)
    with app.app_context():
        message_id = db.session.scalar(db.select(Message.id))
    follower = signed_in(app, "follower@example.com")
    token = follower.token("/messages")
    assert follower.client.get(f"/messages/{thread_id}").status_code == 404
    for path in (f"/messages/{thread_id}", f"/messages/{thread_id}/block", f"/messages/{thread_id}/unblock",
                 f"/messages/{thread_id}/messages/{message_id}/report", "/messages/99999"):
        assert follower.client.post(path, data={"csrf_token": token, "body": "插话", "reason": "x"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Message.id))) == 1
        assert db.session.scalar(db.select(db.func.count(Report.id))) == 0


def test_every_post_needs_the_csrf_token(app, make_project, make_user):
    slug, _ = setup(app, make_project, make_user)
    backer = signed_in(app, "backer@example.com")
    assert backer.client.post(f"/messages/new?project={slug}", data={"body": "你好"}).status_code == 400
    thread_id = start_thread(backer, slug)
    for path in (f"/messages/{thread_id}", f"/messages/{thread_id}/block"):
        assert backer.client.post(path, data={"body": "你好"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Message.id))) == 1


def test_blocking_and_unblocking(app, make_project, make_user):
    slug, creator_email = setup(app, make_project, make_user)
    backer = signed_in(app, "backer@example.com")
    thread_id = start_thread(backer, slug)
    creator = signed_in(app, creator_email)
    blocked = creator.post(f"/messages/{thread_id}/block", {}, form_path=f"/messages/{thread_id}", htmx=True)
    fragment = blocked.get_data(as_text=True)
    assert blocked.status_code == 200 and fragment.lstrip().startswith('<section id="reply_area"')
    assert "取消屏蔽 小李" in fragment and 'name="body"' not in fragment and "<html" not in fragment

    page = backer.client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "此对话已无法发送私信" in page and 'name="body"' not in page and "屏蔽 " in page
    token = backer.token(f"/messages/{thread_id}")
    refused = backer.client.post(f"/messages/{thread_id}", data={"csrf_token": token, "body": "为什么屏蔽我"})
    assert refused.status_code == 403 and "此对话已无法发送私信" in refused.get_data(as_text=True)
    assert backer.client.post(f"/messages/{thread_id}/unblock", data={"csrf_token": token}).status_code == 303
    assert "此对话已无法发送私信" in backer.client.get(f"/messages/{thread_id}").get_data(as_text=True), \
        "the backer cannot lift the creator's block"

    lifted = creator.post(f"/messages/{thread_id}/unblock", {}, form_path=f"/messages/{thread_id}")
    assert lifted.status_code == 303
    assert "已取消屏蔽" in creator.client.get(lifted.headers["Location"]).get_data(as_text=True)
    assert backer.post(f"/messages/{thread_id}", {"body": "谢谢"}, form_path=f"/messages/{thread_id}").status_code == 303


def test_reporting_a_message(app, make_project, make_user):
    slug, creator_email = setup(app, make_project, make_user)
    backer = signed_in(app, "backer@example.com")
    thread_id = start_thread(backer, slug, "加我微信买便宜货")
    with app.app_context():
        message_id = db.session.scalar(db.select(Message.id))
    path = f"/messages/{thread_id}/messages/{message_id}/report"
    creator = signed_in(app, creator_email)
    page = creator.client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert f'action="{path}"' in page and "举报这条私信" in page and 'name="reason"' in page
    assert "举报这条私信" not in backer.client.get(f"/messages/{thread_id}").get_data(as_text=True), \
        "nobody reports their own message"
    too_long = creator.post(path, {"reason": "长" * 501}, form_path=f"/messages/{thread_id}", htmx=True)
    assert too_long.status_code == 422 and "举报理由不能超过 500 个字" in too_long.get_data(as_text=True)

    reported = creator.post(path, {"reason": "广告"}, form_path=f"/messages/{thread_id}", htmx=True)
    fragment = reported.get_data(as_text=True)
    assert reported.status_code == 200 and fragment.lstrip().startswith(f'<li id="message-{message_id}"')
    assert "已举报" in fragment and "<html" not in fragment and 'name="reason"' not in fragment
    again = creator.post(path, {"reason": "还是广告"}, form_path=f"/messages/{thread_id}")
    assert again.status_code == 303
    assert "你已举报过这条私信" in creator.client.get(again.headers["Location"]).get_data(as_text=True)
    own = backer.post(path, {"reason": "x"}, form_path=f"/messages/{thread_id}")
    assert own.status_code == 403
    with app.app_context():
        rows = db.session.execute(db.select(Report.target_kind, Report.target_id, Report.reason)).all()
        assert rows == [("message", message_id, "广告")]


def test_sending_is_rate_limited_per_account(make_app, make_project, make_user):
    app = make_app(RATELIMIT_MESSAGE="2 per minute")
    slug, creator_email = setup(app, make_project, make_user)
    backer = signed_in(app, "backer@example.com")
    thread_id = start_thread(backer, slug)
    form_path = f"/messages/{thread_id}"
    assert backer.post(form_path, {"body": ""}, form_path=form_path).status_code == 422, "refused input is free"
    assert backer.post(form_path, {"body": "第二条"}, form_path=form_path).status_code == 303
    limited = backer.post(form_path, {"body": "第三条"}, form_path=form_path)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    htmx = backer.post(form_path, {"body": "第三条"}, form_path=form_path, htmx=True)
    assert htmx.status_code == 429 and htmx.headers["HX-Retarget"] == "#messages"
    creator = signed_in(app, creator_email)
    assert creator.post(form_path, {"body": "我还能回复"}, form_path=form_path).status_code == 303, \
        "the limit is per account"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Message.id))) == 3
