"""Sign-up, login, logout and password change, as plain forms and through htmx."""
import re

from crowdfund.models import User


def error_texts(response):
    return re.findall(r'<p class="error[^"]*"[^>]*>([^<]+)</p>', response.get_data(as_text=True))


def logged_in_as(client):
    page = client.get("/account/")
    if page.status_code != 200:
        return None
    return re.search(r"<dt>[^<]+</dt><dd>([^<]+@[^<]+)</dd>", page.get_data(as_text=True)).group(1)


def test_signup_plain_form_mails_a_link_that_logs_in(client, forms, app):
    response = forms.signup(email="Ann@Example.com", name="安妮", confirm=False)
    assert response.status_code == 303 and response.location == "/signup/sent"
    assert "请查收邮件" in client.get("/signup/sent").get_data(as_text=True)
    assert logged_in_as(client) is None, "the mailed link finishes the sign-up"
    with app.app_context():
        user = User.query.filter_by(email="ann@example.com").one()
        assert user.terms_version and user.privacy_version and user.email_verified_at is None
    confirmed = forms.confirm_email("ann@example.com")
    assert confirmed.status_code == 303 and confirmed.location == "/"
    assert "邮箱已确认。欢迎你，安妮！" in client.get("/").get_data(as_text=True)
    assert logged_in_as(client) == "ann@example.com"


def test_signup_with_htmx_redirects_by_header_and_errors_return_the_block(client, forms):
    bad = forms.post("/signup", {"email": "not-an-email", "display_name": "", "password": "short",
                                 "confirm": "other"}, htmx=True)
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "<html" not in body and body.lstrip().startswith('<form id="signup_form"')
    assert "HX-Request" in bad.vary
    assert set(error_texts(bad)) >= {"请输入有效的邮箱地址。", "两次输入的密码不一致。", "注册前需同意以上两份文件。"}
    good = forms.post("/signup", {"email": "bob@example.com", "display_name": "Bob", "password": "correct horse 1",
                                  "confirm": "correct horse 1", "accept_terms": "y"}, htmx=True)
    assert good.status_code == 200 and good.headers["HX-Redirect"] == "/signup/sent"
    assert logged_in_as(client) is None
    forms.confirm_email("bob@example.com")
    assert logged_in_as(client) == "bob@example.com"


def test_signup_plain_errors_rerender_the_full_page_with_422(forms):
    response = forms.signup(accept_terms="")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" in body
    assert 'aria-invalid="true"' in body and 'aria-describedby="accept_terms-error"' in body


def test_signup_with_a_taken_email_says_nothing_about_it(forms, make_user):
    make_user(email="ann@example.com")
    response = forms.signup(email="ANN@example.com", confirm=False)
    assert response.status_code == 303 and response.location == "/signup/sent"


def test_logged_in_visitors_skip_the_login_and_signup_forms(client, forms, make_user):
    make_user(email="ann@example.com")
    forms.login()
    assert client.get("/login?next=/account/").location == "/account/"
    assert client.get("/signup").location == "/"


def test_login_and_logout_plain(client, forms, make_user):
    make_user(email="ann@example.com")
    response = forms.login(next="/account/password")
    assert response.status_code == 303 and response.location == "/account/password"
    assert logged_in_as(client) == "ann@example.com"
    out = forms.logout()
    assert out.status_code == 303 and out.location == "/"
    assert logged_in_as(client) is None


def test_login_with_htmx(client, forms, make_user):
    make_user(email="ann@example.com")
    response = forms.post("/login", {"email": "ann@example.com", "password": "correct horse 1"}, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/"
    assert logged_in_as(client) == "ann@example.com"


def test_wrong_email_and_wrong_password_get_the_same_answer(forms, make_user):
    make_user(email="ann@example.com")
    wrong_password = forms.login(password="not my password")
    wrong_email = forms.login(email="nobody@example.com")
    assert wrong_password.status_code == wrong_email.status_code == 422
    assert error_texts(wrong_password) == error_texts(wrong_email) == ["邮箱或密码不正确。"]


def test_next_after_login_only_goes_to_this_site(client, forms, make_user):
    make_user(email="ann@example.com")
    for evil in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                 "http://localhost.evil.example/", " //evil.example", "/\t/evil.example", "\t//evil.example"]:
        response = forms.login(next=evil)
        assert response.status_code == 303 and response.location == "/", evil
        forms.logout()
    response = forms.login(next="/account/?tab=1")
    assert response.location == "/account/?tab=1"


def test_next_keeps_a_plain_anchor_only(client, forms, make_user):
    """Back to the place on the page (e.g. the comment form), but nothing that is not a plain anchor."""
    make_user(email="ann@example.com")
    assert forms.login(next="/projects/abc#comments").location == "/projects/abc#comments"
    forms.logout()
    assert forms.login(next="/projects/abc#x\"><script>").location == "/projects/abc"


def test_login_rotates_the_session(client, forms, make_user):
    make_user(email="ann@example.com")
    before = forms.token("/login")
    forms.login()
    after = forms.token("/account/")
    assert before != after
    # A token minted before login no longer works afterwards.
    stale = client.post("/account/", data={"csrf_token": before, "display_name": "Changed"})
    assert stale.status_code == 400


def test_remember_me_sets_a_long_lived_httponly_cookie(client, forms, make_user):
    make_user(email="ann@example.com")
    response = forms.login(remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("remember_token="))
    assert "HttpOnly" in remember and "SameSite=Lax" in remember and "Expires=" in remember
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    # The remember cookie alone logs the person back in.
    client.delete_cookie("session")
    assert logged_in_as(client) == "ann@example.com"


def test_change_password_plain_and_other_sessions_end(app, client, forms, make_user):
    make_user(email="ann@example.com")
    other_device = app.test_client()
    forms.login()
    from tests.conftest import Browserless

    Browserless(other_device).login()
    assert logged_in_as(other_device) == "ann@example.com"

    wrong = forms.post("/account/password", {"current_password": "nope", "password": "new password 2",
                                             "confirm": "new password 2"})
    assert wrong.status_code == 422 and "当前密码不正确。" in error_texts(wrong)
    ok = forms.post("/account/password", {"current_password": "correct horse 1", "password": "new password 2",
                                          "confirm": "new password 2"})
    assert ok.status_code == 303
    assert logged_in_as(client) == "ann@example.com", "this device stays logged in"
    assert logged_in_as(other_device) is None, "other devices are signed out"
    forms.logout()
    assert forms.login(password="new password 2").status_code == 303


def test_change_password_with_htmx_reloads_the_page_for_fresh_tokens(client, forms, make_user):
    make_user(email="ann@example.com")
    forms.login()
    wrong = forms.post("/account/password", {"current_password": "nope", "password": "new password 2",
                                              "confirm": "new password 2"}, htmx=True)
    assert wrong.status_code == 422 and wrong.get_data(as_text=True).lstrip().startswith('<form id="password_form"')
    response = forms.post("/account/password", {"current_password": "correct horse 1", "password": "new password 2",
                                                 "confirm": "new password 2"}, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/account/password"
    assert "密码已修改" in client.get("/account/password").get_data(as_text=True)
    assert logged_in_as(client) == "ann@example.com"
    assert forms.logout().status_code == 303, "forms on the reloaded page work"


def test_profile_edit_plain_and_htmx(client, forms, make_user):
    make_user(email="ann@example.com")
    forms.login()
    assert forms.post("/account/", {"display_name": "Annie"}).status_code == 303
    assert "Annie" in client.get("/account/").get_data(as_text=True)
    response = forms.post("/account/", {"display_name": ""}, form_path="/account/", htmx=True)
    assert response.status_code == 422 and response.get_data(as_text=True).lstrip().startswith('<form id="profile_form"')
    response = forms.post("/account/", {"display_name": "安妮"}, htmx=True)
    assert response.status_code == 200 and "资料已保存。" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(client, make_user):
    make_user(email="ann@example.com")
    for path, data in [("/login", {"email": "ann@example.com", "password": "correct horse 1"}),
                       ("/signup", {"email": "x@example.com"}), ("/logout", {}), ("/locale", {"locale": "en"})]:
        plain = client.post(path, data=data)
        assert plain.status_code == 400, path
        assert "表单已过期或并非来自本站" in plain.get_data(as_text=True)
        htmx = client.post(path, data=data, headers={"HX-Request": "true"})
        assert htmx.status_code == 400 and "<html" not in htmx.get_data(as_text=True)
        assert htmx.headers["HX-Retarget"] == "#messages"
    assert logged_in_as(client) is None


def test_csrf_token_in_htmx_header_is_accepted(client, forms, make_user):
    make_user(email="ann@example.com")
    token = forms.token("/login")
    response = client.post("/login", data={"email": "ann@example.com", "password": "correct horse 1"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/"


def test_login_is_rate_limited_with_a_friendly_page(make_app, make_user):
    app = make_app(RATELIMIT_LOGIN="3 per minute")
    from tests.conftest import Browserless

    forms = Browserless(app.test_client())
    make_user(email="ann@example.com")
    for _ in range(3):
        assert forms.login(password="wrong").status_code == 422
    blocked = forms.login()
    body = blocked.get_data(as_text=True)
    assert blocked.status_code == 429
    assert "尝试次数过多" in body and "<html" in body and "Traceback" not in body
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    assert forms.client.get("/login").status_code == 200, "only attempts are limited, not the page"


def test_signup_is_rate_limited(make_app):
    app = make_app(RATELIMIT_SIGNUP="2 per minute")
    from tests.conftest import Browserless

    forms = Browserless(app.test_client())
    assert forms.signup(email="a@example.com", confirm=False).status_code == 303
    assert forms.signup(email="b@example.com", confirm=False).status_code == 303
    blocked = forms.post("/signup", {"email": "c@example.com"}, htmx=True)
    assert blocked.status_code == 429 and "<html" not in blocked.get_data(as_text=True)
