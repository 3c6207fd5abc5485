"""Finance presses 立即核对 on a phone and watches the run finish without reloading (JS on: polling; off: refresh)."""
import pytest
from playwright.sync_api import expect

from tests.conftest import HeldQuery, log_in, two_paid_pledges

pytestmark = pytest.mark.browser


def test_finance_watches_a_reconciliation_finish(page, app, make_project, make_user):
    _, missing = two_paid_pledges(app, make_project, make_user, both_at_provider=False)
    held = app.config["SANDBOX_QUERY_HOLD"] = HeldQuery(missing)
    make_user(email="money@example.com", roles=["finance"])
    log_in(page, "money@example.com")
    page.goto("/finance/reconciliation")
    expect(page.locator("#reconciliation_status")).to_contain_text("尚未运行")
    button = page.get_by_role("button", name="立即核对")
    box = button.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44, "a thumb-sized button at 360 px"
    try:
        button.click()
        expect(page.locator(".flash.success")).to_contain_text("对账已开始")
        assert held.asked.wait(20), "the run is under way in the background"
        status = page.locator("#reconciliation_status")
        expect(status).to_contain_text("正在对账：已核对 1 笔，共 2 笔付款", timeout=10_000)
        if page.js_enabled:
            page.evaluate("window.stillTheSamePage = true")
    finally:
        held.released.set()
    expect(status).to_contain_text("已核对 2 笔付款", timeout=15_000)
    expect(status.locator(".finding")).to_contain_text(missing)
    expect(status).to_contain_text("支付机构没有这笔付款")
    if page.js_enabled:
        assert page.evaluate("window.stillTheSamePage === true"), "the status block polled itself, no reload"
