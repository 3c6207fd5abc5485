"""The phone experience at 360 px, JS on and off (issue 10): one-line header and its menu, thumb-sized controls,
the project page's buy bar in the first screen, trust badges that explain themselves, section tabs, a light home."""
import re

import pytest

from tests.conftest import log_in, open_menu, small_tap_targets, wait_for

pytestmark = pytest.mark.browser
VIEWPORT_HEIGHT = 740


def in_viewport(page, locator):
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT_HEIGHT


def no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


@pytest.fixture
def lamp(make_project, make_user):
    backer = make_user(email="early@example.com")
    return make_project(title="会学习的智能台灯", goal_fen=50_000_00,
                        tiers=[dict(title="早鸟", price_fen=199_00, quantity_limit=100),
                               dict(title="标准", price_fen=259_00), dict(title="双灯", price_fen=489_00)],
                        paid=[(backer, 199_00, 0)])


def test_the_buy_bar_is_in_the_first_screen_and_stays_there(page, lamp, make_user):
    make_user(email="backer@example.com")
    log_in(page, "backer@example.com")
    page.goto(f"/projects/{lamp}")
    bar = page.locator(".cta-bar")
    button = bar.get_by_role("link", name="支持项目")
    assert in_viewport(page, button), "logged in, the button is on the first screen"
    assert bar.locator(".price-range").inner_text() == "¥199–¥489"
    assert button.bounding_box()["width"] >= 200 and button.bounding_box()["height"] >= 44
    stats = page.locator(".project-stats").inner_text()
    assert re.fullmatch(r"已筹 ¥199 · 0% · 剩余 (29|30) 天 · 1 人支持", " ".join(stats.split())), stats
    assert in_viewport(page, page.locator(".project-stats"))

    page.mouse.wheel(0, 1500)
    wait_for(lambda: page.evaluate("window.scrollY") > 1000, timeout=5)
    assert in_viewport(page, button), "the bar sticks to the bottom while the page scrolls"
    no_sideways_scroll(page)
    assert small_tap_targets(page) == [], small_tap_targets(page)

    button.click()
    page.wait_for_url(re.compile(rf"/projects/{lamp}/back"))


def test_trust_badges_explain_themselves_and_tabs_jump_to_sections(page, lamp):
    page.goto(f"/projects/{lamp}")
    badges = page.locator(".trust-badges")
    assert badges.locator("summary").all_inner_texts() == ["资金托管", "认证发起人", "新发起人"]
    assert in_viewport(page, badges)
    explanation = page.get_by_text("支持款由平台托管，不直接交给发起人")
    assert not explanation.is_visible()
    badges.get_by_text("资金托管").click()
    explanation.wait_for()
    assert "全有或全无" in badges.inner_text()

    tabs = page.locator(".section-nav")
    assert tabs.get_by_role("link").all_inner_texts() == ["故事", "回报", "评论"]
    tabs.get_by_role("link", name="回报").click()
    page.wait_for_url(re.compile(r"#rewards$"))
    heading = page.get_by_role("heading", name="回报", exact=True)
    assert in_viewport(page, heading) and heading.bounding_box()["y"] >= 44, "not hidden under the sticky tabs"


def test_the_header_is_one_line_and_its_menu_works_without_javascript(page, live_server, login_as, make_user):
    page.goto("/")
    assert page.locator(".site-header").bounding_box()["height"] <= 56
    make_user(email="staff@example.com", display_name="值班的运营同学", roles=["moderator", "finance", "admin"])
    log_in(page, "staff@example.com")
    header = page.locator(".site-header")
    assert header.bounding_box()["height"] <= 56, "every role's links fit one line"
    assert not header.get_by_role("link", name="我的支持").is_visible()
    assert small_tap_targets(page) == [], small_tap_targets(page)
    open_menu(page)
    for name in ("值班的运营同学", "我的支持", "我的项目", "审核", "财务", "管理"):
        assert header.get_by_role("link", name=name).is_visible(), name
    assert header.get_by_role("button", name="退出").is_visible()
    assert small_tap_targets(page) == [], small_tap_targets(page)
    header.get_by_role("link", name="我的支持").click()
    page.wait_for_url(re.compile(r"/me/pledges$"))
    no_sideways_scroll(page)


def test_home_is_dense_light_and_repeats_nothing(page, live_server, make_project, make_user):
    backer = make_user()
    for n in range(6):
        make_project(title=f"首页项目{n}", featured=n < 2, duration_days=5 + n,
                     paid=[(backer, 100_00 * (n + 1), 0)] if n % 2 else ())
    images = []
    page.on("request", lambda request: images.append(request.url) if request.resource_type == "image" else None)
    page.goto("/")
    page.wait_for_load_state("load")
    titles = page.locator(".project-card h3").all_inner_texts()
    assert sorted(titles) == [f"首页项目{n}" for n in range(6)], "every project once"
    assert in_viewport(page, page.locator(".category-row")), "categories near the top"
    first = page.locator(".project-card").first.bounding_box()
    assert first["height"] <= 110, "a dense card: thumbnail beside title and figures"
    assert page.locator(".project-card .stats").first.inner_text().count("·") == 2, "one line of figures"
    covers = [url for url in images if "/media/" in url]
    assert len(covers) == 6 and all(re.search(r"-240\.\w+$", url) for url in covers), covers
    no_sideways_scroll(page)
    assert small_tap_targets(page) == [], small_tap_targets(page)


def test_checkout_and_pledge_pages_are_thumb_sized(page, lamp):
    log_in(page, "early@example.com")  # has a paid pledge
    page.goto(f"/projects/{lamp}")
    page.locator("#rewards").get_by_role("link", name="支持此档").first.click()
    page.get_by_role("button", name="确认并支付").wait_for()
    no_sideways_scroll(page)
    assert small_tap_targets(page) == [], small_tap_targets(page)
    page.goto("/me/pledges")
    no_sideways_scroll(page)
    assert small_tap_targets(page) == [], small_tap_targets(page)
    page.locator("main").get_by_role("link", name="会学习的智能台灯").first.click()
    page.get_by_role("heading", name="支持成功").wait_for()
    no_sideways_scroll(page)
    assert small_tap_targets(page) == [], small_tap_targets(page)


def test_a_first_time_backer_finds_trusts_and_pays_from_the_home_page(page, lamp, app):
    """The issue's bar: from the home page to 支持成功 on a phone, signing up on the way, JS on and off."""
    from tests.browser.test_checkout import fill_new_address, total
    from tests.browser.test_pay import pay_and_wait_for
    from tests.conftest import confirm_mailed_link

    page.goto("/")
    page.locator(".project-card").get_by_role("link", name="会学习的智能台灯").click()
    page.get_by_role("heading", name="会学习的智能台灯", level=1).wait_for()
    page.locator(".trust-badges").get_by_text("资金托管").click()
    page.get_by_text("支持款由平台托管，不直接交给发起人").wait_for()
    page.locator(".cta-bar").get_by_role("link", name="支持项目").click()

    page.wait_for_url(re.compile(r"/login\?next="))
    page.locator("main").get_by_role("link", name="注册账户").click()
    page.get_by_role("heading", name="注册账户").wait_for()  # the log-in form (also with 邮箱) is gone
    page.get_by_label("邮箱").fill("first@example.com")
    page.get_by_label("昵称").fill("第一次支持")
    page.get_by_label("密码", exact=True).fill("correct horse 1")
    page.get_by_label("再次输入密码").fill("correct horse 1")
    page.get_by_label("我已阅读并同意").check()
    page.get_by_role("button", name="注册").click()
    confirm_mailed_link(page, app, "first@example.com")
    page.wait_for_url(re.compile(r"^[^?]*/projects/\w+/back$"))  # the mailed link led back to the checkout
    page.get_by_role("radio", name=re.compile(r"^标准 · ¥259\.00")).check()
    fill_new_address(page, page.js_enabled)
    page.get_by_label("我已阅读风险提示").check()
    if not page.js_enabled:
        page.get_by_role("button", name="计算运费/更新合计").click()
    assert "¥259.00" in total(page), "the total stands above the pay button, JS or not"
    page.get_by_role("button", name="确认并支付").click()
    page.get_by_role("heading", name="支付宝收银台").wait_for()
    pay_and_wait_for(page, page.js_enabled, "会学习的智能台灯", "支持成功")
    assert "¥259.00" in page.locator("#payment_status").inner_text()


def test_the_other_pages_people_use_are_thumb_sized(page, make_project, make_user):
    creator = make_user(email="maker@example.com", roles=["creator"])
    slug = make_project(creator=creator, paid=[(make_user(), 99_00, 0)])
    for path in ("/login", "/login/phone", "/password/forgot", "/signup", "/categories/tech",
                 f"/projects/{slug}/funds", f"/projects/{slug}/backers"):
        page.goto(path)
        no_sideways_scroll(page)
        assert small_tap_targets(page) == [], (path, small_tap_targets(page))
    log_in(page, "maker@example.com")
    for path in ("/me/projects", "/account/notifications", "/account/", "/account/phone", "/messages",
                 "/account/addresses",
                 f"/projects/{slug}"):
        page.goto(path)
        no_sideways_scroll(page)
        assert small_tap_targets(page) == [], (path, small_tap_targets(page))
