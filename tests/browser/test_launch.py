"""A creator launches a project through the wizard (JS on and off); a moderator approves; backers find it."""
import re

import pytest

from tests.conftest import CHROMIUM_ARGS  # noqa: F401 - same browser settings as the page fixture
from tests.conftest import another_phone, log_in, open_menu

pytestmark = pytest.mark.browser


@pytest.fixture
def people(app, make_user):
    from crowdfund.catalog import ensure_categories

    with app.app_context():
        ensure_categories()
    make_user(email="mod@example.com", display_name="审核员", roles=["moderator"])


def next_step(page, heading_step):
    page.get_by_role("button", name="下一步").click()
    page.locator(f'.steps li[aria-current="step"]:has-text("{heading_step}")').wait_for()
    page.wait_for_function("step => document.title.startsWith(step)", arg=heading_step, timeout=5000)


def test_newcomer_signs_up_verifies_launches_and_backers_find_it(page, browser, live_server, people, tmp_path, app):
    from tests.conftest import confirm_mailed_link, image_file

    word = "夜光" if page.js_enabled else "星空"
    cover = tmp_path / "cover.png"
    cover.write_bytes(image_file(size=(1200, 675)).read())

    # A newcomer signs up and hands in identity papers.
    page.goto("/signup")
    page.get_by_label("邮箱").fill(f"maker-{word}@example.com")
    page.get_by_label("昵称").fill(f"{word}工作室")
    page.get_by_label("密码", exact=True).fill("correct horse 1")
    page.get_by_label("再次输入密码").fill("correct horse 1")
    page.get_by_label("我已阅读并同意").check()
    page.get_by_role("button", name="注册").click()
    confirm_mailed_link(page, app, f"maker-{word}@example.com")
    # Launching needs a verified mobile number (实名): bind one, reading the code from the development inbox.
    number = "13800138001" if page.js_enabled else "13800138002"
    page.goto("/account/phone")
    page.get_by_label("新手机号").fill(number)
    page.get_by_role("button", name="获取验证码").click()
    page.locator(".flash.success", has_text=f"验证码已发送至 {number[:3]}****{number[-4:]}").wait_for()
    inbox, inbox_page = another_phone(browser, page, live_server)
    inbox_page.goto("/dev/sms")
    code = inbox_page.locator(f'.sms-code[data-phone="+86{number}"]').inner_text()
    inbox.close()
    page.get_by_label("验证码").fill(code)
    page.get_by_role("button", name="验证号码").click()
    page.get_by_text(f"手机号 {number[:3]}****{number[-4:]} 已验证。").wait_for()
    page.goto("/me/verification")
    page.get_by_label("真实姓名").fill("张三")
    page.get_by_label("居民身份证号码").fill("11010519491231002X")
    page.get_by_label("身份证或营业执照照片").set_input_files(str(cover))
    page.get_by_role("button", name="提交认证").click()
    page.get_by_text("谢谢，审核人员会尽快核验你的证件。").wait_for()

    moderator, mod_page = another_phone(browser, page, live_server)
    log_in(mod_page, "mod@example.com")
    mod_page.goto("/moderation/verifications")
    mod_page.get_by_text("110***********002X").wait_for()
    mod_page.get_by_role("button", name="通过", exact=True).click()
    mod_page.get_by_text("决定已保存。").wait_for()

    open_menu(page)
    page.get_by_role("link", name="我的项目").first.click()
    page.get_by_role("button", name="发起新项目").click()
    page.wait_for_url(re.compile(r"/edit/basics$"))
    if page.js_enabled:
        page.evaluate("window.__sameDocument = true")

    page.get_by_label("标题").fill(f"{word}露营灯")
    page.get_by_label("一句话简介").fill(f"{word}材料做的户外灯")
    page.get_by_label("分类").select_option(label="智能硬件")
    page.get_by_label("封面图片").set_input_files(str(cover))
    next_step(page, "项目故事")
    page.get_by_label("项目故事").fill(f"## {word}露营灯\n\n" + "白天吸收阳光，夜里发出柔和的光，不需要电池。" * 4)
    next_step(page, "筹款设置")
    page.get_by_label("目标金额（元）").fill("20000")
    page.get_by_label("筹款天数").fill("30")
    next_step(page, "回报")

    page.get_by_label("回报名称").fill("露营灯一盏")
    page.get_by_label("价格（元）").fill("129")
    page.get_by_label("限量（不限量请留空）").fill("300")
    page.get_by_label("预计发放时间").fill("2031-05")
    looks = ("el => { const s = getComputedStyle(el); return [s.borderTopWidth, s.borderTopColor, s.paddingLeft, "
             "s.borderRadius, s.fontSize, Math.round(el.getBoundingClientRect().width)]; }")
    assert page.get_by_label("预计发放时间").evaluate(looks) == page.get_by_label("回报名称").evaluate(looks), \
        "the month field is styled like the others"
    page.get_by_label("中国大陆运费").fill("0")
    page.get_by_role("button", name="添加回报档位").click()
    page.locator("details.tier-edit summary", has_text="露营灯一盏").wait_for()
    next_step(page, "风险与认证")
    page.get_by_label("风险与挑战（风险提示）").fill("蓄光材料供货可能延迟。")
    next_step(page, "预览并提交")
    assert page.get_by_role("heading", name=f"{word}露营灯").first.is_visible()
    assert page.locator(".preview-frame img.cover").count() == 1, "the uploaded cover is shown"
    if page.js_enabled:
        assert page.evaluate("window.__sameDocument === true"), "htmx swapped each step without a reload"
    page.get_by_label("我已阅读并同意《项目发起规范》").check()
    page.get_by_role("button", name="提交审核").click()
    page.get_by_text("已提交，我们会尽快审核你的项目。").wait_for()

    mod_page.goto("/moderation/")
    mod_page.get_by_role("link", name=f"{word}露营灯").click()
    mod_page.get_by_role("button", name="通过", exact=True).click()
    mod_page.get_by_text("已通过。").wait_for()
    moderator.close()

    page.goto("/")
    page.get_by_role("link", name=f"{word}露营灯").first.wait_for()
    page.goto("/search")
    page.get_by_label("标题、简介或发起人").fill(word)
    page.get_by_role("button", name="搜索").last.click()
    page.locator(".cards").get_by_role("link", name=f"{word}露营灯").wait_for()
    page.locator(".cards").get_by_role("link", name=f"{word}露营灯").click()
    page.get_by_text("限量 300，剩余 300").wait_for()
