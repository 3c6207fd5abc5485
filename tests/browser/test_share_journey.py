"""Sharing on a 360 px phone, JS on and off (issue 13 point 7): the sharer opens the 分享 panel, copies the link
(its ref is their share code), a friend on another phone follows it, and the sharer sees the points it earned."""
import pytest

from tests.conftest import another_phone, log_in, open_menu

pytestmark = pytest.mark.browser


def test_a_friend_follows_the_share_link_and_the_sharer_earns_points(page, browser, app, live_server, make_project,
                                                                      make_user):
    make_user(email="sharer@example.com", display_name="分享者")
    slug = make_project(title="会学习的智能台灯")

    log_in(page, "sharer@example.com")
    page.goto(f"/projects/{slug}")
    panel = page.locator("details.share-panel")
    panel.locator("summary", has_text="分享").click()
    field = panel.get_by_label("复制链接")
    field.wait_for()
    link = field.input_value()
    assert link.startswith(f"{live_server.url}/projects/{slug}?ref=")
    assert field.get_attribute("readonly") is not None
    # decode() waits for the image (it may still be on its way when the panel opens) and fails if it cannot load
    assert panel.locator("img.qr").evaluate("img => img.decode().then(() => img.naturalWidth > 0)"), \
        "the QR image loads"
    weibo = panel.get_by_role("link", name="分享到微博").get_attribute("href")
    assert weibo.startswith("https://service.weibo.com/share/share.php?url=")

    panel.get_by_role("link", name="在这部手机上分享？").click()
    page.get_by_role("heading", name="分享“会学习的智能台灯”").wait_for()
    assert page.get_by_label("复制链接").input_value() == link
    assert page.locator(".share-page svg title").text_content().startswith("“会学习的智能台灯”")

    context, friend = another_phone(browser, page, live_server)
    friend.goto(link)
    friend.get_by_role("heading", name="会学习的智能台灯").wait_for()
    context.close()

    page.goto("/")
    open_menu(page)
    page.get_by_role("link", name="我的积分").click()
    page.get_by_role("heading", name="我的积分").wait_for()
    row = page.locator("#points_history tbody tr").first
    assert "有人通过你的分享链接访问" in row.inner_text() and "+2" in row.inner_text()
    assert row.get_by_role("link", name="会学习的智能台灯").get_attribute("href") == f"/projects/{slug}"
    assert page.locator(".points-balance").inner_text() == "2 积分"
