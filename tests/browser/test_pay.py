"""A backer on a phone pays a pledge through the sandbox, with a real RQ worker on Redis (JS on and off)."""

import pytest

from tests.conftest import back_with_an_address, log_in, wait_for_heading

pytestmark = pytest.mark.browser


def pay_and_wait_for(page, js, title, heading):
    """Pay at the sandbox cashier, then wait on the pledge page until `heading` shows (the worker applied it)."""
    page.get_by_role("button", name="付款", exact=True).click()
    page.get_by_role("heading", name=title).wait_for()
    wait_for_heading(page, js, heading)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_backer_pays_through_the_sandbox(js, browser, redis_app, redis_live_server, start_worker, make_project,
                                        make_user):
    slug = make_project(status="live", title="夜光露营灯",
                        tiers=[dict(title="露营灯一盏", price_fen=129_00, quantity_limit=10, shipping={"mainland": 8_00})])
    make_user(email="phone@example.com", display_name="手机用户")
    start_worker("--no-cron")
    context = browser.new_context(java_script_enabled=js, viewport={"width": 360, "height": 740},
                                  base_url=redis_live_server.url, locale="zh-CN",
                                  user_agent="Mozilla/5.0 (Linux; Android 13) Mobile Safari/537.36")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "422" not in m.text else None)

    log_in(page, "phone@example.com")

    back_with_an_address(page, js, slug)
    if js:
        page.get_by_text("应付总额").wait_for()  # htmx priced the pledge inline
        assert "¥137.00" in page.locator(".total").inner_text()
    assert page.get_by_label("付款方式").input_value() == "wap", "a phone pays on the phone"
    page.get_by_role("button", name="确认并支付").click()

    page.get_by_role("heading", name="支付宝收银台").wait_for()
    assert "¥137.00" in page.locator(".sandbox").inner_text()
    pay_and_wait_for(page, js, "夜光露营灯", "支付凭证")
    receipt = page.locator("#payment_status").inner_text()
    assert "已支付" in receipt and "¥137.00" in receipt and "露营灯一盏" in receipt
    page.goto("/me/pledges")
    assert "已支付" in page.locator("main").inner_text()
    context.close()
    assert not errors, errors
