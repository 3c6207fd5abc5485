"""Password reset by e-mail: 忘记密码 (issue 12)."""
from datetime import timedelta

import pytest

from crowdfund.extensions import db
from crowdfund.models import AuditEntry, User
from crowdfund.models.base import utcnow
from tests.conftest import Browserless, mailed_reset_link, outbox
from tests.web.test_email_verification import answer_headers, logged_in_as, user_row, without_tokens

PASSWORD = "correct horse 1"
NEW_PASSWORD = "brand new stallion 7"


def reset_token(app, email, **kwargs):
    from crowdfund.password_reset import make_token

    with app.app_context():
        return make_token(user_row(app, email), **kwargs)


def ask(app, email, htmx=False, address="127.0.0.1"):
    """A fresh visitor asks for a reset link: the answer to the POST, the page it leads to, and the client."""
    forms = Browserless(app.test_client())
    response = forms.post("/password/forgot", {"email": email}, htmx=htmx, environ_base={"REMOTE_ADDR": address})
    location = response.headers.get("HX-Redirect") or response.location
    page = forms.client.get(location) if location else None
    return response, page, forms.client


def set_password(forms, link, password=NEW_PASSWORD, confirm=None, htmx=False):
    return forms.post(link, {"password": password, "confirm": confirm or password}, form_path=link, htmx=htmx)


def test_the_login_page_links_to_forgot_password(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page and "忘记密码？" in page
    form = client.get("/password/forgot")
    assert form.status_code == 200 and 'name="email"' in form.get_data(as_text=True)


def test_asking_answers_exactly_the_same_for_a_registered_and_an_unknown_address(app, make_user):
    make_user(email="ann@example.com", display_name="安妮")
    for htmx in (False, True):
        known, known_page, known_client = ask(app, "ANN@example.com ", htmx=htmx)
        unknown, unknown_page, unknown_client = ask(app, "nobody@example.com", htmx=htmx)
        assert known.status_code == unknown.status_code == (200 if htmx else 303)
        assert (known.headers.get("HX-Redirect") or known.location) == "/password/forgot/sent"
        assert answer_headers(app, known) == answer_headers(app, unknown)
        assert known.get_data() == unknown.get_data()
        assert known_page.status_code == unknown_page.status_code == 200
        assert without_tokens(known_page.get_data(as_text=True)) == without_tokens(unknown_page.get_data(as_text=True))
        assert "如果有账号使用你填写的邮箱地址" in known_page.get_data(as_text=True)
        assert logged_in_as(known_client) is None and logged_in_as(unknown_client) is None
    assert len(outbox(app, "ann@example.com")) == 2
    assert outbox(app, "nobody@example.com") == [], "an unknown address gets nothing"


def test_the_mail_carries_a_link_that_resets_the_password_once(app, client, forms, make_user):
    uid = make_user(email="ann@example.com", display_name="安妮")
    ask(app, "ann@example.com")
    [message] = outbox(app, "ann@example.com")
    assert message["Subject"] == "重设密码"
    text = message.get_body(("plain",)).get_content()
    assert "有人（可能是你）申请重设" in text and "60 分钟内有效" in text
    link = mailed_reset_link(app, "ann@example.com")
    assert link and link.startswith("/password/reset/")
    assert f"http://127.0.0.1:5000{link}" in message.get_body(("html",)).get_content()

    page = client.get(link)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "为 ann@example.com 设置新密码" in body
    assert page.headers["Cache-Control"] == "no-store" and 'hx-history="false"' in body
    with app.app_context():
        before = db.session.get(User, uid)
        old_hash, old_token = before.password_hash, before.session_token
    assert client.get(link).status_code == 200, "opening the link (GET) changes nothing"
    assert user_row(app, "ann@example.com").password_hash == old_hash

    cookie = client.get_cookie("session").value
    done = set_password(forms, link)
    assert done.status_code == 303 and done.location == "/account/"
    assert client.get_cookie("session").value != cookie, "a fresh session"
    assert "密码已修改，其他设备均已退出登录。欢迎回来，安妮。" in client.get("/account/").get_data(as_text=True)
    assert logged_in_as(client) == "ann@example.com"
    after = user_row(app, "ann@example.com")
    assert after.password_hash != old_hash and after.session_token != old_token

    # The same link again: used, it changes nothing, offers a new one.
    again = client.get(link)
    assert again.status_code == 410 and "此链接已被使用过" in again.get_data(as_text=True)
    assert 'href="/password/forgot"' in again.get_data(as_text=True)
    replay = set_password(Browserless(app.test_client()), link, password="a third password 9")
    assert replay.status_code == 410
    assert user_row(app, "ann@example.com").password_hash == after.password_hash

    # The old password is refused, the new one works.
    assert Browserless(app.test_client()).login(password=PASSWORD).status_code == 422
    assert Browserless(app.test_client()).login(password=NEW_PASSWORD).status_code == 303
    with app.app_context():
        [entry] = db.session.scalars(db.select(AuditEntry).filter_by(action="account.password_reset")).all()
        assert entry.actor_id == uid and entry.object_id == uid and entry.details == {"email_confirmed": False}


def test_a_reset_logs_out_every_other_session(app, make_user):
    make_user(email="ann@example.com")
    laptop, phone = Browserless(app.test_client()), Browserless(app.test_client())
    assert laptop.login(remember="y").status_code == 303
    assert phone.login().status_code == 303
    remembered = laptop.client.get_cookie("remember_token").value
    ask(app, "ann@example.com")
    visitor = Browserless(app.test_client())
    assert set_password(visitor, mailed_reset_link(app, "ann@example.com")).status_code == 303
    assert logged_in_as(visitor.client) == "ann@example.com"
    assert logged_in_as(laptop.client) is None and logged_in_as(phone.client) is None
    replayed = app.test_client()
    replayed.set_cookie("remember_token", remembered)
    assert logged_in_as(replayed) is None, "a replayed remember-me cookie signs nobody in"


def test_any_password_change_kills_an_unused_link(app, forms, make_user):
    make_user(email="ann@example.com")
    ask(app, "ann@example.com")
    link = mailed_reset_link(app, "ann@example.com")
    forms.login()
    changed = forms.post("/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                               "confirm": NEW_PASSWORD}, form_path="/account/password")
    assert changed.status_code == 303
    stranger = Browserless(app.test_client())
    assert stranger.client.get(link).status_code == 410
    assert set_password(stranger, link, password="someone else 42").status_code == 410
    assert Browserless(app.test_client()).login(password=NEW_PASSWORD).status_code == 303


def test_two_links_one_reset(app, make_user):
    make_user(email="ann@example.com")
    ask(app, "ann@example.com")
    first = mailed_reset_link(app, "ann@example.com")
    ask(app, "ann@example.com")
    second = mailed_reset_link(app, "ann@example.com", after=1)
    visitor = Browserless(app.test_client())
    assert set_password(visitor, second).status_code == 303
    assert app.test_client().get(first).status_code == 410, "one reset ends every link mailed before it"


def test_an_expired_link_explains_and_offers_a_new_one(app, forms, make_user):
    make_user(email="ann@example.com")
    old = reset_token(app, "ann@example.com", now=utcnow() - timedelta(minutes=61))
    fresh_enough = reset_token(app, "ann@example.com", now=utcnow() - timedelta(minutes=59))
    page = forms.client.get(f"/password/reset/{old}")
    body = page.get_data(as_text=True)
    assert page.status_code == 410 and "此链接已过期。重设密码链接的有效期为 60 分钟。" in body
    assert 'href="/password/forgot"' in body and "Traceback" not in body
    assert set_password(forms, f"/password/reset/{old}").status_code == 410
    assert Browserless(app.test_client()).login(password=PASSWORD).status_code == 303, "nothing changed"
    assert forms.client.get(f"/password/reset/{fresh_enough}").status_code == 200


def test_the_max_age_is_configurable(make_app, make_user):
    app = make_app(PASSWORD_RESET_MAX_AGE=600)
    make_user(email="ann@example.com")
    token = reset_token(app, "ann@example.com", now=utcnow() - timedelta(minutes=11))
    assert app.test_client().get(f"/password/reset/{token}").status_code == 410
    ask(app, "ann@example.com")
    assert "10 分钟内有效" in outbox(app, "ann@example.com")[0].get_body(("plain",)).get_content()


def test_a_tampered_link_or_another_kind_of_token_is_refused(app, forms, make_user):
    from crowdfund.email_verification import make_token as confirmation_token
    from crowdfund.notifications import unsubscribe_token

    uid = make_user(email="ann@example.com", verified=False)
    token = reset_token(app, "ann@example.com")
    payload, _, signature = token.rpartition(".")
    tampered = [token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), token.replace(".", "", 1), "x" * 40,
                f"{payload}.{signature[::-1]}"]
    with app.app_context():
        tampered.append(unsubscribe_token(uid, "update"))  # signed by us, with other salts
        tampered.append(confirmation_token(db.session.get(User, uid)))
    for bad in tampered:
        page = forms.client.get(f"/password/reset/{bad}")
        assert page.status_code == 404 and "此链接无效" in page.get_data(as_text=True), bad
        assert page.headers["Cache-Control"] == "no-store"
        assert set_password(forms, f"/password/reset/{bad}").status_code == 404
    assert Browserless(app.test_client()).login(password=PASSWORD).status_code == 303, "nothing changed"
    assert user_row(app, "ann@example.com").email_verified_at is None


def test_the_link_needs_its_csrf_token(app, client, make_user):
    make_user(email="ann@example.com")
    token = reset_token(app, "ann@example.com")
    client.get(f"/password/reset/{token}")
    refused = client.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert refused.status_code == 400
    assert Browserless(app.test_client()).login(password=PASSWORD).status_code == 303


def test_a_weak_new_password_is_refused_inline(app, forms, make_user):
    make_user(email="ann@example.com")
    link = f"/password/reset/{reset_token(app, 'ann@example.com')}"
    for htmx in (False, True):
        for password, confirm, problem in (("short", "short", "8"), ("password123", "password123", "这个密码太常见"),
                                           ("long enough 1", "long enough 2", "两次输入的密码不一致")):
            answer = set_password(forms, link, password=password, confirm=confirm, htmx=htmx)
            body = answer.get_data(as_text=True)
            assert answer.status_code == 422, (password, htmx)
            assert problem in body and 'id="reset_form"' in body
            assert ("<html" in body) is not htmx
    assert logged_in_as(forms.client) is None
    assert Browserless(app.test_client()).login(password=PASSWORD).status_code == 303, "nothing changed"
    assert set_password(forms, link, htmx=True).headers["HX-Redirect"] == "/account/", "the link still works"


def test_resetting_confirms_an_unconfirmed_address_and_reclaims_it(app, forms, make_user):
    """Someone signed up with Ann's address and never confirmed it: Ann resets the password and owns it."""
    squatter = Browserless(app.test_client())
    squatter.signup(email="ann@example.com", name="Squatter", password="squatter pass 1", confirm=False)
    assert user_row(app, "ann@example.com").email_verified_at is None
    squatter.login(email="ann@example.com", password="squatter pass 1")
    assert logged_in_as(squatter.client) == "ann@example.com"

    ask(app, "ann@example.com")
    link = mailed_reset_link(app, "ann@example.com")
    assert set_password(forms, link).status_code == 303
    row = user_row(app, "ann@example.com")
    assert row.email_verified_at is not None
    assert logged_in_as(forms.client) == "ann@example.com"
    assert logged_in_as(squatter.client) is None, "the squatter's session ended"
    assert squatter.login(email="ann@example.com", password="squatter pass 1").status_code == 422
    assert "已确认" in forms.client.get("/account/").get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="account.password_reset"))
        assert entry.details == {"email_confirmed": True}


def test_a_reset_clears_the_login_throttle_someone_else_caused(throttled_app, make_user):
    app = throttled_app
    make_user(email="ann@example.com")
    make_user(email="bob@example.com")
    for n in range(3):
        for email in ("ann@example.com", "bob@example.com"):
            Browserless(app.test_client()).login(email=email, password="wrong guess",
                                                 environ_base={"REMOTE_ADDR": f"10.0.5.{n}"})
    owner = Browserless(app.test_client())
    assert owner.login(password=PASSWORD).status_code == 429, "locked out by someone else's guesses"
    ask(app, "ann@example.com")
    assert set_password(Browserless(app.test_client()), mailed_reset_link(app, "ann@example.com")).status_code == 303
    assert owner.login(password=NEW_PASSWORD).status_code == 303, "the owner logs in again"
    assert Browserless(app.test_client()).login(email="bob@example.com").status_code == 429, "only that address"


def test_asking_is_rate_limited_per_client_address(make_app, make_user):
    app = make_app(RATELIMIT_PASSWORD_RESET="3 per minute")
    make_user(email="ann@example.com")
    forms = Browserless(app.test_client())
    assert forms.post("/password/forgot", {"email": "not an address"}).status_code == 422, "invalid ones count too"
    for email in ("ann@example.com", "nobody@example.com"):
        assert forms.post("/password/forgot", {"email": email}).status_code == 303
    blocked = forms.post("/password/forgot", {"email": "ann@example.com"})
    assert blocked.status_code == 429 and "Traceback" not in blocked.get_data(as_text=True)
    assert len(outbox(app, "ann@example.com")) == 1
    other = Browserless(app.test_client())
    assert other.post("/password/forgot", {"email": "ann@example.com"},
                      environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 303, "per client address"
    assert len(outbox(app, "ann@example.com")) == 2


def test_one_address_gets_a_few_mails_however_often_it_is_asked_for(make_app, make_user):
    app = make_app(RATELIMIT_ACCOUNT_EMAIL="2 per hour")
    make_user(email="ann@example.com")
    answers = set()
    for n in range(4):
        response, _, _ = ask(app, "ann@example.com", address=f"10.0.6.{n}")
        answers.add((response.status_code, response.location))
    assert answers == {(303, "/password/forgot/sent")}, "the answer stays the same"
    assert len(outbox(app, "ann@example.com")) == 2
    # The budget is shared with the other account mail: no confirmation link either, for now.
    signup = Browserless(app.test_client()).signup(email="ann@example.com", confirm=False)
    assert signup.status_code == 303 and len(outbox(app, "ann@example.com")) == 2


def test_a_deleted_account_gets_no_link(app, make_user):
    uid = make_user(email="ann@example.com")
    with app.app_context():
        db.session.execute(db.update(User).where(User.id == uid).values(deleted_at=utcnow()))
        db.session.commit()
    response, page, _ = ask(app, "ann@example.com")
    assert response.status_code == 303 and page.status_code == 200
    assert outbox(app, "ann@example.com") == []


def test_english_pages_and_mail(app, make_user):
    uid = make_user(email="ann@example.com", display_name="Ann")
    with app.app_context():
        db.session.execute(db.update(User).where(User.id == uid).values(locale="en"))
        db.session.commit()
    ask(app, "ann@example.com")
    [message] = outbox(app, "ann@example.com")
    assert message["Subject"] == "Reset your password"
    assert "works once, for 60 minutes" in message.get_body(("plain",)).get_content()
    forms = Browserless(app.test_client())
    forms.post("/locale", {"locale": "en"}, form_path="/")
    page = forms.client.get("/password/forgot").get_data(as_text=True)
    assert "<h1>Forgot your password?</h1>" in page and "Send me a link" in page
    assert 'href="/password/forgot">Forgot your password?</a>' in forms.client.get("/login").get_data(as_text=True)
    used = forms.client.get("/password/reset/" + "x" * 40).get_data(as_text=True)
    assert "This link is not valid." in used and "Ask for a new link" in used
