"""A backer redeems points for a coupon and pledges with it through the sandbox cashier (JS on and off): the
cashier asks for the pledge less the coupon, the receipt says so, the creator's project has the full pledge."""
import pytest

from crowdfund import coupons, ledger, points
from crowdfund.extensions import db
from crowdfund.models import Project, User
from tests.browser.test_checkout import fill_new_address, total, wait_for_text
from tests.browser.test_pay import pay_and_wait_for
from tests.conftest import log_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_pledging_with_a_coupon_pays_the_rest(js, browser, redis_app, redis_live_server, start_worker, make_project,
                                              make_user):
    slug = make_project(status="live", title="夜光露营灯",
                        tiers=[dict(title="露营灯一盏", price_fen=129_00, quantity_limit=10, shipping={"mainland": 8_00})])
    backer = make_user(email="phone@example.com", display_name="手机用户")
    with redis_app.app_context():
        points.book(backer, 350, "backing", "seed")
        db.session.commit()
        project_id = db.session.scalar(db.select(Project.id).filter_by(slug=slug))
    start_worker("--no-cron")
    phone = dict(viewport={"width": 360, "height": 740}, locale="zh-CN", user_agent="Android 13 Mobile")
    context = browser.new_context(java_script_enabled=js, base_url=redis_live_server.url, **phone)
    page, errors = context.new_page(), []
    page.on("console", lambda m: m.type == "error" and "422" not in m.text and errors.append(m.text))
    log_in(page, "phone@example.com")

    page.goto("/account/coupons")
    assert page.locator(".points-balance").inner_text() == "350"
    page.locator("form", has_text="300 积分兑换 ¥20.00 优惠券").get_by_role("button", name="兑换").click()
    wait_for_text(page.locator("body"), "兑换成功")  # the block's message with htmx, the flash without
    assert page.locator(".points-balance").inner_text() == "50"
    assert "可用" in page.locator(".coupon-list").inner_text()

    page.goto(f"/projects/{slug}")
    page.get_by_role("link", name="支持此档").click()
    fill_new_address(page, js)
    page.get_by_label("我已阅读风险提示").check()
    assert "¥137.00" in total(page)
    assert page.get_by_label("不使用优惠券").is_checked(), "no coupon unless the backer picks one"
    page.wait_for_load_state("networkidle")  # the re-pricing the risk box started has swapped the total in
    page.get_by_label("减 ¥20.00", exact=False).check()
    if not js:
        page.get_by_role("button", name="计算运费/更新合计").click()
    wait_for_text(page.locator("#pledge_summary"), "¥117.00")
    assert "优惠券 −¥20.00" in total(page)
    page.get_by_role("button", name="确认并支付").click()
    page.get_by_role("heading", name="支付宝收银台").wait_for()
    assert "¥117.00" in page.locator(".sandbox").inner_text(), "the cashier asks for the pledge less the coupon"
    pay_and_wait_for(page, js, "夜光露营灯", "支持成功")
    receipt = page.locator("#payment_status").inner_text()
    assert "优惠券 −¥20.00，实付 ¥117.00" in receipt and "¥137.00" in receipt
    page.goto("/account/coupons")
    assert "已使用" in page.locator(".coupon-list").inner_text()
    context.close()
    assert not errors, errors
    with redis_app.app_context():
        assert ledger.project_funds(project_id)["raised"] == 137_00
        assert ledger.balance(coupons.MARKETING) == 20_00
        assert ledger.verify() == []
        assert db.session.get(User, backer) is not None
