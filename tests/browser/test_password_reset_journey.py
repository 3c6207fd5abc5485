"""忘记密码 in a browser, JS on and off: ask for a link, open it from the mailbox, choose a new password."""
import pytest

from tests.conftest import mailed_reset_link, open_menu, wait_for

pytestmark = pytest.mark.browser


def test_reset_a_forgotten_password_from_the_mailed_link(page, app, make_user):
    make_user(email="ann@example.com", display_name="安娜")
    page.goto("/login")
    page.get_by_role("link", name="忘记密码？").click()
    page.get_by_role("heading", name="忘记密码？").wait_for()
    page.get_by_label("邮箱").fill("ann@example.com")
    page.get_by_role("button", name="发送链接").click()
    page.get_by_role("heading", name="请查收邮件").wait_for()
    link = wait_for(lambda: mailed_reset_link(app, "ann@example.com"))

    page.goto(link)
    page.get_by_role("heading", name="设置新密码").wait_for()
    page.get_by_label("密码", exact=True).fill("new horse 2")
    page.get_by_label("再次输入密码").fill("new horse 3")
    page.get_by_role("button", name="保存新密码").click()
    page.get_by_text("两次输入的密码不一致。").wait_for()
    page.get_by_label("密码", exact=True).fill("new horse 2")
    page.get_by_label("再次输入密码").fill("new horse 2")
    page.get_by_role("button", name="保存新密码").click()
    page.locator(".flash.success", has_text="密码已修改，其他设备均已退出登录。欢迎回来，安娜。").wait_for()
    open_menu(page)
    assert page.locator(".menu-panel a.me").inner_text() == "安娜"
    # (The used link answering 410 is in tests/web/test_password_reset.py: a 410 here is a console error.)
