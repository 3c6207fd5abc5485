"""The creator ships a reward, the backer confirms receipt and rates it, the score shows (JS on and off)."""
from datetime import timedelta

import pytest

from crowdfund import closing
from crowdfund.extensions import db
from crowdfund.models import Pledge, Project, ProjectStatus
from crowdfund.models.base import utcnow
from tests.conftest import another_phone, log_in

pytestmark = pytest.mark.browser


def test_ship_confirm_and_rate_in_the_browser(page, browser, app, live_server, make_project, make_user):
    creator = make_user(email="shipper@example.com", roles=["creator"])
    backer = make_user(email="waiting@example.com")
    slug = make_project(status="live", title="发货的项目", goal_fen=50_00, creator=creator,
                        tiers=[dict(title="台灯 Lamp", price_fen=99_00)], paid=[(backer, 99_00, 0)])
    with app.app_context():
        db.session.scalar(db.select(Project).filter_by(slug=slug)).end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        closing.close_ended_campaigns()
        pledge_id = db.session.scalar(db.select(Pledge.id))

    log_in(page, "shipper@example.com")
    page.goto("/me/projects")
    page.get_by_role("link", name="发放回报").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载发货清单（CSV）").click()
    assert download.value.suggested_filename == f"shipping-{slug}.csv", "a real download, not an htmx swap"
    row = page.locator(f"#pledge-row-{pledge_id}")
    row.get_by_role("button", name="标记为已发货").click()
    page.get_by_text("实物回报请填写快递公司和运单号。").wait_for()
    row.get_by_label("快递公司").fill("顺丰速运")
    row.get_by_label("运单号").fill("SF1234567890")
    row.get_by_role("button", name="标记为已发货").click()
    row.get_by_text("SF1234567890").wait_for()
    assert page.locator("#delivery-figures").inner_text().split()[:4] == ["回报支持", "1", "已发货", "1"]
    if page.js_enabled:
        assert page.url.endswith(f"/me/projects/{slug}/delivery"), "htmx swapped the row in place"

    customer, backer_page = another_phone(browser, page, live_server)
    log_in(backer_page, "waiting@example.com")
    backer_page.goto(f"/me/pledges/{pledge_id}")
    backer_page.get_by_role("button", name="我已收到").click()
    backer_page.get_by_text("感谢确认收货").wait_for()
    backer_page.locator("label[for=stars-4]").click()
    backer_page.get_by_label("评价内容（选填）").fill("灯很亮，包装很好。")
    backer_page.get_by_role("button", name="提交评价").click()
    backer_page.get_by_text("感谢你的评价。").wait_for()
    customer.close()

    with app.app_context():
        assert db.session.get(Pledge, pledge_id).rating == 4
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.COMPLETED
    page.goto(f"/projects/{slug}")
    page.get_by_text("信用 94").click()  # the badge near the top opens its explanation
    assert "创作者信用：94/100" in page.locator(".reliability").inner_text().replace(" ", "")
    page.get_by_role("link", name="创作者主页").click()
    page.get_by_role("heading", name="支持者评价").wait_for()
    assert "灯很亮，包装很好。" in page.locator("main").inner_text()
