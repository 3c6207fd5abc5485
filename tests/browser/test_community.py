"""Community journeys on a 360 px phone, JS on and off: questions answered inline (by the creator, and by a
moderator from the queue), the asker told in-app and by e-mail, an update reaching a follower, a private message."""
import email
from email import policy

import pytest

from crowdfund.extensions import db
from crowdfund.models import Notification
from tests.conftest import another_phone, log_in, wait_for

pytestmark = pytest.mark.browser


def mail_to(smtp_server, address):
    """The parsed messages that arrived for `address`."""
    return [email.message_from_bytes(envelope.content, policy=policy.default)
            for envelope in smtp_server.inbox.envelopes if address in envelope.rcpt_tos]


@pytest.fixture
def mail(app, smtp_server):
    """Send notification e-mail to a real local SMTP server."""
    app.config.update(MAIL_ENABLED=True, MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port)
    return smtp_server


def test_an_update_reaches_a_follower(page, browser, app, live_server, make_project, make_user, mail):
    creator = make_user(email="maker@example.com", display_name="造物者", roles=["creator"])
    make_user(email="fan@example.com", display_name="关注者")
    slug = make_project(status="live", title="会发动态的项目", creator=creator)

    log_in(page, "fan@example.com")
    page.goto(f"/projects/{slug}")
    page.locator("#follow_box").get_by_role("button", name="关注").click()
    page.locator("#follow_box").get_by_role("button", name="已关注").wait_for()

    phone, maker = another_phone(browser, page, live_server)
    log_in(maker, "maker@example.com")
    maker.goto(f"/projects/{slug}")
    maker.get_by_role("link", name="发布动态").first.click()
    maker.get_by_label("标题").fill("样机完成")
    maker.get_by_label("动态内容").fill("第一台**样机**已经组装完成。")
    maker.get_by_role("button", name="发布动态").click()
    maker.get_by_role("heading", name="样机完成").wait_for()
    phone.close()

    page.goto("/")
    assert page.locator("#notification-badge").inner_text() == "1"
    page.get_by_role("link", name="通知").first.click()
    page.get_by_role("link", name="“会发动态的项目”发布了项目动态：样机完成").click()
    page.get_by_role("heading", name="样机完成").wait_for()
    assert "第一台样机已经组装完成。" in page.locator("main").inner_text()

    arrived = wait_for(lambda: mail_to(mail, "fan@example.com"))
    assert len(arrived) == 1 and arrived[0]["Subject"] == "“会发动态的项目”发布了项目动态：样机完成"
    assert f"/projects/{slug}/updates/" in arrived[0].get_body(("plain",)).get_content()


def test_a_backer_and_the_creator_exchange_private_messages(page, browser, app, live_server, make_project, make_user):
    creator = make_user(email="maker@example.com", display_name="造物者", roles=["creator"])
    backer = make_user(email="buyer@example.com", display_name="支持者小王")
    slug = make_project(status="live", title="私信项目", creator=creator, paid=[(backer, 99_00, 0)])

    log_in(page, "buyer@example.com")
    page.goto(f"/projects/{slug}")
    page.get_by_role("link", name="私信发起人").click()
    page.get_by_label("私信内容").fill("请问可以开发票吗？")
    page.get_by_role("button", name="发送").click()
    page.get_by_text("请问可以开发票吗？").wait_for()

    phone, maker = another_phone(browser, page, live_server)
    log_in(maker, "maker@example.com")
    assert maker.locator("#message-badge").inner_text() == "1"
    maker.get_by_role("link", name="私信").first.click()
    maker.get_by_role("link", name="支持者小王").first.click()
    maker.get_by_text("请问可以开发票吗？").wait_for()
    maker.get_by_label("私信内容").fill("可以，发货时随附。")
    maker.get_by_role("button", name="发送").click()
    maker.get_by_text("可以，发货时随附。").wait_for()
    phone.close()

    page.goto("/messages")
    page.get_by_role("link", name="造物者").first.click()
    page.get_by_text("可以，发货时随附。").wait_for()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Notification.id))
                                 .where(Notification.kind == "message_received")) == 2


def ask(page, slug, text):
    """A signed-in person asks the creator a question on the project page."""
    page.goto(f"/projects/{slug}")
    form = page.locator("#comment_form")
    form.get_by_label("你的评论或问题", exact=True).fill(text)
    form.get_by_label("这是向发起人提的问题", exact=True).check()
    form.get_by_role("button", name="发表", exact=True).click()
    return page.locator("#comment-list > li", has_text=text)


def test_a_question_is_answered_inline_and_the_asker_hears_of_it(page, browser, app, live_server, make_project,
                                                                  make_user, mail):
    creator = make_user(email="maker@example.com", display_name="造物者", roles=["creator"])
    backer = make_user(email="asker@example.com", display_name="提问者")
    slug = make_project(status="live", title="有问必答", creator=creator, paid=[(backer, 99_00, 0)])

    log_in(page, "asker@example.com")
    question = ask(page, slug, "电池能用多久？")
    question.wait_for()
    if page.js_enabled:
        assert page.url.endswith(f"/projects/{slug}"), "htmx added the question without a reload"

    phone, maker = another_phone(browser, page, live_server)
    log_in(maker, "maker@example.com")
    maker.goto(f"/projects/{slug}")
    block = maker.locator("#comment-list > li", has_text="电池能用多久？")
    block.get_by_role("link", name="回复", exact=True).first.click()
    if page.js_enabled:
        assert maker.url.endswith(f"/projects/{slug}"), "the reply form opened in place"
    maker.get_by_label("你的回答", exact=True).fill("正常使用大约 12 小时。")
    maker.get_by_role("button", name="发表回复", exact=True).click()
    answered = maker.locator("#comment-list > li", has_text="电池能用多久？")
    answered.get_by_text("正常使用大约 12 小时。").wait_for()
    assert "发起人回复" in answered.inner_text() and "已回答" in answered.inner_text()
    phone.close()

    page.goto("/")
    assert page.locator("#notification-badge").inner_text() == "1"
    page.get_by_role("link", name="通知").first.click()
    page.get_by_role("link", name="你对“有问必答”的提问已有回复。").click()
    page.get_by_text("正常使用大约 12 小时。").wait_for()

    arrived = wait_for(lambda: mail_to(mail, "asker@example.com"))
    assert len(arrived) == 1 and arrived[0]["Subject"] == "你对“有问必答”的提问已有回复。"
    assert arrived[0]["List-Unsubscribe"].startswith(f"<{live_server.url}/unsubscribe/")
    assert f"{live_server.url}/comments/" in arrived[0].get_body(("plain",)).get_content()
    creator_mail = wait_for(lambda: mail_to(mail, "maker@example.com"))
    assert creator_mail[0]["Subject"] == "提问者 对“有问必答”提了一个问题。"


def test_a_moderator_answers_from_the_queue(page, browser, app, live_server, make_project, make_user):
    make_user(email="mod@example.com", display_name="审核员", roles=["moderator"])
    make_user(email="curious@example.com", display_name="好奇者")
    slug = make_project(status="live", title="等待回答")

    phone, asker = another_phone(browser, page, live_server)
    log_in(asker, "curious@example.com")
    ask(asker, slug, "支持开发票吗？").wait_for()

    log_in(page, "mod@example.com")
    page.goto("/moderation/")
    page.get_by_role("link", name="未回答的问题").click()
    row = page.locator("li, tr", has_text="支持开发票吗？").last
    row.get_by_role("link", name="回复", exact=True).click()
    page.get_by_label("你的回答", exact=True).fill("支持，下单后联系客服。")
    page.get_by_role("button", name="发表回复", exact=True).click()
    if page.js_enabled:  # the row is swapped in place, answered; it leaves the queue on the next visit
        page.locator("li", has_text="支持开发票吗？").get_by_text("支持，下单后联系客服。").wait_for()
        page.goto("/moderation/questions")
    page.get_by_text("每个问题都有回答了。").wait_for()
    assert page.url.endswith("/moderation/questions")

    asker.goto(f"/projects/{slug}")
    answered = asker.locator("#comment-list > li", has_text="支持开发票吗？")
    assert "官方回复" in answered.inner_text() and "支持，下单后联系客服。" in answered.inner_text()
    phone.close()
