"""Alipay's notification is lost on the way; the page the backer returns to finds the payment itself (JS on and off)."""
import time
from datetime import timedelta

import pytest

from crowdfund.extensions import db
from crowdfund.models import PaymentNotification, Pledge, PledgeStatus, SandboxTrade
from crowdfund.payments import get_provider
from tests.conftest import log_in

pytestmark = pytest.mark.browser


def pledge_and_reach_the_cashier(page, make_project, make_user):
    """A backer logs in, backs a digital reward of ¥88 and arrives at the sandbox cashier."""
    slug = make_project(status="live", title="星空投影仪",
                        tiers=[dict(title="电子说明书", price_fen=88_00, quantity_limit=10, physical=False,
                                    shipping={})])
    make_user(email="returning@example.com")
    log_in(page, "returning@example.com")
    page.goto(f"/projects/{slug}")
    page.get_by_role("link", name="支持此档").click()
    page.get_by_role("heading", name="支持项目").wait_for()
    page.get_by_label("我已阅读风险提示").check()
    page.get_by_role("button", name="确认并支付").click()
    page.get_by_role("heading", name="支付宝收银台").wait_for()


def test_a_lost_notification_resolves_on_the_return_page(page, app, live_server, make_project, make_user):
    pledge_and_reach_the_cashier(page, make_project, make_user)
    page.get_by_role("button", name="付款，但丢失异步通知").click()  # the sandbox pays and drops the notification
    waiting = page.get_by_role("heading", name="等待支付确认")
    waiting.wait_for()
    came_back = time.monotonic()
    assert page.get_by_role("button", name="立即支付").is_visible(), "not paid as far as we know yet"

    waiting.wait_for(state="detached", timeout=15_000)  # no clicks: htmx polls, or the page reloads without JS
    assert time.monotonic() - came_back < 15
    main = page.locator("main").inner_text()
    assert "¥88.00" in main and "立即支付" not in main
    with app.app_context():
        pledge = db.session.scalars(db.select(Pledge)).one()
        assert pledge.status == PledgeStatus.PAID
        assert db.session.scalar(db.select(db.func.count()).select_from(PaymentNotification)) == 0
        assert db.session.scalar(db.select(SandboxTrade.notifications_sent)) == 0, "the notification really was lost"


def test_a_trade_alipay_closed_is_said_and_can_be_backed_again(page, app, live_server, make_project, make_user):
    pledge_and_reach_the_cashier(page, make_project, make_user)
    with app.app_context():
        pledge = db.session.scalars(db.select(Pledge)).one()
        pledge_id, first_trade = pledge.id, pledge.out_trade_no
        assert get_provider().close(first_trade)  # Alipay closes the unpaid trade (it timed out there)
        pledge.created_at -= timedelta(minutes=1)  # and the backer looks at the pledge a minute later
        db.session.commit()
    page.goto(f"/me/pledges/{pledge_id}")
    page.get_by_role("heading", name="支付宝已关闭这笔交易").wait_for(timeout=15_000)
    assert "立即支付" not in page.locator("main").inner_text()
    again = page.get_by_role("button", name="重新支持并付款")
    box = again.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44
    again.click()
    page.get_by_role("heading", name="支付宝收银台").wait_for()
    assert "¥88.00" in page.locator(".sandbox").inner_text()
    page.get_by_role("button", name="付款", exact=True).click()
    page.get_by_role("heading", name="星空投影仪").wait_for()
    page.get_by_role("heading", name="等待支付确认").wait_for(state="detached", timeout=15_000)
    with app.app_context():
        pledges = db.session.scalars(db.select(Pledge).order_by(Pledge.id)).all()
        assert [p.status for p in pledges] == [PledgeStatus.CLOSED, PledgeStatus.PAID]
        assert pledges[1].out_trade_no != first_trade
