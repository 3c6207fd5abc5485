"""A campaign succeeds, the creator requests stage 1, finance approves, the due date shows (JS on and off)."""
from datetime import timedelta

import pytest

from crowdfund import closing
from crowdfund.extensions import db
from crowdfund.models import Project, Withdrawal
from crowdfund.models.base import utcnow
from tests.conftest import another_phone, log_in, open_menu

pytestmark = pytest.mark.browser


def test_stage_one_withdrawal_in_the_browser(page, browser, app, live_server, make_project, make_user):
    creator = make_user(email="maker@example.com", roles=["creator"])
    make_user(email="money@example.com", roles=["finance"])
    backer = make_user()
    slug = make_project(status="live", title="成功的项目", goal_fen=100_00, creator=creator,
                        tiers=[dict(title="回报", price_fen=100_00)], paid=[(backer, 200_00, 0)])
    with app.app_context():
        db.session.scalar(db.select(Project).filter_by(slug=slug)).end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        closing.close_ended_campaigns()

    log_in(page, "maker@example.com")
    page.goto("/me/projects")
    page.get_by_role("link", name="资金与提现").click()
    page.get_by_role("button", name="申请提取 ¥95.00").click()
    page.get_by_text("已提交提现申请。").wait_for()

    finance, finance_page = another_phone(browser, page, live_server)
    log_in(finance_page, "money@example.com")
    open_menu(finance_page)
    finance_page.get_by_role("link", name="财务").click()
    finance_page.get_by_role("button", name="通过").click()
    finance_page.get_by_text("预计到账日").wait_for()
    finance.close()

    with app.app_context():
        due = db.session.scalars(db.select(Withdrawal)).one().due_date.isoformat()
    page.reload()
    text = page.locator("main").inner_text()
    assert f"预计到账日：{due}" in text and "已通过" in text
