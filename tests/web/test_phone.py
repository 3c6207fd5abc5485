"""Phone sign-in and the account's mobile number, as plain forms and through htmx: codes by the dev provider
(read back from /dev/sms), rate limits per number and per address, no enumeration, the launch gate."""
import re

import pytest
from sqlalchemy import func, select

from crowdfund.extensions import db
from crowdfund.models import AuditEntry, Consent, Project, ProjectStatus, User
from tests.conftest import Browserless, csrf_from

PHONE = "+8613800138000"


@pytest.fixture
def app(make_app):
    """These tests send several codes to one number a minute; the limits have tests of their own below."""
    return make_app(RATELIMIT_SMS="100 per minute", RATELIMIT_SMS_IP="1000 per minute")


def code_for(client, phone=PHONE):
    """The latest code the development provider 'sent' to the number, read from /dev/sms as a developer would."""
    page = client.get("/dev/sms").get_data(as_text=True)
    match = re.search(r'data-phone="%s">(\d{6})<' % re.escape(phone), page)
    assert match, f"no code for {phone} on /dev/sms"
    return match.group(1)


def error_texts(response):
    return re.findall(r'<p class="error[^"]*"[^>]*>([^<]+)</p>', response.get_data(as_text=True))


def send_login_code(forms, phone="138 0013 8000", htmx=False):
    return forms.post("/login/phone/send", {"phone": phone}, form_path="/login/phone", htmx=htmx)


def logged_in_email(client):
    page = client.get("/account/")
    if page.status_code != 200:
        return None
    return re.search(r"<dt>[^<]+</dt><dd>([^<]+@[^<]+)</dd>", page.get_data(as_text=True)).group(1)


def test_the_login_page_links_phone_sign_in(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/login/phone"' in page and "手机号登录" in page


def test_phone_login_plain_forms(client, forms, make_user):
    make_user(email="ann@example.com", phone=PHONE)
    sent = send_login_code(forms)
    assert sent.status_code == 303 and sent.location == "/login/phone/code"
    page = client.get(sent.location).get_data(as_text=True)
    assert "验证码已发送至 138****8000，5 分钟内有效。" in page and "13800138000" not in page.replace(PHONE, "")
    response = forms.post("/login/phone/code", {"code": code_for(client)}, form_path="/login/phone/code")
    assert response.status_code == 303 and response.location == "/"
    assert logged_in_email(client) == "ann@example.com"


def test_phone_login_with_htmx_and_a_wrong_code_first(client, forms, make_user):
    make_user(email="ann@example.com", phone=PHONE)
    sent = send_login_code(forms, "+86 138-0013-8000", htmx=True)
    assert sent.status_code == 200 and sent.headers["HX-Redirect"] == "/login/phone/code"
    code = code_for(client)
    wrong = forms.post("/login/phone/code", {"code": "999999" if code != "999999" else "000000"},
                       form_path="/login/phone/code", htmx=True)
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "<html" not in body and body.lstrip().startswith('<div id="code_form">')
    assert error_texts(wrong) == ["验证码不正确，还可以再试 4 次。"]
    good = forms.post("/login/phone/code", {"code": code, "next": "/account/"}, form_path="/login/phone/code",
                      htmx=True)
    assert good.headers["HX-Redirect"] == "/account/"
    assert logged_in_email(client) == "ann@example.com"


def test_phone_login_starts_a_fresh_session(app, client, forms, make_user):
    make_user(email="ann@example.com", phone=PHONE)
    send_login_code(forms)
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    forms.post("/login/phone/code", {"code": code_for(client)}, form_path="/login/phone/code")
    with client.session_transaction() as session:
        assert "planted" not in session and "phone_login" not in session


def test_sending_a_code_does_not_tell_whether_an_account_uses_the_number(client, forms, make_user):
    make_user(email="ann@example.com", phone=PHONE)
    known = send_login_code(forms, PHONE)
    known_page = client.get(known.location).get_data(as_text=True)
    other = Browserless(client.application.test_client())
    unknown = send_login_code(other, "+8613900139000")
    unknown_page = other.client.get(unknown.location).get_data(as_text=True)
    assert (known.status_code, known.location) == (unknown.status_code, unknown.location)
    strip = lambda html: re.sub(r'value="[^"]*"|"X-CSRFToken": "[^"]*"|138\*\*\*\*8000|139\*\*\*\*9000', "",  # noqa: E731
                                html)
    assert strip(known_page) == strip(unknown_page)


def test_a_number_no_account_uses_verifies_then_says_so_and_offers_sign_up(client, forms):
    send_login_code(forms, "13900139000")
    response = forms.post("/login/phone/code", {"code": code_for(client, "+8613900139000")},
                          form_path="/login/phone/code")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "验证码正确，但没有账户使用 139****9000。" in page
    assert 'href="/signup?next=/account/phone"' in page
    assert logged_in_email(client) is None


def test_an_invalid_number_is_refused_beside_the_field(forms):
    response = send_login_code(forms, "12345")
    assert response.status_code == 422 and error_texts(response) == ["请输入中国大陆手机号，例如 138 0013 8000。"]
    htmx = send_login_code(forms, "12345", htmx=True)
    assert htmx.status_code == 422 and htmx.get_data(as_text=True).lstrip().startswith('<form id="phone_form"')


def test_the_code_page_without_a_pending_number_goes_back_to_step_one(client):
    assert client.get("/login/phone/code").location == "/login/phone"


def test_codes_are_rate_limited_per_number(make_app):
    app = make_app(RATELIMIT_SMS="2 per minute", RATELIMIT_SMS_IP="100 per minute")
    forms = Browserless(app.test_client())
    assert send_login_code(forms, PHONE).status_code == 303
    assert send_login_code(forms, "138 0013 8000").status_code == 303
    refused = send_login_code(forms, "+86 13800138000")
    assert refused.status_code == 429 and "获取验证码过于频繁" in refused.get_data(as_text=True)
    assert send_login_code(forms, "13900139000").status_code == 303, "another number is not limited"
    invalid = send_login_code(forms, "123")
    assert invalid.status_code == 422, "a refused form sends nothing and counts nothing"


def test_codes_are_rate_limited_per_address(make_app, make_user):
    app = make_app(RATELIMIT_SMS="100 per minute", RATELIMIT_SMS_IP="3 per minute")
    forms = Browserless(app.test_client())
    for n in range(3):
        assert send_login_code(forms, f"1390013900{n}").status_code == 303
    assert send_login_code(forms, "13900139009").status_code == 429
    elsewhere = Browserless(app.test_client())
    response = elsewhere.post("/login/phone/send", {"phone": "13900139009"}, form_path="/login/phone",
                              environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.status_code == 303


def test_the_account_page_shares_the_per_number_limit(make_app):
    app = make_app(RATELIMIT_SMS="1 per minute")
    forms = Browserless(app.test_client())
    with app.app_context():
        from crowdfund import accounts

        accounts.register("bob@example.com", "Bob", "correct horse 1")
    forms.login(email="bob@example.com")
    other = Browserless(app.test_client())
    assert send_login_code(other, PHONE).status_code == 303
    again = forms.post("/account/phone/send", {"phone": PHONE}, form_path="/account/phone")
    assert again.status_code == 429


def bind(client, forms, phone=PHONE, htmx=False, **extra):
    sent = forms.post("/account/phone/send", {"phone": phone}, form_path="/account/phone", htmx=htmx)
    assert sent.status_code in (200, 303), sent.get_data(as_text=True)
    from crowdfund.phones import normalize

    return forms.post("/account/phone", {"code": code_for(client, normalize(phone)), **extra},
                      form_path="/account/phone", htmx=htmx)


def account(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_bind_a_phone_plain_and_log_in_with_it(app, client, forms, make_user):
    make_user(email="ann@example.com", phone=None)
    forms.login(email="ann@example.com")
    page = client.get("/account/").get_data(as_text=True)
    assert "尚未绑定" in page and 'href="/account/phone"' in page
    response = bind(client, forms, "138 0013 8000")
    assert response.status_code == 303 and response.location == "/account/phone"
    assert "手机号 138****8000 已验证。" in client.get("/account/phone").get_data(as_text=True)
    user = account(app, "ann@example.com")
    assert user.phone == PHONE and user.phone_verified_at is not None
    with app.app_context():
        assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.object_id == user.id)) == "phone.bind"
    forms.logout()
    send_login_code(forms)
    forms.post("/login/phone/code", {"code": code_for(client)}, form_path="/login/phone/code")
    assert logged_in_email(client) == "ann@example.com"


def test_bind_with_htmx_errors_come_back_as_the_block(app, client, forms, make_user):
    make_user(email="ann@example.com", phone=None)
    forms.login(email="ann@example.com")
    bad = forms.post("/account/phone/send", {"phone": "555"}, form_path="/account/phone", htmx=True)
    assert bad.status_code == 422 and bad.get_data(as_text=True).lstrip().startswith('<form id="number_form"')
    sent = forms.post("/account/phone/send", {"phone": PHONE}, form_path="/account/phone", htmx=True)
    assert sent.headers["HX-Redirect"] == "/account/phone"
    wrong = forms.post("/account/phone", {"code": "abc"}, form_path="/account/phone", htmx=True)
    assert wrong.status_code == 422 and wrong.get_data(as_text=True).lstrip().startswith('<form id="confirm_form"')
    good = forms.post("/account/phone", {"code": code_for(client)}, form_path="/account/phone", htmx=True)
    assert good.headers["HX-Redirect"] == "/account/phone"
    assert account(app, "ann@example.com").phone == PHONE


def test_a_number_another_account_has_cannot_be_bound(app, client, forms, make_user):
    make_user(email="bob@example.com", phone=PHONE)
    make_user(email="ann@example.com", phone=None)
    forms.login(email="ann@example.com")
    response = bind(client, forms)
    assert response.status_code == 422 and error_texts(response) == ["这个号码已被其他账户绑定。"]
    assert account(app, "ann@example.com").phone is None


def test_changing_the_number_needs_the_old_code_or_the_password(app, client, forms, make_user):
    make_user(email="ann@example.com", phone=PHONE)
    forms.login(email="ann@example.com")
    new = "+8613900139000"
    refused = bind(client, forms, new)
    assert refused.status_code == 422
    assert error_texts(refused) == ["更换号码需要输入发到当前号码的验证码，或账户密码。"]
    wrong_password = forms.post("/account/phone", {"code": code_for(client, new), "password": "not it"},
                                form_path="/account/phone")
    assert wrong_password.status_code == 422 and error_texts(wrong_password) == ["密码不正确。"]
    assert account(app, "ann@example.com").phone == PHONE
    # With a code texted to the old number.
    old = forms.post("/account/phone/send-current", {}, form_path="/account/phone")
    assert old.status_code == 303
    changed = forms.post("/account/phone", {"code": code_for(client, new), "old_code": code_for(client, PHONE)},
                         form_path="/account/phone")
    assert changed.status_code == 303
    assert account(app, "ann@example.com").phone == new
    # And back, with the password.
    back = bind(client, forms, PHONE, password="correct horse 1")
    assert back.status_code == 303 and account(app, "ann@example.com").phone == PHONE
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        details = db.session.scalars(select(AuditEntry.details).order_by(AuditEntry.id)).all()
    assert actions == ["phone.change", "phone.change"]
    assert [d["proof"] for d in details] == ["sms", "password"] and "13800138000" not in str(details)


def test_a_wrong_old_code_is_reported_beside_its_field(client, forms, make_user):
    make_user(email="ann@example.com", phone=PHONE)
    forms.login(email="ann@example.com")
    new = "+8613900139000"
    forms.post("/account/phone/send", {"phone": new}, form_path="/account/phone")
    forms.post("/account/phone/send-current", {}, form_path="/account/phone")
    old = code_for(client, PHONE)
    response = forms.post("/account/phone", {"code": code_for(client, new),
                                             "old_code": "000000" if old != "000000" else "111111"},
                          form_path="/account/phone")
    assert response.status_code == 422 and 'id="old_code-error"' in response.get_data(as_text=True)


def test_removing_the_number_needs_the_password(app, client, forms, make_user):
    make_user(email="ann@example.com", phone=PHONE)
    forms.login(email="ann@example.com")
    wrong = forms.post("/account/phone/remove", {"password": "nope"}, form_path="/account/phone")
    assert wrong.status_code == 422 and error_texts(wrong) == ["密码不正确。"]
    done = forms.post("/account/phone/remove", {"password": "correct horse 1"}, form_path="/account/phone")
    assert done.status_code == 303 and account(app, "ann@example.com").phone is None


def test_the_phone_pages_need_a_login_and_a_csrf_token(client, forms):
    assert client.get("/account/phone").status_code == 302
    assert client.post("/account/phone/send", data={"phone": PHONE}).status_code in (302, 400)
    assert client.post("/login/phone/send", data={"phone": PHONE}).status_code == 400


def test_the_dev_inbox_shows_the_latest_code_per_number_and_only_in_development(app, client, forms, make_app):
    send_login_code(forms, PHONE)
    first = code_for(client)
    page = client.get("/dev/sms")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert page.get_data(as_text=True).count(f'data-phone="{PHONE}"') == 1
    assert first in page.get_data(as_text=True)
    aliyun = make_app(SMS_PROVIDER="aliyun")
    assert aliyun.test_client().get("/dev/sms").status_code == 404


def test_submitting_a_project_needs_a_verified_phone(app, client, forms, make_project):
    slug = make_project(status="draft")
    with app.app_context():
        row = db.session.scalar(select(Project).filter_by(slug=slug))
        row.creator.phone = row.creator.phone_verified_at = None
        db.session.commit()
        email = row.creator.email
    forms.login(email=email)
    preview = client.get(f"/me/projects/{slug}/edit/preview").get_data(as_text=True)
    assert "按实名规定，发起项目需要先验证手机号。" in preview
    assert f'href="/account/phone?next=/me/projects/{slug}/edit/preview"' in preview
    token = csrf_from(client.get(f"/me/projects/{slug}/edit/preview"))
    response = client.post(f"/me/projects/{slug}/submit", data={"csrf_token": token, "accept_rules": "y"})
    assert response.status_code == 303 and response.location.endswith("/edit/preview")
    assert "请到“我的账户 → 手机号码”绑定" in client.get(response.location).get_data(as_text=True)
    htmx = client.post(f"/me/projects/{slug}/submit", data={"csrf_token": token, "accept_rules": "y"}, headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].endswith("/edit/preview")
    with app.app_context():
        assert db.session.scalar(select(Project.status).filter_by(slug=slug)) == ProjectStatus.DRAFT
        # A refused submission records no acceptance of the project rules either: both are saved, or neither.
        project_id = db.session.scalar(select(Project.id).filter_by(slug=slug))
        assert db.session.scalar(select(func.count(Consent.id)).filter_by(project_id=project_id)) == 0
    # Binding the phone from the link comes back to the preview, and then the project goes to review.
    forms.post(f"/account/phone/send?next=/me/projects/{slug}/edit/preview", {"phone": PHONE},
               form_path="/account/phone")
    bound = forms.post(f"/account/phone?next=/me/projects/{slug}/edit/preview", {"code": code_for(client)},
                       form_path="/account/phone")
    assert bound.location == f"/me/projects/{slug}/edit/preview"
    submitted = client.post(f"/me/projects/{slug}/submit", data={"csrf_token": token, "accept_rules": "y"})
    assert submitted.location == "/me/projects"
    with app.app_context():
        assert db.session.scalar(select(func.count(Consent.id)).filter_by(project_id=project_id)) == 1


def test_through_aliyun_a_refusal_is_told_beside_the_field_and_nothing_is_saved(make_app):
    from sqlalchemy import func

    from crowdfund.models import SmsCode
    from tests.unit.test_sms import FakeDysmsapi

    server = FakeDysmsapi("s3cret-key")
    try:
        app = make_app(SMS_PROVIDER="aliyun", ALIYUN_SMS_ACCESS_KEY_ID="LTAI-test",
                       ALIYUN_SMS_ACCESS_KEY_SECRET="s3cret-key", ALIYUN_SMS_SIGN_NAME="众筹平台",
                       ALIYUN_SMS_TEMPLATE_CODE="SMS_123456", ALIYUN_SMS_ENDPOINT=server.url,
                       RATELIMIT_SMS="1 per minute")
        forms = Browserless(app.test_client())
        server.answer = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}
        refused = send_login_code(forms, PHONE)
        assert refused.status_code == 422 and error_texts(refused) == ["这个号码近期收到的验证码太多，请稍后再试。"]
        with app.app_context():
            assert db.session.scalar(select(func.count(SmsCode.id))) == 0
        server.answer = {"Code": "OK", "Message": "OK", "BizId": "1"}
        sent = send_login_code(forms, PHONE)
        assert sent.status_code == 303, "a refused message did not use up the number's limit"
        assert server.last["PhoneNumbers"] == "13800138000"
        with app.app_context():
            assert db.session.scalar(select(func.count(SmsCode.id))) == 1
    finally:
        server.stop()
