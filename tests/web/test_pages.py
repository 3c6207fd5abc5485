"""Pages, rendering modes, security headers, language switch, error pages and /healthz."""
import re

import pytest

from crowdfund.security import CONTENT_SECURITY_POLICY


def static_get_routes(app):
    """Every GET route that needs no URL arguments, plus examples of the others."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments:
            paths.append(rule.rule)
    return paths + ["/legal/terms", "/legal/privacy", "/static/css/site.css", "/no-such-page"]


def assert_security_headers(response, path):
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp.startswith(CONTENT_SECURITY_POLICY) and csp.endswith("; form-action 'self'"), path
    for part in ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
                 "frame-ancestors 'none'"]:
        assert part in csp, (path, part)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert response.headers["Referrer-Policy"], path


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_security_headers_on_every_route(app, client, login_as, who):
    if who == "admin":
        login_as("admin")
    paths = static_get_routes(app)
    assert "/" in paths and "/login" in paths and "/admin/users" in paths
    for path in paths:
        response = client.get(path)
        assert_security_headers(response, path)
        assert "Strict-Transport-Security" not in response.headers, "no HSTS over plain http"
    for path in ["/login", "/signup", "/logout", "/locale"]:
        assert_security_headers(client.post(path), path)


def test_hsts_and_secure_cookies_under_https(client, forms, make_user):
    make_user(email="ann@example.com")
    page = client.get("/login", base_url="https://localhost")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/login", base_url="https://localhost",
                           data={"csrf_token": token, "email": "ann@example.com",
                                 "password": "correct horse 1", "remember": "y"},
                           headers={"Referer": "https://localhost/login"})
    assert response.status_code == 303
    cookies = response.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cookies} == {"session", "remember_token"}
    assert all("; Secure" in c and "HttpOnly" in c for c in cookies), cookies


def test_pages_have_no_inline_script_and_load_vendored_htmx(client):
    body = client.get("/").get_data(as_text=True)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", body, re.S)
    assert scripts and all('src="/assets/' in attrs and not inner.strip() for attrs, inner in scripts)
    assert re.search(r'src="/assets/[0-9a-f]{12}/vendor/htmx-2\.\d+\.\d+\.min\.js"', body)
    assert "http://" not in body.split("<body")[0] and "https://" not in body.split("<body")[0]
    assert ' style="' not in body and " onclick=" not in body
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", body).group(1)
    import json

    settings = json.loads(config)
    assert settings["selfRequestsOnly"] is True
    assert settings["allowScriptTags"] is False and settings["allowEval"] is False
    assert {"code": "422", "swap": True} in settings["responseHandling"]
    assert re.search(r'<body hx-boost="true" hx-headers=\'\{"X-CSRFToken": "[^"]+"\}\'>', body)


def test_same_url_renders_full_page_or_fragment(client):
    full = client.get("/login")
    fragment = client.get("/login", headers={"HX-Request": "true"})
    boosted = client.get("/login", headers={"HX-Request": "true", "HX-Boosted": "true"})
    restore = client.get("/login", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert full.get_data(as_text=True).startswith("<!doctype html>")
    assert boosted.get_data(as_text=True).startswith("<!doctype html>")
    assert restore.get_data(as_text=True).startswith("<!doctype html>")
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "<header" not in body
    assert body.strip().startswith('<form id="login_form"') and body.strip().endswith("</form>")
    for response in (full, fragment, boosted):
        assert "HX-Request" in response.vary


def test_page_landmarks_labels_and_skip_link(client):
    body = client.get("/signup").get_data(as_text=True)
    assert '<a class="skip-link" href="#main">' in body
    for landmark in ("<header", "<main", "<footer", "<nav"):
        assert landmark in body
    ids = re.findall(r'<input[^>]+id="([^"]+)"[^>]*>', body)
    visible = [i for i in ids if f'id="{i}" name' in body and f'name="{i}" type="hidden"' not in body]
    for input_id in visible:
        if input_id in ("csrf_token", "next"):
            continue
        assert f'<label for="{input_id}">' in body, f"input {input_id} has no label"


def test_locale_switch_plain_and_remembered_on_the_account(client, forms, login_as, app):
    assert '<html lang="zh-CN">' in client.get("/").get_data(as_text=True)
    response = forms.post("/locale", {"locale": "en", "next": "/legal/terms"}, form_path="/")
    assert response.status_code == 303 and response.location == "/legal/terms"
    english = client.get("/legal/terms").get_data(as_text=True)
    assert '<html lang="en">' in english and "User agreement" in english and "用户协议" not in english
    assert forms.post("/locale", {"locale": "xx"}, form_path="/").status_code == 400
    assert forms.post("/locale", {"locale": "zh_CN", "next": "https://evil.example/"},
                      form_path="/").location == "/"

    email = login_as()
    forms.post("/locale", {"locale": "en"}, form_path="/")
    from crowdfund.models import User

    with app.app_context():
        assert User.query.filter_by(email=email).one().locale == "en"
    # A new session on another device picks the account's language after login.
    from tests.conftest import Browserless

    other = Browserless(app.test_client())
    assert other.login(email=email).status_code == 303
    assert '<html lang="en">' in other.client.get("/").get_data(as_text=True)


def test_locale_switch_reloads_the_whole_page_even_with_htmx(client):
    body = client.get("/").get_data(as_text=True)
    form = re.search(r'<form[^>]+class="locale-switch[^"]*"[^>]*>', body).group(0)
    assert 'hx-boost="false"' in form, "a boosted swap would leave <html lang> in the old language"


@pytest.mark.parametrize("code", [400, 403, 404, 422, 429, 500])
def test_error_pages_full_and_fragment(make_app, code):
    app = make_app()

    @app.route(f"/boom/{code}")
    def boom():
        if code == 500:
            raise RuntimeError("secret internals")
        from flask import abort

        abort(code)

    client = app.test_client()
    full = client.get(f"/boom/{code}")
    body = full.get_data(as_text=True)
    assert full.status_code == code
    assert "<!doctype html>" in body and f"错误代码 {code}" in body
    assert "Traceback" not in body and "secret internals" not in body
    assert_security_headers(full, f"/boom/{code}")
    fragment = client.get(f"/boom/{code}", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == code and "<html" not in text
    assert text.strip().startswith('<section id="error"')
    if code != 422:
        assert fragment.headers["HX-Retarget"] == "#messages"


def test_error_pages_in_english(client, forms):
    forms.post("/locale", {"locale": "en"}, form_path="/")
    body = client.get("/no-such-page").get_data(as_text=True)
    assert "Page not found" in body and "Error code 404" in body


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["database"] == "ok"
    assert response.json["redis"] == "not configured"


def test_healthz_is_503_when_redis_is_configured_but_down(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["redis"] == "unavailable" and response.json["database"] == "ok"


def test_healthz_is_503_when_the_database_is_down(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing-dir/nothing.sqlite")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["database"] == "unavailable"


def test_healthz_reports_redis_ok(make_app, redis_url):
    response = make_app(REDIS_URL=redis_url).test_client().get("/healthz")
    assert response.status_code == 200 and response.json["redis"] == "ok"


def test_home_lists_the_categories_and_each_lists_its_subcategories(app, client):
    from crowdfund.catalog import ensure_categories

    with app.app_context():
        ensure_categories()
    row = client.get("/").get_data(as_text=True).split('class="category-row"', 1)[1].split("</nav>", 1)[0]
    assert "科技" in row and "公益" in row and 'href="/categories/tech"' in row
    assert "智能硬件" in client.get("/categories/tech").get_data(as_text=True)


def test_money_and_dates_per_locale(app):
    from datetime import datetime, timezone

    from crowdfund.i18n import format_money, format_when

    with app.test_request_context("/"):
        assert format_money(123450) == "¥1,234.50"
        assert format_money(5) == "¥0.05"
        assert format_money(-100) == "-¥1.00"
        late_utc = datetime(2026, 1, 1, 16, 30, tzinfo=timezone.utc)
        assert "2026年1月2日" in format_when(late_utc) and "00:30" in format_when(late_utc)
    with app.test_request_context("/"):
        from flask import session

        session["locale"] = "en"
        assert format_money(123450) == "¥1,234.50"
        assert "Jan 2, 2026" in format_when(late_utc)

