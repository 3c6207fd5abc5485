"""Session and account controls (issue 12 point 4): server-side login sessions, logout everywhere, __Host-
cookies, no-store private pages, the admins' audit log."""
import hashlib
import hmac
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from crowdfund import accounts, audit, pagecache
from crowdfund.extensions import db
from crowdfund.models import AuditEntry, LoginSession, Role, User
from crowdfund.private_pages import PRIVATE_BLUEPRINTS, is_private
from tests.conftest import Browserless

ANDROID_WECHAT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.47")
WINDOWS_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0")
# A fixed moment for rows whose time the tests set themselves.
FIXED = datetime(2026, 3, 1, 20, 0, tzinfo=timezone.utc)  # 2026-03-02 04:00 in Asia/Shanghai


def signed_in(client):
    """Whether the client's cookies get the account page (not a redirect to the login page)."""
    return client.get("/account/").status_code == 200


def device(app, email="ann@example.com", remember=False, user_agent=WINDOWS_EDGE):
    """A second browser logged in to the same account."""
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = user_agent
    response = Browserless(other).login(email=email, **({"remember": "y"} if remember else {}))
    assert response.status_code == 303
    return other


def rows_of(app, email="ann@example.com"):
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        return db.session.scalars(db.select(LoginSession).filter_by(user_id=user.id).order_by(LoginSession.id)).all()


def test_replaying_the_session_or_remember_cookie_after_logout_is_anonymous(app, client, forms, make_user):
    make_user(email="ann@example.com")
    assert forms.login(remember="y").status_code == 303
    session_cookie = client.get_cookie("session").value
    remember_cookie = client.get_cookie("remember_token").value

    before = app.test_client()
    before.set_cookie("session", session_cookie)
    assert signed_in(before), "the captured session cookie works while the session lives"
    before = app.test_client()
    before.set_cookie("remember_token", remember_cookie)
    assert signed_in(before), "the captured remember cookie works while the session lives"

    assert forms.logout().status_code == 303
    assert not signed_in(client)
    replay_session = app.test_client()
    replay_session.set_cookie("session", session_cookie)
    assert not signed_in(replay_session)
    replay_remember = app.test_client()
    replay_remember.set_cookie("remember_token", remember_cookie)
    assert not signed_in(replay_remember)
    both = app.test_client()
    both.set_cookie("session", session_cookie)
    both.set_cookie("remember_token", remember_cookie)
    assert not signed_in(both)
    assert rows_of(app)[0].revoked_at is not None


def test_each_login_is_a_row_with_a_hashed_key_address_and_browser(app, client, forms, make_user):
    make_user(email="ann@example.com")
    client.environ_base["HTTP_USER_AGENT"] = ANDROID_WECHAT + " " + "x" * 300
    forms.login(remember="y")
    device(app)
    first, second = rows_of(app)
    identity = client.get_cookie("session")  # signed, not encrypted: the key is in there, never in the table
    assert identity is not None
    with app.app_context():
        expected_ip = hmac.new(app.config["SECRET_KEY"].encode(), b"127.0.0.1", hashlib.sha256).hexdigest()
    assert first.ip_hash == second.ip_hash == expected_ip and "127.0.0.1" not in first.ip_hash
    assert first.remember is True and second.remember is False
    assert len(first.user_agent) == 200 and first.user_agent.startswith("Mozilla/5.0 (Linux; Android 14")
    assert first.key_hash != second.key_hash and len(first.key_hash) == 64
    assert first.revoked_at is None and first.created_at <= first.last_seen_at


def test_last_seen_is_written_at_most_every_few_minutes(app, client, forms, make_user):
    make_user(email="ann@example.com")
    forms.login()
    with app.app_context():
        row = db.session.scalar(db.select(LoginSession))
        created = row.created_at
        row.last_seen_at = created - timedelta(minutes=1)
        db.session.commit()
    assert signed_in(client)
    assert rows_of(app)[0].last_seen_at == created - timedelta(minutes=1), "seen a minute ago: not rewritten"
    with app.app_context():
        row = db.session.scalar(db.select(LoginSession))
        row.last_seen_at = created - timedelta(minutes=10)
        db.session.commit()
    assert signed_in(client)
    assert rows_of(app)[0].last_seen_at > created - timedelta(minutes=1), "ten minutes old: refreshed"


def test_the_account_page_lists_devices_and_signs_one_out(app, client, forms, make_user):
    make_user(email="ann@example.com")
    client.environ_base["HTTP_USER_AGENT"] = ANDROID_WECHAT
    forms.login()
    laptop = device(app, remember=True)
    page = client.get("/account/").get_data(as_text=True)
    assert "登录设备" in page
    assert "WeChat · Android" in page and "Edge · Windows" in page
    assert page.count('<span class="tag ok">此设备</span>') == 1
    mine, laptop_row = rows_of(app)
    assert f'action="/account/sessions/{laptop_row.id}/revoke"' in page
    assert f'action="/account/sessions/{mine.id}/revoke"' not in page, "this device signs out with 退出登录"
    laptop_remember = laptop.get_cookie("remember_token").value

    response = forms.post(f"/account/sessions/{laptop_row.id}/revoke", {}, form_path="/account/")
    assert response.status_code == 303 and response.location == "/account/#sessions"
    assert "该设备已退出登录。" in client.get("/account/").get_data(as_text=True)
    assert signed_in(client) and not signed_in(laptop)
    replay = app.test_client()
    replay.set_cookie("remember_token", laptop_remember)
    assert not signed_in(replay)
    page = client.get("/account/").get_data(as_text=True)
    assert "Edge · Windows" not in page


def test_nobody_signs_out_someone_elses_device(app, client, forms, make_user):
    make_user(email="ann@example.com")
    make_user(email="bob@example.com")
    ann = device(app)
    forms.login(email="bob@example.com")
    ann_row = rows_of(app)[0]
    response = forms.post(f"/account/sessions/{ann_row.id}/revoke", {}, form_path="/account/")
    assert response.status_code == 404  # not one of Bob's devices: as if it did not exist
    assert signed_in(ann) and rows_of(app)[0].revoked_at is None


def test_log_out_everywhere_ends_every_session_and_rotates_the_token(app, client, forms, make_user):
    user_id = make_user(email="ann@example.com")
    forms.login(remember="y")
    phone = device(app, remember=True, user_agent=ANDROID_WECHAT)
    cookies = [client.get_cookie("session").value, phone.get_cookie("remember_token").value]
    with app.app_context():
        token = db.session.get(User, user_id).session_token
    response = forms.post("/account/sessions/revoke-all", {}, form_path="/account/")
    assert response.status_code == 303 and response.location == "/login"
    assert "已在所有设备上退出登录。" in client.get("/login").get_data(as_text=True)
    assert not signed_in(client) and not signed_in(phone)
    for name, value in zip(("session", "remember_token"), cookies):
        replay = app.test_client()
        replay.set_cookie(name, value)
        assert not signed_in(replay), name
    assert all(row.revoked_at is not None for row in rows_of(app))
    with app.app_context():
        assert db.session.get(User, user_id).session_token != token
    assert forms.login().status_code == 303 and signed_in(client), "logging in again works"


def test_password_change_keeps_this_session_and_revokes_the_others(app, client, forms, make_user):
    make_user(email="ann@example.com")
    forms.login(remember="y")
    other = device(app, remember=True)
    other_remember = other.get_cookie("remember_token").value
    mine_before = rows_of(app)[0]
    response = forms.post("/account/password", {"current_password": "correct horse 1", "password": "new password 2",
                                                "confirm": "new password 2"})
    assert response.status_code == 303
    assert signed_in(client) and not signed_in(other)
    replay = app.test_client()
    replay.set_cookie("remember_token", other_remember)
    assert not signed_in(replay)
    mine, theirs = rows_of(app)
    assert mine.id == mine_before.id and mine.revoked_at is None and theirs.revoked_at is not None
    # The remember cookie of this device still names a live session.
    kept = app.test_client()
    kept.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert signed_in(kept)


def test_host_prefixed_cookies_under_https(make_app, make_user):
    app = make_app(SESSION_COOKIE_SECURE=True)
    make_user(email="ann@example.com")
    client = app.test_client()
    https = "https://localhost"
    form = client.get("/login", base_url=https)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    # Under https Flask-WTF also checks that the Referer is this site.
    response = client.post("/login", base_url=https, headers={"Referer": f"{https}/login"},
                           data={"csrf_token": token, "email": "ann@example.com", "password": "correct horse 1",
                                 "remember": "y"})
    assert response.status_code == 303
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("__Host-session", "__Host-remember"):
        cookie = next(c for c in cookies if c.startswith(name + "="))
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes, cookie
        assert not any(a.startswith("domain=") for a in attributes), cookie
    assert not any(c.startswith(("session=", "remember_token=")) for c in cookies)
    assert client.get("/account/", base_url=https).status_code == 200
    remembered = app.test_client()
    remembered.set_cookie("__Host-remember", client.get_cookie("__Host-remember").value)
    assert remembered.get("/account/", base_url=https).status_code == 200, "the remember cookie works by its name"


def private_get_rules(app):
    with app.app_context():
        rules = [rule for rule in app.url_map.iter_rules() if "GET" in rule.methods and is_private(rule.endpoint)]
    return sorted(rules, key=lambda rule: rule.endpoint)


def test_account_pledge_and_payment_pages_are_no_store_and_out_of_htmx_history(app, client, forms, make_user,
                                                                              make_project):
    from crowdfund.models import Pledge
    from crowdfund.notifications import unsubscribe_token

    backer = make_user(email="ann@example.com")
    slug = make_project(paid=[(backer, 99_00, 0)])
    forms.login()
    with app.app_context():
        pledge_id = db.session.scalar(db.select(Pledge.id).filter_by(backer_id=backer))
        values = {"slug": slug, "pledge_id": pledge_id, "provider": "alipay",
                  "token": unsubscribe_token(backer, "pledge_paid"),
                  "export_id": 1}  # no such export: a 404, which must be no-store too
    rules = private_get_rules(app)
    endpoints = {rule.endpoint for rule in rules}
    assert {"account.profile", "account.password", "account.points", "pledges.back", "pledges.show", "pledges.mine",
            "pledges.addresses", "notices.index", "payments.return_"} <= endpoints
    # Views elsewhere opt in with @private: the e-mail confirmation pages and the password-reset page (their URL
    # carries the link), the page waiting for a sign-in code, the development SMS inbox.
    opted_in = {rule.endpoint for rule in rules if rule.endpoint.partition(".")[0] not in PRIVATE_BLUEPRINTS}
    assert opted_in == {"auth.verify_email", "auth.verify_status", "auth.reset_password", "auth.phone_login_code",
                        "devsms.inbox"}
    assert {rule.endpoint.partition(".")[0] for rule in rules} - {"auth", "devsms"} == PRIVATE_BLUEPRINTS
    pages = 0
    for rule in rules:
        missing = rule.arguments - values.keys()
        assert not missing, f"give the test a value for {missing} of {rule.endpoint}"
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})
        response = client.get(url)
        assert response.headers.get("Cache-Control") == "no-store", rule.endpoint
        if response.status_code == 200 and response.mimetype == "text/html" and "<main" in response.text:
            assert re.search(r'<main id="main"[^>]*hx-history="false"', response.text), rule.endpoint
            pages += 1
    assert pages >= 6
    public = client.get(f"/projects/{slug}")
    assert "no-store" not in public.headers.get("Cache-Control", "") and 'hx-history="false"' not in public.text
    fragment = client.get("/account/", headers={"HX-Request": "true"})
    assert fragment.headers["Cache-Control"] == "no-store"


def test_the_page_cache_never_stores_a_private_page(make_app, redis_url, make_user, monkeypatch):
    from redis import Redis

    from crowdfund.notifications import unsubscribe_token

    Redis.from_url(redis_url).flushdb()
    app = make_app(REDIS_URL=redis_url, PAGE_CACHE_SECONDS=300)
    user = make_user(email="ann@example.com")
    with app.app_context():
        token = unsubscribe_token(user, "pledge_paid")
    assert not pagecache.CACHED_ENDPOINTS & {rule.endpoint for rule in private_get_rules(app)}
    # Even listed by mistake, a private page is neither served from nor stored in the cache.
    monkeypatch.setattr(pagecache, "CACHED_ENDPOINTS", pagecache.CACHED_ENDPOINTS | {"notices.unsubscribe"})
    client = app.test_client()
    for _ in range(2):
        response = client.get(f"/unsubscribe/{token}")
        assert response.status_code == 200 and "X-Page-Cache" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"
    assert not Redis.from_url(redis_url).keys("crowdfund:page:*")


def test_common_passwords_are_refused_at_sign_up_and_password_change(app, client, forms, make_user):
    message = "这个密码太常见，很容易被猜到，请换一个。"
    refused = forms.signup(password="PASSWORD1")
    assert refused.status_code == 422 and message in refused.text
    assert forms.signup(password="sunshine").status_code == 422
    make_user(email="bob@example.com")
    forms.login(email="bob@example.com")
    change = forms.post("/account/password", {"current_password": "correct horse 1", "password": "iloveyou",
                                              "confirm": "iloveyou"})
    assert change.status_code == 422 and message in change.text
    forms.logout()
    assert forms.login(email="bob@example.com").status_code == 303, "the old password still holds"
    with app.app_context():
        with pytest.raises(accounts.WeakPassword):
            accounts.register("cat@example.com", "Cat", "qwerty123")
        bob = db.session.scalar(db.select(User).filter_by(email="bob@example.com"))
        with pytest.raises(accounts.WeakPassword):
            accounts.change_password(bob, "correct horse 1", "football")
        with pytest.raises(accounts.WeakPassword):
            accounts.register("cat@example.com", "Cat", "short")
        assert accounts.register("cat@example.com", "Cat", "a long uncommon phrase").id


def test_the_common_password_list_has_ten_thousand_entries(repo_root):
    lines = (repo_root / "crowdfund/data/common-passwords.txt").read_text(encoding="utf-8").splitlines()
    header = [line for line in lines if line.startswith("#")]
    entries = [line for line in lines if line and not line.startswith("#")]
    assert header and "zxcvbn" in header[0], "the file says where the list came from"
    assert len(entries) == len(set(entries)) == 10_000
    assert entries[:3] == ["123456", "password", "12345678"], "most common first"
    from crowdfund import passwords

    assert passwords.common_passwords() == frozenset(entries)
    assert "common-passwords.txt" in (repo_root / "pyproject.toml").read_text() or \
        "data/*.txt" in (repo_root / "pyproject.toml").read_text()


def audit_row(actor_id, action, object_type, object_id, created_at, **details):
    return AuditEntry(actor_id=actor_id, action=action, object_type=object_type, object_id=object_id,
                      details=details, created_at=created_at)


@pytest.mark.parametrize("roles, status", [((), 403), (("moderator",), 403), (("finance",), 403), (("admin",), 200)])
def test_the_audit_log_is_for_admins_only(client, login_as, roles, status):
    assert client.get("/admin/audit").status_code == 302
    login_as(*roles)
    assert client.get("/admin/audit").status_code == status


def test_the_audit_log_filters_by_actor_action_object_and_dates(app, client, login_as, make_user):
    login_as("admin")
    mod = make_user(email="mod@example.com", display_name="审核员小王")
    fin = make_user(email="fin@example.com", display_name="财务小李")
    with app.app_context():
        db.session.add_all([
            audit_row(mod, "project.approve", "projects", 7, FIXED),
            audit_row(mod, "project.reject", "projects", 8, FIXED - timedelta(days=3), reason="侵权"),
            audit_row(fin, "withdrawal.approve", "withdrawals", 3, FIXED - timedelta(days=10)),
        ])
        db.session.commit()
    page = client.get("/admin/audit").text
    assert '<a href="/admin/audit" aria-current="page">' in page
    assert "project.approve" in page and "withdrawal.approve" in page and "侵权" in page

    def shown(**query):
        response = client.get("/admin/audit", query_string=query)
        assert response.status_code == 200
        return set(re.findall(r"<code>([\w.]+)</code>", response.text))

    assert shown(actor="MOD@example") == {"project.approve", "project.reject"}
    assert shown(actor="小李") == {"withdrawal.approve"}
    assert shown(action="project.reject") == {"project.reject"}
    assert shown(object_type="withdrawals") == {"withdrawal.approve"}
    # Dates are days in Asia/Shanghai: FIXED is 2026-03-02 04:00 there.
    assert shown(since="2026-03-02", until="2026-03-02") == {"project.approve"}
    assert shown(since="2026-02-26", until="2026-03-01") == {"project.reject"}
    assert shown(until="2026-02-20") == {"withdrawal.approve"}
    assert shown(actor="mod@", since="2026-02-01") == {"project.approve", "project.reject"}
    bad = client.get("/admin/audit", query_string={"since": "2026-03-05", "until": "2026-03-01"})
    assert bad.status_code == 422 and "结束日期早于开始日期。" in bad.text
    fragment = client.get("/admin/audit", query_string={"action": "project.approve"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="audit_list">')


def test_the_audit_log_is_paginated_keeping_the_filters(app, client, login_as, make_user):
    login_as("admin")
    mod = make_user(email="mod@example.com")
    with app.app_context():
        db.session.add_all([audit_row(mod, "project.feature", "projects", n, FIXED - timedelta(minutes=n))
                            for n in range(1, 56)])
        db.session.commit()
    first = client.get("/admin/audit?action=project.feature").text
    assert first.count("<code>project.feature</code>") == audit.PER_PAGE
    assert "projects #1<" in first and "projects #51<" not in first
    next_link = re.search(r'href="(/admin/audit\?[^"]*page=2[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "action=project.feature" in next_link
    second = client.get(next_link).text
    assert second.count("<code>project.feature</code>") == 5 and "projects #55<" in second
    assert "page=1" in second and "page=3" not in second


def test_role_changes_are_audited_and_shown(app, client, forms, login_as, make_user):
    admin_email = login_as("admin")
    target = make_user(email="new-mod@example.com")
    response = forms.post(f"/admin/users/{target}/roles", {f"u{target}-roles": ["moderator", "finance"]},
                          form_path="/admin/users")
    assert response.status_code == 303
    forms.post(f"/admin/users/{target}/roles", {f"u{target}-roles": ["finance"]}, form_path="/admin/users")
    with app.app_context():
        admin = db.session.scalar(db.select(User).filter_by(email=admin_email))
        entries = db.session.scalars(db.select(AuditEntry).filter_by(action="user.roles", object_id=target)
                                     .order_by(AuditEntry.id)).all()
        assert [(e.actor_id, e.object_type, e.details) for e in entries] == [
            (admin.id, "users", {"added": ["finance", "moderator"], "removed": []}),
            (admin.id, "users", {"added": [], "removed": ["moderator"]}),
        ]
        user = db.session.get(User, target)
        accounts.grant_role(user, Role.CREATOR, granted_by=admin)
        accounts.revoke_role(user, Role.CREATOR, revoked_by=admin)
        accounts.revoke_role(user, Role.CREATOR, revoked_by=admin)  # nothing held: nothing to record
        assert db.session.scalar(db.select(db.func.count(AuditEntry.id)).filter_by(object_id=target)) == 4
    assert "user.roles" in client.get("/admin/audit?object_type=users").text
    assert "/admin/audit" in client.get("/admin/users").text, "linked from the admin navigation"


def test_audit_rows_are_append_only(app, make_user):
    actor = make_user(email="mod@example.com")
    with app.app_context():
        db.session.add(audit_row(actor, "project.approve", "projects", 1, FIXED))
        db.session.commit()
        entry = db.session.scalar(db.select(AuditEntry))
        entry.action = "project.reject"
        with pytest.raises(audit.AppendOnly):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.scalar(db.select(AuditEntry)))
        with pytest.raises(audit.AppendOnly):
            db.session.commit()
        db.session.rollback()


def test_the_database_refuses_to_rewrite_audit_rows(app, make_user):
    actor = make_user(email="mod@example.com")
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            pytest.skip("the triggers exist on PostgreSQL and MySQL/MariaDB (SQLite relies on the ORM guard)")
        db.session.add(audit_row(actor, "project.approve", "projects", 1, FIXED, note="原始"))
        db.session.commit()
        for statement in ("UPDATE audit_log SET action = 'project.reject'",
                          "UPDATE audit_log SET details = '{}'",
                          "UPDATE audit_log SET actor_id = NULL, object_id = 2",
                          "DELETE FROM audit_log"):
            with pytest.raises(Exception, match="append-only"):
                with db.engine.begin() as conn:
                    conn.execute(text(statement))
        # Deleting the actor's account still works: only their foreign key becomes NULL.
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": actor})
        entry = db.session.scalar(db.select(AuditEntry))
        assert (entry.actor_id, entry.action, entry.object_id, entry.details) == (None, "project.approve", 1,
                                                                                 {"note": "原始"})


def test_describe_browser_names_common_browsers():
    from crowdfund.sessions import describe_browser

    assert describe_browser(ANDROID_WECHAT) == "WeChat · Android"
    assert describe_browser(WINDOWS_EDGE) == "Edge · Windows"
    assert describe_browser("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1") == "Safari · iOS"
    assert describe_browser("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0") == \
        "Firefox · Linux"
    assert describe_browser("") == "" and describe_browser(None) == ""


def test_an_identity_without_a_live_session_key_is_refused(app, make_user):
    from crowdfund.sessions import load

    user_id = make_user(email="ann@example.com")
    with app.app_context():
        user = db.session.get(User, user_id)
        for identity in (f"{user_id}:{user.session_token}", f"{user_id}:{user.session_token}:made-up",
                         f"{user_id}::", "", None, "99999999999999999999:a:b", f"{user_id}:a:b:c"):
            assert load(identity) is None, identity
