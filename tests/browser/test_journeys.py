"""Key journeys in headless Chromium on a 360 px phone screen, with JavaScript on and off."""
import re

import pytest

from tests.conftest import confirm_mailed_link, open_menu

pytestmark = pytest.mark.browser


def mark_document(page):
    """Tag the current document so we can tell an htmx swap from a full page load."""
    if page.js_enabled:
        page.evaluate("window.__sameDocument = true")


def same_document(page):
    return page.evaluate("window.__sameDocument === true")


def no_horizontal_scroll(page):
    if page.js_enabled:
        assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_sign_up_log_out_log_in_and_switch_language(page, live_server, app):
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    no_horizontal_scroll(page)
    page.get_by_role("link", name="注册").first.click()
    page.wait_for_url(re.compile(r"/signup"))

    # A mistake is reported beside the field; with JS the form is swapped in place.
    mark_document(page)
    page.get_by_label("邮箱").fill("phone-user@example.com")
    page.get_by_label("昵称").fill("手机用户")
    page.get_by_label("密码", exact=True).fill("correct horse 1")
    page.get_by_label("再次输入密码").fill("something else")
    page.get_by_role("button", name="注册").click()
    error = page.locator("#confirm-error")
    error.wait_for()
    assert "两次输入的密码不一致" in error.inner_text()
    if page.js_enabled:
        assert same_document(page), "htmx should swap the form, not reload the page"
    assert page.get_by_label("邮箱").input_value() == "phone-user@example.com", "input is kept"

    page.get_by_label("密码", exact=True).fill("correct horse 1")
    page.get_by_label("再次输入密码").fill("correct horse 1")
    page.get_by_label("我已阅读并同意").check()
    page.get_by_role("button", name="注册").click()
    # Signing up ends in the mailbox: the mailed link confirms the address and logs in.
    confirm_mailed_link(page, app, "phone-user@example.com")
    assert "欢迎你，手机用户" in page.locator("#messages").inner_text()
    open_menu(page)
    assert page.locator(".site-header").get_by_text("手机用户").is_visible()
    no_horizontal_scroll(page)

    page.get_by_role("button", name="退出").click()
    page.get_by_role("link", name="登录").wait_for()
    assert "你已退出登录" in page.locator("#messages").inner_text()

    page.get_by_role("link", name="登录").click()
    page.wait_for_url(re.compile(r"/login"))
    mark_document(page)
    page.get_by_label("邮箱").fill("phone-user@example.com")
    page.get_by_label("密码").fill("wrong password")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("alert").wait_for()
    assert page.get_by_role("alert").inner_text() == "邮箱或密码不正确。"
    if page.js_enabled:
        assert same_document(page)
    page.get_by_label("密码").fill("correct horse 1")
    page.get_by_role("button", name="登录").click()
    page.locator(".flash.success").wait_for()
    assert "欢迎回来，手机用户" in page.locator("#messages").inner_text()

    page.get_by_role("button", name="English").click()
    page.wait_for_selector("html[lang=en]", state="attached")
    open_menu(page)
    assert page.get_by_role("button", name="Log out").is_visible()
    page.get_by_role("link", name="手机用户").click()
    page.get_by_role("heading", name="My account").wait_for()
    no_horizontal_scroll(page)


def test_change_password_in_the_browser(page, live_server, make_user):
    make_user(email="pw@example.com", display_name="PW")
    page.goto("/login")
    page.get_by_label("邮箱").fill("pw@example.com")
    page.get_by_label("密码").fill("correct horse 1")
    page.get_by_role("button", name="登录").click()
    page.locator(".flash.success").wait_for()
    page.goto("/account/password")
    page.get_by_label("当前密码").fill("correct horse 1")
    page.get_by_label("密码", exact=True).fill("brand new pass 2")
    page.get_by_label("再次输入密码").fill("brand new pass 2")
    page.get_by_role("button", name="修改密码").click()
    page.get_by_text("密码已修改，其他设备已退出登录。").wait_for()
    # Still logged in on this device after the session was rotated.
    page.goto("/account/")
    page.get_by_role("heading", name="我的账户").wait_for()


def test_keyboard_user_can_skip_to_content(page, live_server):
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert focused.get_attribute("href") == "#main"
