"""下载我的数据 and 注销账号 as pages and forms, plain and through htmx."""
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from crowdfund import comments, lifecycle, privacy
from crowdfund.extensions import db
from crowdfund.models import DataExport, Project, User
from crowdfund.queueing import background_jobs
from tests.conftest import Browserless

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=timezone.utc)  # the fixed clock: privacy.utcnow answers this


class Clock:
    def __init__(self, monkeypatch):
        self.now = NOW
        monkeypatch.setattr(privacy, "utcnow", lambda: self.now)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def request_export(app, forms, htmx=False):
    """Press "Prepare my data" and wait for the background job."""
    response = forms.post("/account/data", {}, htmx=htmx)
    assert background_jobs(app).wait(20)
    return response


def latest(app):
    with app.app_context():
        return db.session.scalar(select(DataExport).order_by(DataExport.id.desc()))


def test_profile_links_to_download_and_delete(client, login_as):
    login_as()
    body = client.get("/account/").get_data(as_text=True)
    assert 'href="/account/data"' in body and "下载我的数据" in body
    assert 'href="/account/delete"' in body and "注销账号" in body


def test_anonymous_visitors_are_sent_to_login(client):
    for path in ("/account/data", "/account/delete"):
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/login?next=")


def test_request_prepare_and_download_the_zip(app, client, forms, login_as, clock):
    email = login_as()
    assert "你还没有申请过下载数据。" in client.get("/account/data").get_data(as_text=True)
    response = request_export(app, forms)
    assert response.status_code == 303 and response.location == "/account/data"
    export = latest(app)
    assert export.status == "ready" and export.expires_at == NOW + timedelta(hours=24)
    page = client.get("/account/data")
    body = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert f'href="/account/data/{export.id}/download"' in body and "可下载至" in body
    download = client.get(f"/account/data/{export.id}/download")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert json.loads(archive.read("profile.json"))[0]["email"] == email
    assert {"pledges.csv", "messages.json", "legal_acceptances.csv"} <= set(archive.namelist())


def test_the_download_is_for_its_owner_only(app, client, forms, login_as, clock):
    login_as()
    request_export(app, forms)
    path = f"/account/data/{latest(app).id}/download"
    assert client.get(path).status_code == 200
    anonymous = app.test_client()
    assert anonymous.get(path).status_code == 404
    other = app.test_client()
    Browserless(other).signup(email="other@example.com")
    assert other.get(path).status_code == 404
    assert other.get("/account/data/999999/download").status_code == 404


def test_after_24_hours_the_download_is_gone(app, client, forms, login_as, clock):
    login_as()
    request_export(app, forms)
    export = latest(app)
    path = f"/account/data/{export.id}/download"
    clock.now = NOW + timedelta(hours=23, minutes=59)
    assert client.get(path).status_code == 200
    clock.now = NOW + timedelta(hours=24)
    assert client.get(path).status_code == 404
    assert "过期，文件已删除" in client.get("/account/data").get_data(as_text=True)
    with app.app_context():
        assert privacy.expire_exports(now=clock.now) == 1
    assert latest(app).status == "expired" and latest(app).storage_key is None


def test_while_pending_the_status_polls_itself_and_reloads_without_js(app, client, forms, login_as, monkeypatch):
    login_as()
    monkeypatch.setattr(privacy, "enqueue", lambda *args, **kwargs: None)  # a worker that has not started yet
    forms.post("/account/data", {})
    body = client.get("/account/data").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in body and 'http-equiv="refresh"' in body and 'href="/account/data"' in body
    fragment = client.get("/account/data", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text
    assert text.strip().startswith('<section id="export_status"') and "正在准备" in text
    again = forms.post("/account/data", {}, form_path="/account/")
    assert again.status_code == 303
    assert "你的数据已在准备中" in client.get("/account/data").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(DataExport.id))) == 1


def test_htmx_request_redirects_to_the_page(app, client, forms, login_as, clock):
    login_as()
    response = request_export(app, forms, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/account/data"


def test_export_requests_are_rate_limited_with_a_clear_message(make_app, clock):
    app = make_app(RATELIMIT_DATA_EXPORT="2 per day")
    client = app.test_client()
    forms = Browserless(client)
    forms.signup()
    for _ in range(2):
        assert request_export(app, forms).status_code == 303
    refused = forms.post("/account/data", {}, form_path="/account/")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "你最近已经申请过 2 次数据" in body
    with app.app_context():
        assert db.session.scalar(select(db.func.count(DataExport.id))) == 2


# ---- deletion -----------------------------------------------------------------------------------------------


def test_delete_page_explains_and_asks_for_the_password(client, login_as):
    login_as()
    body = client.get("/account/delete").get_data(as_text=True)
    assert 'name="password"' in body and 'name="confirm"' in body and "永久注销我的账号" in body


def test_deletion_needs_the_password_and_the_box(app, client, forms, login_as):
    email = login_as()
    wrong = forms.post("/account/delete", {"password": "not it", "confirm": "y"})
    assert wrong.status_code == 422 and "密码不正确。" in wrong.get_data(as_text=True)
    unticked = forms.post("/account/delete", {"password": "correct horse 1"})
    assert unticked.status_code == 422 and "请勾选以确认。" in unticked.get_data(as_text=True)
    fragment = forms.post("/account/delete", {"password": "not it", "confirm": "y"}, htmx=True)
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 422 and "<html" not in text and text.strip().startswith('<div id="delete_form"')
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == email)).deleted_at is None


def test_deletion_is_refused_with_the_reasons(app, client, forms, make_project, make_user):
    creator = make_user(email="bob@example.com", roles=["creator"])
    make_project(status="live", creator=creator, title="Bob 的台灯")
    forms.login(email="bob@example.com")
    page = client.get("/account/delete").get_data(as_text=True)
    assert "你的账号暂时不能注销" in page and "Bob 的台灯" in page and 'name="password"' not in page
    response = forms.post("/account/delete", {"password": "correct horse 1", "confirm": "y"},
                          form_path="/account/")
    assert response.status_code == 422 and "Bob 的台灯" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, creator).deleted_at is None


def test_successful_deletion_logs_out_and_anonymises_everywhere(app, client, forms, make_project, make_user):
    creator = make_user(email="bob@example.com", display_name="Bob Creator", roles=["creator"])
    fan = make_user(email="fan@example.com", display_name="Fan Backer")
    slug = make_project(status="live", creator=creator)
    with app.app_context():
        project = db.session.scalar(select(Project).where(Project.slug == slug))
        comments.add_comment(project, db.session.get(User, creator), "Bob's own words about the lamp")
        comments.add_comment(project, db.session.get(User, fan), "Fan's comment")
        lifecycle.transition(project, "cancelled")  # cancelled before anyone paid: nothing is owed
    forms.login(email="bob@example.com")
    response = forms.post("/account/delete", {"password": "correct horse 1", "confirm": "y"})
    assert response.status_code == 303 and response.location == "/"
    assert "你的账号已注销" in client.get("/").get_data(as_text=True)
    assert client.get("/account/").status_code == 302  # logged out
    project_page = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert "Bob Creator" not in project_page and "已注销用户" in project_page
    assert "Bob's own words" not in project_page and "Fan's comment" in project_page
    assert "该内容已随作者注销账号删除" in project_page
    relogin = forms.login(email="bob@example.com")
    assert relogin.status_code == 422
    # The e-mail is free again: a confirmation link arrives, and following it logs the new account in.
    assert forms.signup(email="bob@example.com", name="New Bob").location == "/"


def test_deleted_users_show_as_deleted_in_lists(app, client, forms, make_project, make_user, login_as):
    fan = make_user(email="fan@example.com", display_name="Fan Backer")
    slug = make_project(status="live", paid=[(fan, 10_00, None)])
    with app.app_context():
        user = db.session.get(User, fan)
        user.deleted_at, user.display_name = NOW, privacy.DELETED_NAME  # as delete_account leaves it
        db.session.commit()
    backers = client.get(f"/projects/{slug}/backers").get_data(as_text=True)
    assert "已注销用户" in backers and "Fan Backer" not in backers
    login_as("admin")
    admin = client.get("/admin/users").get_data(as_text=True)
    assert "已注销用户" in admin and "注销于" in admin


def test_english_readers_see_deleted_user(app, client, forms, make_project, make_user):
    creator = make_user(email="bob@example.com", display_name="Bob Creator", roles=["creator"])
    slug = make_project(status="live", creator=creator)
    with app.app_context():
        user = db.session.get(User, creator)
        user.deleted_at, user.display_name = NOW, privacy.DELETED_NAME
        db.session.commit()
    forms.post("/locale", {"locale": "en", "next": f"/projects/{slug}"}, form_path="/")
    assert "Deleted user" in client.get(f"/projects/{slug}").get_data(as_text=True)
