"""A backer pays by UnionPay's form flow: our page posts the signed form to the sandbox gateway, the cashier takes
the money and posts the browser back with the signed front notification; a real RQ worker delivers the back
notification and applies it (JS on and off)."""

import pytest

from tests.conftest import back_with_an_address, log_in, wait_for_heading

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_backer_pays_by_unionpay(js, browser, redis_app, redis_live_server, start_worker, make_project, make_user):
    redis_app.config["PAYMENT_PROVIDERS"] = ["alipay", "unionpay"]
    slug = make_project(status="live", title="木质桌面收纳",
                        tiers=[dict(title="收纳盒一套", price_fen=89_00, quantity_limit=10, shipping={"mainland": 6_00})])
    make_user(email="desk@example.com", display_name="桌面用户")
    start_worker("--no-cron")
    context = browser.new_context(java_script_enabled=js, viewport={"width": 1280, "height": 900},
                                  base_url=redis_live_server.url, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "422" not in m.text else None)

    log_in(page, "desk@example.com")

    back_with_an_address(page, js, slug, name="李四", phone="13900000000", detail="文三路 2 号")
    page.get_by_label("银联在线支付").check()
    page.get_by_role("button", name="确认并支付").click()

    # Our page with the signed form, then UnionPay's (the sandbox's) cashier.
    page.get_by_role("heading", name="通过银联在线支付付款").wait_for()
    page.get_by_role("button", name="前往银联在线支付付款").click()
    page.get_by_role("heading", name="银联收银台").wait_for()
    assert "¥95.00" in page.locator(".sandbox").inner_text()
    page.get_by_role("button", name="付款", exact=True).click()

    # UnionPay sends the browser back by a form carrying the signed front notification.
    page.get_by_role("heading", name="支付成功").wait_for()
    page.get_by_role("button", name="返回商户").click()
    page.get_by_role("heading", name="木质桌面收纳").wait_for()
    assert "/me/pledges/" in page.url
    wait_for_heading(page, js, "支付凭证", "the back notification was never applied")
    receipt = page.locator("#payment_status").inner_text()
    assert "已支付" in receipt and "¥95.00" in receipt and "收纳盒一套" in receipt
    context.close()
    assert not errors, errors
