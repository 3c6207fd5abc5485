"""Legal documents on a phone, JS on and off: reading a version, and accepting a new one before pledging."""
import re

import pytest

from crowdfund import legal
from crowdfund.extensions import db
from crowdfund.models import Consent, User
from tests.conftest import log_in, small_tap_targets

pytestmark = pytest.mark.browser


def test_a_new_version_is_accepted_on_the_way_to_the_pledge_form(page, app, make_project, make_user):
    slug = make_project(title="会发光的帐篷")
    make_user(email="camper@example.com")
    with app.app_context():
        legal.publish(None, "terms", "2027-01-15", title_zh="用户协议", body_zh="## 新增\n\n新增短信登录条款。",
                      title_en="User agreement", body_en="## New\n\nSMS sign-in.")
    log_in(page, "camper@example.com")
    page.goto(f"/projects/{slug}/back")
    page.wait_for_url(re.compile(r"/legal/accept\?next="))
    assert small_tap_targets(page) == [], small_tap_targets(page)
    page.get_by_role("button", name="同意并继续").click()
    page.get_by_text("请勾选以同意新版本。").wait_for()
    page.get_by_label("我已阅读并同意新版本").check()
    page.get_by_role("button", name="同意并继续").click()
    page.wait_for_url(re.compile(rf"/projects/{slug}/back$"))
    page.get_by_label("我已阅读风险提示").wait_for()
    with app.app_context():
        uid = db.session.scalar(db.select(User.id).where(User.email == "camper@example.com"))
        versions = db.session.scalars(db.select(Consent.version).where(Consent.user_id == uid,
                                                                      Consent.document_key == "terms")).all()
    assert versions[-1] == "2027-01-15"


def test_documents_and_their_history_read_well_on_a_phone(page):
    page.goto("/")
    page.locator(".site-footer").get_by_role("link", name="项目发起规范").click()
    page.get_by_role("heading", name="项目发起规范", level=1).wait_for()
    assert page.get_by_role("link", name=legal.INITIAL_VERSIONS["creator_rules"]).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert small_tap_targets(page) == [], small_tap_targets(page)
