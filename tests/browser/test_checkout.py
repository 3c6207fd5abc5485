"""Checkout on a 360 px phone, JS on and off: the total before paying, every error at once, the saved address,
the 省/市/区 picker, a full-width pay button, and 支持成功 after paying through the sandbox."""
import re
import time

import pytest

from crowdfund import accounts
from crowdfund.extensions import db
from crowdfund.models import Address, Pledge, Project, User
from tests.browser.test_pay import pay_and_wait_for
from tests.conftest import choose_address, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def lamp(app, make_project, make_user):
    """A live project with a lamp shipped to the mainland (¥8) and to Hong Kong, Macao and Taiwan (¥25)."""
    slug = make_project(status="live", title="夜光露营灯",
                        tiers=[dict(title="露营灯一盏", price_fen=129_00, quantity_limit=10,
                                    shipping={"mainland": 8_00, "hk_mo_tw": 25_00})])
    make_user(email="phone@example.com", display_name="手机用户")
    with app.app_context():
        return slug, db.session.scalar(db.select(Project).filter_by(slug=slug)).tiers[0].id


def total(page):
    return page.locator("#pledge_summary .total").inner_text()


def fill_new_address(page, js, province="浙江省", city="杭州市", district="西湖区", detail="文三路 1 号"):
    page.get_by_label("收货人").fill("张三")
    page.get_by_label("手机号码").fill("13800000000")
    choose_address(page, js, province, city, district)
    page.get_by_label("详细地址").fill(detail)


def wait_for_text(locator, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in locator.inner_text():
        assert time.monotonic() < deadline, f"{text!r} never appeared in {locator.inner_text()!r}"
        time.sleep(0.1)


def test_the_total_is_shown_before_paying(page, app, lamp):
    slug, tier = lamp
    log_in(page, "phone@example.com")
    page.goto(f"/projects/{slug}/back?tier={tier}")
    assert "¥137.00" in total(page) and "含运费 ¥8.00" in total(page), "priced before anything is typed"
    page.get_by_label("配送地区").select_option("hk_mo_tw")
    if not page.js_enabled:
        page.get_by_role("button", name="计算运费/更新合计").click()
    wait_for_text(page.locator("#pledge_summary"), "¥154.00")
    assert page.get_by_label("省份").locator("option").all_inner_texts() == ["请选择省份", "台湾省", "香港特别行政区",
                                                                             "澳门特别行政区"]
    page.get_by_label("支持金额（元）").fill("200")
    if page.js_enabled:
        page.get_by_label("收货人").click()  # leaving the amount field is a change: htmx re-prices
    else:
        page.get_by_role("button", name="计算运费/更新合计").click()
    wait_for_text(page.locator("#pledge_summary"), "¥225.00")
    with app.app_context():
        assert db.session.scalars(db.select(Pledge)).all() == []


def test_every_error_shows_on_the_first_submit(page, app, lamp):
    slug, tier = lamp
    log_in(page, "phone@example.com")
    page.goto(f"/projects/{slug}/back?tier={tier}")
    page.get_by_label("支持金额（元）").fill("1")  # below the reward's price
    page.get_by_role("button", name="确认并支付").click()
    page.locator("#name-error").wait_for()
    for field in ("amount", "name", "phone", "province", "city", "district", "detail", "accept_risk"):
        assert page.locator(f"#{field}-error").is_visible(), field
    assert page.locator("#province-error").inner_text() == "请选择省份。"
    summary = page.locator(".error-summary")
    assert summary.bounding_box()["y"] < 740, "the page comes back at its top, where the summary says what is wrong"
    summary.get_by_role("link", name=re.compile("^详细地址")).click()
    assert 0 <= page.locator("#detail-error").bounding_box()["y"] < 740, "each entry leads to its field"


def test_the_picker_lists_cities_then_districts(page, app, lamp):
    slug, tier = lamp
    log_in(page, "phone@example.com")
    page.goto(f"/projects/{slug}/back?tier={tier}")
    assert page.get_by_label("城市").locator("option").all_inner_texts() == ["请先选择省份"]
    fill_new_address(page, page.js_enabled, "广东省", "深圳市", "南山区", "科技园 1 栋")
    assert page.get_by_label("城市").input_value() == "深圳市" and page.get_by_label("区县").input_value() == "南山区"
    assert page.get_by_label("收货人").input_value() == "张三", "what was typed survives each list"
    page.get_by_label("我已阅读风险提示").check()
    page.get_by_role("button", name="确认并支付").click()
    page.wait_for_url("**/sandbox/alipay/**")
    with app.app_context():
        (pledge,) = db.session.scalars(db.select(Pledge)).all()
        assert (pledge.ship_province, pledge.ship_city, pledge.ship_district) == ("广东省", "深圳市", "南山区")


def test_the_saved_address_is_preselected_and_not_saved_twice(page, app, lamp):
    slug, tier = lamp
    with app.app_context():
        backer = db.session.scalar(db.select(User).filter_by(email="phone@example.com"))
        saved, _ = accounts.add_address(backer, name="张三", phone="13800000000", province="浙江省", city="杭州市",
                                        district="西湖区", detail="文三路 1 号")
        saved_id = saved.id
    log_in(page, "phone@example.com")
    page.goto(f"/projects/{slug}/back?tier={tier}")
    assert page.get_by_label("地址", exact=True).input_value() == str(saved_id)
    assert page.get_by_label("详细地址").count() == 0 and "¥137.00" in total(page)
    page.get_by_label("地址", exact=True).select_option("0")
    if not page.js_enabled:
        page.get_by_role("button", name="切换地址").click()
    fill_new_address(page, page.js_enabled, detail=" 文三路 1 号 ")
    page.get_by_label("我已阅读风险提示").check()
    page.get_by_role("button", name="确认并支付").click()
    page.wait_for_url("**/sandbox/alipay/**")
    with app.app_context():
        assert db.session.scalars(db.select(Address)).all()[0].id == saved_id
        assert len(db.session.scalars(db.select(Address)).all()) == 1, "the same address is not saved again"


def test_the_pay_button_spans_the_phone(page, app, lamp):
    slug, tier = lamp
    log_in(page, "phone@example.com")
    page.goto(f"/projects/{slug}/back?tier={tier}")
    box = page.get_by_role("button", name="确认并支付").bounding_box()
    assert abs(box["width"] - (360 - 2 * 16)) <= 2 and box["height"] >= 44, box  # main has 1rem padding
    # Without JS the lists come one submit at a time; with htmx they follow each choice, so only pricing stays.
    seconds = ("选择省份", "选择城市", "选择区县", "计算运费/更新合计") if not page.js_enabled else ("计算运费/更新合计",)
    for name in seconds:
        second = page.get_by_role("button", name=name).bounding_box()
        assert second["height"] >= 44 and second["width"] >= 44, name
    if page.js_enabled:
        assert page.get_by_role("button", name="选择城市").count() == 0


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_paying_leads_to_the_success_screen(js, browser, redis_app, redis_live_server, start_worker, make_project, make_user):
    slug = make_project(status="live", title="夜光露营灯",
                        tiers=[dict(title="露营灯一盏", price_fen=129_00, quantity_limit=10, shipping={"mainland": 8_00})])
    make_user(email="phone@example.com", display_name="手机用户")
    with redis_app.app_context():
        month = db.session.scalar(db.select(Project).filter_by(slug=slug)).tiers[0].delivery_month
    start_worker("--no-cron")
    phone = dict(viewport={"width": 360, "height": 740}, locale="zh-CN", user_agent="Android 13 Mobile")
    context = browser.new_context(java_script_enabled=js, base_url=redis_live_server.url, **phone)
    page, errors = context.new_page(), []
    page.on("console", lambda m: m.type == "error" and "422" not in m.text and errors.append(m.text))
    log_in(page, "phone@example.com")
    page.goto(f"/projects/{slug}")
    page.get_by_role("link", name="支持此档").click()
    fill_new_address(page, js)
    page.get_by_label("我已阅读风险提示").check()
    assert "¥137.00" in total(page)
    page.get_by_role("button", name="确认并支付").click()
    page.get_by_role("heading", name="支付宝收银台").wait_for()
    pay_and_wait_for(page, js, "夜光露营灯", "支持成功")
    status = page.locator("#payment_status").inner_text()
    assert status.index("支持成功") < status.index("支付凭证")
    assert "若未达成目标，将自动全额退款" in status and f"预计发放：{month}" in status
    assert "¥137.00" in status and "露营灯一盏" in status, "the receipt stays"
    page.get_by_role("link", name="查看项目动态").click()
    page.wait_for_url(f"**/projects/{slug}/updates")
    context.close()
    assert not errors, errors
