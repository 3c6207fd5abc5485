"""E-mail verification, the sign-up that tells nobody whether an address is registered, and per-account login
throttling (issue 12)."""
import re
from datetime import timedelta

import pytest

from crowdfund.extensions import db
from crowdfund.models import Pledge, Project, User
from crowdfund.models.base import utcnow
from tests.conftest import CSRF_RE, Browserless, mailed_link, outbox, wait_for

PASSWORD = "correct horse 1"


def logged_in_as(client):
    page = client.get("/account/")
    if page.status_code != 200:
        return None
    return re.search(r"<dt>[^<]+</dt><dd>([^<]+@[^<]+)</dd>", page.get_data(as_text=True)).group(1)


def user_row(app, email):
    with app.app_context():
        return db.session.scalar(db.select(User).filter_by(email=email))


def token_for(app, email, **kwargs):
    from crowdfund.email_verification import make_token

    with app.app_context():
        return make_token(user_row(app, email), **kwargs)


HEADER_TOKEN_RE = re.compile(r'"X-CSRFToken": "[^"]+"')


def without_tokens(text):
    """The page with its CSRF tokens (form fields and htmx's header) taken out."""
    return HEADER_TOKEN_RE.sub("csrf", CSRF_RE.sub("csrf", text))


def answer_headers(app, response):
    """The headers but Date, the session cookie replaced by what it holds besides the CSRF token."""
    serializer = app.session_interface.get_signing_serializer(app)
    headers = []
    for name, value in response.headers.items():
        if name == "Date":
            continue
        if name == "Set-Cookie" and value.startswith("session="):
            cookie, _, attributes = value.partition(";")
            held = serializer.loads(cookie.removeprefix("session="))
            held.pop("csrf_token", None)
            value = f"session={sorted(held.items())};{attributes}"
        headers.append((name, value))
    return sorted(headers)


def test_the_link_confirms_the_address_once_and_logs_in_on_a_fresh_session(app, client, forms):
    forms.signup(email="ann@example.com", name="安妮", confirm=False)
    link = mailed_link(app, "ann@example.com")
    assert link and link.startswith("/verify-email/")
    [message] = outbox(app, "ann@example.com")
    assert message["Subject"] == "确认邮箱地址"
    assert "48 小时内有效" in message.get_body(("plain",)).get_content()
    assert f"http://127.0.0.1:5000{link}" in message.get_body(("html",)).get_content()

    page = client.get(link)
    assert page.status_code == 200 and "确认 ann@example.com 是你的邮箱地址" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert user_row(app, "ann@example.com").email_verified_at is None, "opening the link (GET) changes nothing"
    before = client.get_cookie("session").value
    confirmed = forms.post(link, {}, form_path=link)
    assert confirmed.status_code == 303 and confirmed.location == "/"
    assert client.get_cookie("session").value != before
    assert "邮箱已确认。欢迎你，安妮！" in client.get("/").get_data(as_text=True)
    assert logged_in_as(client) == "ann@example.com"
    first = user_row(app, "ann@example.com").email_verified_at
    assert first is not None

    # The same link again changes nothing and logs nobody else in.
    again = forms.post(link, {}, form_path=link)
    assert again.status_code == 303 and again.location == "/account/"
    stranger = Browserless(app.test_client())
    replay = stranger.post(link, {}, form_path=link)
    assert replay.status_code == 303 and replay.location.startswith("/login")
    assert logged_in_as(stranger.client) is None
    assert user_row(app, "ann@example.com").email_verified_at == first


def test_the_link_leads_back_to_where_sign_up_began(app, client, forms, make_project):
    slug = make_project()
    page = client.get(f"/signup?next=/projects/{slug}/back")
    assert f'value="/projects/{slug}/back"' in page.get_data(as_text=True)
    forms.signup(email="bob@example.com", next=f"/projects/{slug}/back", confirm=False)
    link = mailed_link(app, "bob@example.com")
    assert f"next=%2Fprojects%2F{slug}%2Fback" in link
    confirmed = forms.post(link, {}, form_path=link)
    assert confirmed.status_code == 303 and confirmed.location == f"/projects/{slug}/back"
    assert client.get(confirmed.location).status_code == 200, "confirmed: the pledge form opens"


def test_an_expired_link_explains_and_offers_a_new_one(app, client, forms, make_user):
    make_user(email="ann@example.com", verified=False)
    old = token_for(app, "ann@example.com", now=utcnow() - timedelta(hours=48, minutes=1))
    fresh_enough = token_for(app, "ann@example.com", now=utcnow() - timedelta(hours=47, minutes=59))
    page = client.get(f"/verify-email/{old}")
    body = page.get_data(as_text=True)
    assert page.status_code == 410 and "此确认链接已过期" in body and "Traceback" not in body
    assert "登录后获取新链接" in body, "signed out: log in first, then get a new link"
    assert forms.post(f"/verify-email/{old}", {}, form_path="/login").status_code == 410
    assert user_row(app, "ann@example.com").email_verified_at is None

    forms.login()
    page = client.get(f"/verify-email/{old}")
    assert 'action="/verify-email/resend"' in page.get_data(as_text=True) and "重新发送确认链接" in page.get_data(as_text=True)
    assert client.get(f"/verify-email/{fresh_enough}").status_code == 200


def test_a_tampered_link_or_another_kind_of_token_is_refused(app, client, forms, make_user):
    from crowdfund.notifications import unsubscribe_token

    uid = make_user(email="ann@example.com", verified=False)
    token = token_for(app, "ann@example.com")
    payload, _, signature = token.rpartition(".")
    tampered = [token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), token.replace(".", "", 1), "x" * 40,
                f"{payload}.{signature[::-1]}"]
    with app.app_context():
        tampered.append(unsubscribe_token(uid, "update"))  # signed by us, with another salt
    for bad in tampered:
        page = client.get(f"/verify-email/{bad}")
        assert page.status_code == 404 and "此确认链接无效" in page.get_data(as_text=True), bad
        assert forms.post(f"/verify-email/{bad}", {}, form_path="/login").status_code == 404
    assert user_row(app, "ann@example.com").email_verified_at is None
    assert logged_in_as(client) is None


def test_a_link_stops_working_when_the_address_changes(app, client, forms, make_user):
    make_user(email="ann@example.com", verified=False)
    token = token_for(app, "ann@example.com")
    with app.app_context():
        db.session.execute(db.update(User).where(User.email == "ann@example.com").values(email="ann@new.example.com"))
        db.session.commit()
    assert client.get(f"/verify-email/{token}").status_code == 404
    assert forms.post(f"/verify-email/{token}", {}, form_path="/login").status_code == 404
    assert user_row(app, "ann@new.example.com").email_verified_at is None


def test_pledging_needs_a_confirmed_address(app, client, forms, make_user, make_project):
    slug = make_project()
    make_user(email="ann@example.com", verified=False)
    forms.login()
    page = client.get(f"/projects/{slug}/back")
    body = page.get_data(as_text=True)
    assert page.status_code == 403 and "<html" in body
    assert "支持项目前需要先确认邮箱地址。" in body and 'action="/verify-email/resend"' in body
    assert f'name="next" value="/projects/{slug}/back"' in body
    with app.app_context():
        tier_id = db.session.scalar(db.select(Project).filter_by(slug=slug)).tiers[0].id
    pledge = {"tier": tier_id, "amount": "99", "accept_risk": "y", "name": "安妮", "phone": "13800000000",
              "province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路 1 号"}
    plain = forms.post(f"/projects/{slug}/back", pledge, form_path="/account/")
    assert plain.status_code == 403 and "支持项目前需要先确认邮箱地址。" in plain.get_data(as_text=True)
    htmx = forms.post(f"/projects/{slug}/back", pledge, form_path="/account/", htmx=True)
    fragment = htmx.get_data(as_text=True)
    assert htmx.status_code == 403 and "<html" not in fragment and 'id="verify_needed"' in fragment
    assert htmx.headers["HX-Retarget"] == "#messages"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Pledge.id))) == 0

    # The gate's button mails a new link; following it opens the pledge form.
    resent = forms.post("/verify-email/resend", {"next": f"/projects/{slug}/back"}, form_path="/account/")
    assert resent.status_code == 303
    link = mailed_link(app, "ann@example.com")
    confirmed = forms.post(link, {}, form_path=link)
    assert confirmed.location == f"/projects/{slug}/back"
    assert client.get(f"/projects/{slug}/back").status_code == 200


def test_launching_needs_a_confirmed_address(app, client, forms, make_user, make_project):
    creator = make_user(email="maker@example.com", roles=["creator"], verified=False)
    slug = make_project(status="draft", creator=creator)
    forms.login(email="maker@example.com")
    preview = client.get(f"/me/projects/{slug}/edit/preview").get_data(as_text=True)
    assert "提交项目审核前需要先确认邮箱地址。" in preview
    assert re.search(r'<button type="submit" class="button" disabled>提交审核</button>', preview)
    refused = forms.post(f"/me/projects/{slug}/submit", {"accept_rules": "y"}, form_path="/account/")
    assert refused.status_code == 403 and "提交项目审核前需要先确认邮箱地址。" in refused.get_data(as_text=True)
    assert f'name="next" value="/me/projects/{slug}/edit/preview"' in refused.get_data(as_text=True)
    htmx = forms.post(f"/me/projects/{slug}/submit", {"accept_rules": "y"}, form_path="/account/", htmx=True)
    assert htmx.status_code == 403 and "<html" not in htmx.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Project).filter_by(slug=slug)).status.value == "draft"

    forms.post("/verify-email/resend", {}, form_path="/account/")
    link = mailed_link(app, "maker@example.com")
    forms.post(link, {}, form_path=link)
    submitted = forms.post(f"/me/projects/{slug}/submit", {"accept_rules": "y"}, form_path="/account/")
    assert submitted.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(Project).filter_by(slug=slug)).status.value != "draft"


def test_the_account_page_shows_the_state_and_resends_within_a_limit(make_app, make_user):
    app = make_app(RATELIMIT_VERIFY_RESEND="2 per minute")
    client = app.test_client()
    forms = Browserless(client)
    make_user(email="ann@example.com", verified=False)
    forms.login()
    account = client.get("/account/").get_data(as_text=True)
    assert "尚未确认" in account and 'action="/verify-email/resend"' in account
    for _ in range(2):
        resent = forms.post("/verify-email/resend", {"next": "/account/"}, form_path="/account/")
        assert resent.status_code == 303 and resent.location == "/verify-email?next=/account/"
    assert len(outbox(app, "ann@example.com")) == 2
    assert "新的确认链接已发送至 ann@example.com。" in client.get(resent.location).get_data(as_text=True)
    blocked = forms.post("/verify-email/resend", {}, form_path="/account/", htmx=True)
    assert blocked.status_code == 429 and "<html" not in blocked.get_data(as_text=True)
    assert len(outbox(app, "ann@example.com")) == 2
    assert client.get("/verify-email/resend").status_code in (404, 405), "resending is a POST"

    forms.confirm_email("ann@example.com")
    account = client.get("/account/").get_data(as_text=True)
    assert "已确认" in account and 'action="/verify-email/resend"' not in account
    assert "你的邮箱地址已确认" in client.get("/verify-email").get_data(as_text=True)


def test_resending_needs_a_login_and_a_token(app, client, forms, make_user):
    make_user(email="ann@example.com", verified=False)
    anonymous = forms.post("/verify-email/resend", {}, form_path="/login")
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.location
    forms.login()
    assert client.post("/verify-email/resend").status_code == 400
    assert outbox(app) == []


def sign_up_answer(app, email, htmx=False, **extra):
    """A fresh visitor's sign-up: the answer to the POST, and the page it leads to."""
    forms = Browserless(app.test_client())
    response = forms.signup(email=email, password="another horse 2", confirm=False, htmx=htmx, **extra)
    location = response.headers.get("HX-Redirect") or response.location
    page = forms.client.get(location)
    return response, page, forms.client


def test_signing_up_with_a_registered_address_answers_exactly_like_a_new_one(app, make_user):
    make_user(email="taken@example.com", display_name="Owner")
    for htmx in (False, True):
        new, new_page, new_client = sign_up_answer(app, f"new{htmx}@example.com", htmx=htmx)
        taken, taken_page, taken_client = sign_up_answer(app, "TAKEN@example.com", htmx=htmx)
        assert new.status_code == taken.status_code == (200 if htmx else 303)
        assert answer_headers(app, new) == answer_headers(app, taken)
        assert "_user_id" not in str(answer_headers(app, new)), "nobody is logged in"
        assert new.get_data() == taken.get_data()
        assert new_page.status_code == taken_page.status_code == 200
        assert without_tokens(new_page.get_data(as_text=True)) == without_tokens(taken_page.get_data(as_text=True))
        assert "请查收邮件" in new_page.get_data(as_text=True)
        assert logged_in_as(new_client) is None and logged_in_as(taken_client) is None

    # The registered address's owner is told, with a log-in link and no confirmation link; nothing changed.
    owner_mail = outbox(app, "taken@example.com")
    assert len(owner_mail) == 2
    text = owner_mail[0].get_body(("plain",)).get_content()
    assert owner_mail[0]["Subject"] == "有人尝试用你的邮箱地址注册"
    assert "http://127.0.0.1:5000/login" in text and "/verify-email/" not in text
    forms = Browserless(app.test_client())
    assert forms.login(email="taken@example.com", password="another horse 2").status_code == 422
    assert forms.login(email="taken@example.com").status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id)).where(User.email.like("taken%"))) == 1
    assert mailed_link(app, "newFalse@example.com") and mailed_link(app, "newTrue@example.com")


def test_one_address_gets_a_few_account_mails_however_often_it_is_signed_up(make_app, make_user):
    app = make_app(RATELIMIT_ACCOUNT_EMAIL="2 per hour")
    make_user(email="victim@example.com")
    answers = set()
    for n in range(4):
        forms = Browserless(app.test_client())
        response = forms.signup(email="victim@example.com", confirm=False,
                                environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
        answers.add((response.status_code, response.location))
    assert answers == {(303, "/signup/sent")}
    assert len(outbox(app, "victim@example.com")) == 2


def test_every_sign_up_attempt_counts_towards_a_limit(make_app):
    app = make_app(RATELIMIT_SIGNUP_ATTEMPTS="3 per minute")
    forms = Browserless(app.test_client())
    for _ in range(3):
        assert forms.signup(email="not-an-address", confirm=False).status_code == 422
    blocked = forms.signup(email="ann@example.com", confirm=False)
    assert blocked.status_code == 429 and "尝试次数过多" in blocked.get_data(as_text=True)
    assert outbox(app) == []
    other = Browserless(app.test_client())
    assert other.signup(email="ann@example.com", confirm=False,
                        environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 303, "per client address"


def login_from(app, address, email, password):
    forms = Browserless(app.test_client())
    return forms.login(email=email, password=password, environ_base={"REMOTE_ADDR": address})


def test_failed_logins_are_throttled_per_account_across_addresses(throttled_app, make_user):
    app = throttled_app
    make_user(email="ann@example.com")
    make_user(email="bob@example.com")
    for n in range(3):
        assert login_from(app, f"10.0.1.{n}", "ANN@example.com ", "wrong password").status_code == 422
    blocked = login_from(app, "10.0.1.9", "ann@example.com", PASSWORD)
    body = blocked.get_data(as_text=True)
    assert blocked.status_code == 429 and "该邮箱地址登录失败次数过多" in body and "Traceback" not in body
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
    assert login_from(app, "10.0.1.9", "bob@example.com", PASSWORD).status_code == 303, "other accounts log in"

    # An unknown address is throttled the same way, with the same answer.
    for n in range(3):
        assert login_from(app, f"10.0.2.{n}", "nobody@example.com", "wrong password").status_code == 422
    unknown = login_from(app, "10.0.2.9", "nobody@example.com", PASSWORD)
    assert unknown.status_code == 429
    assert without_tokens(unknown.get_data(as_text=True)) == without_tokens(body)
    assert unknown.headers["Retry-After"] and set(unknown.headers.keys()) == set(blocked.headers.keys())


def test_a_successful_login_does_not_count(throttled_app, make_user):
    make_user(email="ann@example.com")
    for n in range(5):
        assert login_from(throttled_app, f"10.0.3.{n}", "ann@example.com", PASSWORD).status_code == 303


def test_the_confirmation_mail_goes_through_a_real_worker(redis_app, rq_worker):
    forms = Browserless(redis_app.test_client())
    assert forms.signup(email="ann@example.com", confirm=False).status_code == 303
    link = wait_for(lambda: mailed_link(redis_app, "ann@example.com"), timeout=30)
    assert forms.post(link, {}, form_path=link).status_code == 303
    assert logged_in_as(forms.client) == "ann@example.com"


def test_with_a_mail_server_the_link_goes_over_smtp(app, smtp_server):
    app.config.update(MAIL_ENABLED=True, MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port)
    forms = Browserless(app.test_client())
    forms.signup(email="ann@example.com", confirm=False)
    [message] = smtp_server.inbox.messages
    assert message["To"].addresses[0].addr_spec == "ann@example.com"
    link = re.search(r"http://127\.0\.0\.1:5000(/verify-email/\S+)", message.get_body(("plain",)).get_content())[1]
    assert outbox(app) == [], "the outbox is only for when there is no mail server"
    assert forms.post(link, {}, form_path=link).status_code == 303
    assert logged_in_as(forms.client) == "ann@example.com"
