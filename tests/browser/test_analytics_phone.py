"""The creator looks at how the campaign is doing on a phone (issue 13 point 2), JS on and off."""
import pytest

from tests.browser.test_mobile import in_viewport, no_sideways_scroll
from tests.conftest import log_in
from tests.unit.test_analytics_figures import lamp  # noqa: F401 - a fixture

pytestmark = pytest.mark.browser


def test_a_creator_sees_the_campaign_at_a_glance_on_a_phone(page, lamp):
    log_in(page, "maker@example.com")
    page.goto("/me/projects")
    page.get_by_role("link", name="数据统计").click()
    page.get_by_role("heading", name="数据统计").wait_for()
    page.get_by_label("起始日期").fill("2026-03-02")
    page.get_by_label("截止日期").fill("2026-03-08")
    page.get_by_role("button", name="查看").click()
    page.wait_for_url("**/analytics?from=2026-03-02&to=2026-03-08")
    page.get_by_text("2026-03-02 至 2026-03-08（北京时间）").wait_for()
    figures = page.locator("dl.figures")
    assert " ".join(figures.inner_text().split()) == "访问次数 6 独立访客 4 已付款支持 4 转化率 100.0% 已筹 ¥2,728.00 达成目标 272%"
    assert in_viewport(page, figures), "the headline figures are on the first screen"
    charts = page.locator("svg.chart")
    assert charts.count() == 7
    for n in range(7):
        box = charts.nth(n).bounding_box()
        assert box and 250 < box["width"] <= 360, box
    no_sideways_scroll(page)
    page.get_by_role("img", name="每日访问").scroll_into_view_if_needed()
    table = page.locator("details.chart-table").first
    table.locator("summary").click()
    assert table.locator("tbody tr").count() == 7, "the same figures as a table, one row a day"

    page.get_by_label("截止日期").fill("2026-03-01")
    page.get_by_role("button", name="查看").click()
    page.get_by_text("结束日期不能早于开始日期。").wait_for()
    assert page.locator("svg.chart").count() == 0
