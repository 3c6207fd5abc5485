"""A campaign fails at its deadline and the backer sees the refund complete (JS on and off)."""
from datetime import timedelta

import pytest

from crowdfund import closing, jobs
from crowdfund.extensions import db
from crowdfund.models import Pledge, Project, SandboxTrade
from crowdfund.models.base import utcnow

pytestmark = pytest.mark.browser


def test_backer_sees_the_refund_after_a_failed_campaign(page, app, live_server, make_project, make_user):
    backer = make_user(email="hopeful@example.com")
    slug = make_project(status="live", title="没能成功的项目", goal_fen=10_000_00, tiers=[],
                        paid=[(backer, 88_00, None)])
    with app.test_request_context("/"):
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        pledge = db.session.scalar(db.select(Pledge).filter_by(project_id=project.id))
        db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no="T1", app_id=app.config["ALIPAY_APP_ID"],
                                    total_fen=88_00, subject=project.title, status="TRADE_SUCCESS", channel="wap"))
        project.end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        pledge_id = pledge.id
        closing.close_ended_campaigns()
        jobs.verify_ledger()  # the periodic check the funds page reports
    page.goto("/login")
    page.get_by_label("邮箱").fill("hopeful@example.com")
    page.get_by_label("密码").fill("correct horse 1")
    page.get_by_role("button", name="登录").click()
    page.locator(".flash.success").wait_for()
    page.get_by_role("link", name="通知").click()
    page.get_by_text("款项正在全额退还").wait_for()
    page.goto(f"/me/pledges/{pledge_id}")
    receipt = page.locator("#payment_status").inner_text()
    assert "已退款" in receipt and "¥88.00" in receipt
    page.goto(f"/projects/{slug}/funds")
    assert "账本哈希链校验通过" in page.locator("main").inner_text()
