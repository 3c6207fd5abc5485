"""A backer on a PC pays by WeChat Pay's QR flow: the pledge form, our QR page (SVG), the sandbox cashier opened
as a scan would open it, and the receipt on the QR page, with a real RQ worker on Redis (JS on and off)."""
import re

import pytest
import segno

from crowdfund.extensions import db
from crowdfund.models import Pledge
from crowdfund.payments import sandbox_wechatpay
from tests.conftest import back_with_an_address, log_in, wait_for_heading

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_backer_pays_by_scanning_the_wechat_code(js, browser, redis_app, redis_live_server, start_worker,
                                                 make_project, make_user):
    redis_app.config["PAYMENT_PROVIDERS"] = ["alipay", "wechatpay"]
    slug = make_project(status="live", title="竹编台灯",
                        tiers=[dict(title="台灯一盏", price_fen=199_00, quantity_limit=10, shipping={"mainland": 12_00})])
    make_user(email="pc@example.com", display_name="电脑用户")
    start_worker("--no-cron")
    context = browser.new_context(java_script_enabled=js, base_url=redis_live_server.url, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "422" not in m.text else None)

    log_in(page, "pc@example.com")

    back_with_an_address(page, js, slug)
    page.get_by_label("微信支付").check()
    page.get_by_role("button", name="确认并支付").click()

    page.get_by_role("heading", name="扫码支付").wait_for()
    text = page.locator("main").inner_text()
    assert "打开微信扫描二维码" in text and "¥211.00" in text and "支付宝" not in text
    with redis_app.test_request_context("/"):
        pledge = db.session.scalar(db.select(Pledge).order_by(Pledge.id.desc()).limit(1))
        assert (pledge.provider, pledge.due_fen) == ("wechatpay", 211_00)
        code_url = sandbox_wechatpay.cashier_url(sandbox_wechatpay._trade(pledge.out_trade_no))
    drawn = segno.make(code_url, error="m").svg_inline(scale=5, dark="#1f2328", light="#ffffff")
    modules = re.search(r'class="qrline"[^>]* d="([^"]+)"', drawn).group(1)
    assert page.locator(".qr svg path.qrline").get_attribute("d") == modules, "the SVG is the code_url's QR code"

    phone = context.new_page()  # the "scan": WeChat opens the code_url
    phone.goto(code_url)
    phone.get_by_role("heading", name="微信支付收银台").wait_for()
    assert "¥211.00" in phone.locator(".sandbox").inner_text()
    phone.get_by_role("button", name="付款", exact=True).click()
    phone.get_by_text("已支付。").wait_for()

    wait_for_heading(page, js, "支付凭证")
    receipt = page.locator("#payment_status").inner_text()
    assert "已支付" in receipt and "¥211.00" in receipt and "台灯一盏" in receipt
    assert not page.locator(".flash.error").count()
    context.close()
    assert not errors, errors
