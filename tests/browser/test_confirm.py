"""Destructive actions ask first, on a 360 px phone with JS on and off: the question swaps in place with htmx and is
a page of its own without; "返回" leaves everything as it was; a reason others read cannot be empty."""
import pytest

from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, Project, ProjectStatus, SandboxTrade
from tests.conftest import log_in, wait_for

pytestmark = pytest.mark.browser


def mark_document(page):
    """With JS, remember this document: an htmx swap keeps the mark, a page load loses it."""
    if page.js_enabled:
        page.evaluate("window.__sameDocument = true")


def swapped_in_place(page):
    return not page.js_enabled or page.evaluate("window.__sameDocument === true")


def assert_tappable(*locators):
    for locator in locators:
        box = locator.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, (locator, box)


def status_of(app, model, **filters):
    with app.app_context():
        value = db.session.scalar(db.select(model.status).filter_by(**filters))
        db.session.remove()
        return value


def test_a_backer_thinks_twice_then_cancels_a_paid_pledge(page, app, live_server, make_project, make_user):
    backer = make_user(email="twice@example.com")
    make_project(status="live", title="手工皮具", tiers=[dict(title="钱包", price_fen=128_00, quantity_limit=10)],
                 paid=[(backer, 128_00, 0)])
    with app.app_context():
        pledge = db.session.scalar(db.select(Pledge))
        db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no="T128", total_fen=128_00,
                                    app_id=app.config["ALIPAY_APP_ID"], subject="手工皮具", status="TRADE_SUCCESS",
                                    channel="wap"))
        db.session.commit()
        pledge_id = pledge.id
    log_in(page, "twice@example.com")
    page.goto(f"/me/pledges/{pledge_id}")
    mark_document(page)
    page.get_by_role("button", name="取消这笔支持").click()
    page.get_by_text("取消后，已支付的 ¥128.00 将原路退回。").wait_for()
    assert swapped_in_place(page) and page.url.endswith("/cancel") == (not page.js_enabled)
    confirm, back = page.get_by_role("button", name="确认取消"), page.get_by_role("link", name="返回")
    assert_tappable(confirm, back)
    assert status_of(app, Pledge, id=pledge_id) == PledgeStatus.PAID, "asking cancels nothing"

    back.click()
    page.get_by_role("button", name="取消这笔支持").wait_for()
    assert status_of(app, Pledge, id=pledge_id) == PledgeStatus.PAID

    page.get_by_role("button", name="取消这笔支持").click()
    page.get_by_role("button", name="确认取消").click()
    page.get_by_text("已取消支持，已付款项将全额退还。").wait_for()
    assert page.url.endswith(f"/me/pledges/{pledge_id}")
    wait_for(lambda: status_of(app, Pledge, id=pledge_id) == PledgeStatus.REFUNDED)


def test_a_creator_cancels_a_live_campaign_after_reading_what_happens(page, app, live_server, make_project, make_user):
    creator = make_user(email="stopper@example.com", roles=["creator"])
    slug = make_project(status="live", title="停产的耳机", creator=creator,
                        paid=[(make_user(), 99_00, 0), (make_user(), 199_00, 0)])
    log_in(page, "stopper@example.com")
    page.goto("/me/projects")
    mark_document(page)
    page.locator("summary", has_text="取消众筹").click()
    page.get_by_label("为什么要取消？所有支持者都会全额退款，并看到你的原因。").fill("核心零件停产")
    page.get_by_role("button", name="取消众筹").click()
    page.get_by_text("将全额退款给 2 位支持者，共 ¥298.00。").wait_for()
    assert swapped_in_place(page)
    assert page.get_by_label("原因（支持者会看到）").input_value() == "核心零件停产", "the reason came along"
    assert_tappable(page.get_by_role("button", name="确认取消众筹"), page.get_by_role("link", name="返回"))
    assert status_of(app, Project, slug=slug) == ProjectStatus.LIVE

    page.get_by_role("button", name="确认取消众筹").click()
    page.get_by_text("众筹已取消，正在为 2 笔支持退款。").wait_for()
    assert page.url.endswith(f"/projects/{slug}")
    assert status_of(app, Project, slug=slug) == ProjectStatus.CANCELLED


def test_a_moderator_rejects_with_an_empty_then_a_real_reason(page, app, live_server, make_project, make_user):
    slug = make_project(status="in_review", title="保本理财手环")
    make_user(email="strict@example.com", roles=["moderator"])
    log_in(page, "strict@example.com")
    page.goto(f"/moderation/projects/{slug}")
    mark_document(page)
    page.get_by_role("button", name="驳回", exact=True).click()
    error = page.locator("#reason-error")
    error.wait_for()
    assert error.inner_text() == "请填写原因，发起人会看到。"
    assert swapped_in_place(page)
    assert status_of(app, Project, slug=slug) == ProjectStatus.IN_REVIEW, "no reason, nothing done"

    page.get_by_label("驳回原因（发起人会看到）").fill("   ")
    page.evaluate("document.getElementById('reason-error').dataset.seen = '1'")
    page.get_by_role("button", name="确认驳回").click()
    page.locator("#reason-error:not([data-seen])").wait_for()  # the answer to this POST, not the last one
    assert status_of(app, Project, slug=slug) == ProjectStatus.IN_REVIEW, "whitespace is no reason either"

    page.get_by_label("驳回原因（发起人会看到）").fill("承诺保本收益，属于违规金融宣传")
    page.get_by_text("项目将被永久驳回，不能再修改或重新提交。").wait_for()
    assert_tappable(page.get_by_role("button", name="确认驳回"), page.get_by_role("link", name="返回"))
    page.get_by_role("button", name="确认驳回").click()
    page.get_by_text("已驳回。").wait_for()
    assert status_of(app, Project, slug=slug) == ProjectStatus.REJECTED
