"""手机号登录 in a browser, JS on and off: number, code from the development inbox, signed in."""
import pytest

from tests.conftest import another_phone, open_menu

pytestmark = pytest.mark.browser


def test_log_in_with_a_mobile_number_and_an_sms_code(page, browser, live_server, make_user):
    make_user(email="ann@example.com", display_name="安娜", phone="+8613800138000")
    page.goto("/login")
    page.get_by_role("link", name="手机号登录").click()
    page.get_by_label("手机号码").fill("138 0013 8000")
    page.get_by_role("button", name="获取验证码").click()
    page.locator(".flash.success", has_text="验证码已发送至 138****8000").wait_for()
    inbox, inbox_page = another_phone(browser, page, live_server)
    inbox_page.goto("/dev/sms")
    code = inbox_page.locator('.sms-code[data-phone="+8613800138000"]').inner_text()
    inbox.close()
    page.get_by_label("验证码").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("验证码不正确，还可以再试 4 次。").wait_for()
    page.get_by_label("验证码").fill(code)
    page.get_by_role("button", name="登录").click()
    page.locator(".flash.success", has_text="欢迎回来，安娜。").wait_for()
    open_menu(page)
    assert page.locator(".menu-panel a.me").inner_text() == "安娜"
