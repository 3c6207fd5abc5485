"""Legal documents: versioned pages, administrators publishing, consents at sign-up, pledge and launch, re-consent."""
import hashlib
import hmac
import re

import pytest
from sqlalchemy import select

from crowdfund import legal
from crowdfund.extensions import db
from crowdfund.models import AuditEntry, Consent, LegalDocument, Pledge, Project, User
from tests.conftest import Browserless, csrf_from

ADDRESS = "203.0.113.7"  # TEST-NET-3: the client address every request below comes from
DOCS = ("terms", "privacy", "risk", "creator_rules")


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ADDRESS
    return client


def expected_hash(app):
    return hmac.new(app.config["SECRET_KEY"].encode(), ADDRESS.encode(), hashlib.sha256).hexdigest()


def consents(app, **where):
    with app.app_context():
        return db.session.scalars(select(Consent).filter_by(**where).order_by(Consent.id)).all()


def publish(app, key, label, actor_id=None, **text):
    with app.app_context():
        actor = db.session.get(User, actor_id) if actor_id else None
        doc = legal.publish(actor, key, label, title_zh=text.get("title_zh", f"新{key}"),
                            body_zh=text.get("body_zh", "## 变更\n\n新的条款。"),
                            title_en=text.get("title_en", f"New {key}"),
                            body_en=text.get("body_en", "## Changes\n\nNew terms."))
        return doc.version


def user_id(app, email):
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


# ---- pages --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key,zh,en", [("terms", "用户协议", "User agreement"), ("privacy", "隐私政策", "Privacy policy"),
                                       ("risk", "风险提示书", "Risk disclosure"),
                                       ("creator_rules", "项目发起规范", "Project rules")])
def test_every_document_is_seeded_in_both_languages(client, forms, key, zh, en):
    page = client.get(f"/legal/{key}").get_data(as_text=True)
    assert f"<h1>{zh}</h1>" in page and legal.INITIAL_VERSIONS[key] in page
    forms.post("/locale", {"locale": "en"}, form_path="/")
    english = client.get(f"/legal/{key}").get_data(as_text=True)
    assert f"<h1>{en}</h1>" in english and zh not in english.split("<main")[1].split("</main>")[0]


def test_creator_rules_list_the_prohibited_projects(client):
    page = client.get("/legal/creator_rules").get_data(as_text=True)
    for word in ("股权", "期货", "彩票", "烟草", "枪支", "毒品", "治愈"):
        assert word in page


def test_unknown_document_or_version_is_404(client):
    assert client.get("/legal/cookies").status_code == 404
    assert client.get("/legal/terms/no-such-version").status_code == 404


def test_new_version_is_current_and_older_ones_stay_readable(app, client):
    old = legal.INITIAL_VERSIONS["terms"]
    publish(app, "terms", "2027-01-15", body_zh="## 第二版\n\n<script>alert(1)</script>新的条款。")
    page = client.get("/legal/terms").get_data(as_text=True)
    assert "新的条款" in page and "<script>alert" not in page, "the Markdown went through the sanitizer"
    assert 'href="/legal/terms/2027-01-15"' in page and f'href="/legal/terms/{old}"' in page, "the version history"
    earlier = client.get(f"/legal/terms/{old}").get_data(as_text=True)
    assert "这是旧版本" in earlier and "欢迎使用众筹" in earlier and "新的条款" not in earlier


def test_published_versions_are_append_only(app):
    with app.app_context():
        doc = legal.current("terms")
        doc.body_zh = "悄悄改掉"
        with pytest.raises(legal.AppendOnly):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(legal.LegalError) as taken:
            legal.publish(None, "terms", doc.version, title_zh="x", body_zh="x", title_en="x", body_en="x")
        assert taken.value.code == "version_taken"


def test_footer_links_every_document_and_shows_the_filing_numbers(make_app):
    app = make_app(ICP_NUMBER="浙ICP备12345678号-1", PSB_NUMBER="浙公网安备33010602000001号")
    page = app.test_client().get("/").get_data(as_text=True)
    footer = page.split('<footer class="site-footer">')[1]
    for key in DOCS:
        assert f'href="/legal/{key}"' in footer
    assert "浙ICP备12345678号-1" in footer and 'href="https://beian.miit.gov.cn/"' in footer
    assert "浙公网安备33010602000001号" in footer and "code=33010602000001" in footer


def test_footer_without_filing_numbers_shows_none(client):
    footer = client.get("/").get_data(as_text=True).split('<footer class="site-footer">')[1]
    assert 'class="filings"' not in footer and 'href="/legal/risk"' in footer


# ---- administrators -----------------------------------------------------------------------------------------


def publish_form(client, **fields):
    token = csrf_from(client.get("/admin/legal"))
    data = {"csrf_token": token, "document": "privacy", "version": "2027-02-01", "title_zh": "隐私政策",
            "body_zh": "## 新增\n\n我们新增了短信登录。", "title_en": "Privacy policy",
            "body_en": "## New\n\nWe added SMS sign-in.", **fields}
    return client.post("/admin/legal", data=data)


def test_admin_publishes_a_new_version_audited(app, client, login_as):
    email = login_as("admin")
    page = client.get("/admin/legal?document=risk").get_data(as_text=True)
    assert "风险提示书" in page and "支持不是购物" in page, "the form starts from the current text"
    response = publish_form(client)
    assert response.status_code == 303 and response.location == "/admin/legal"
    assert "我们新增了短信登录" in client.get("/legal/privacy").get_data(as_text=True)
    with app.app_context():
        versions = [d.version for d in legal.history("privacy")]
        assert versions == ["2027-02-01", legal.INITIAL_VERSIONS["privacy"]], "the earlier version is kept"
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "legal.publish"))
        assert entry.actor_id == user_id(app, email) and entry.details == {"document": "privacy",
                                                                          "version": "2027-02-01"}
        assert legal.current("privacy").published_by_id == entry.actor_id


def test_admin_publish_errors_are_422_and_change_nothing(app, client, login_as):
    login_as("admin")
    taken = publish_form(client, version=legal.INITIAL_VERSIONS["privacy"])
    assert taken.status_code == 422 and "已有此版本号" in taken.get_data(as_text=True)
    bad = publish_form(client, version="../etc")
    assert bad.status_code == 422
    htmx = client.post("/admin/legal", data={"csrf_token": csrf_from(client.get("/admin/legal")),
                                             "document": "terms", "version": "", "title_zh": "", "body_zh": "",
                                             "title_en": "", "body_en": ""}, headers={"HX-Request": "true"})
    assert htmx.status_code == 422 and "<html" not in htmx.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(LegalDocument.id))) == len(DOCS)


@pytest.mark.parametrize("roles", [(), ("moderator",), ("finance",)])
def test_only_admins_publish(app, client, login_as, roles):
    login_as(*roles)
    assert client.get("/admin/legal").status_code == 403
    token = csrf_from(client.get("/"))
    response = client.post("/admin/legal", data={"csrf_token": token, "document": "terms", "version": "x1",
                                                 "title_zh": "x", "body_zh": "x", "title_en": "x", "body_en": "x"})
    assert response.status_code == 403
    with app.app_context():
        assert legal.version("terms", "x1") is None


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/admin/legal")
    assert response.status_code == 302 and "/login" in response.location


# ---- consents -----------------------------------------------------------------------------------------------


def test_sign_up_records_terms_and_privacy_with_a_hashed_address(app, client, forms):
    assert forms.signup(email="new@example.com").status_code == 303
    rows = consents(app, user_id=user_id(app, "new@example.com"))
    assert sorted((c.document_key, c.version) for c in rows) == [
        ("privacy", legal.INITIAL_VERSIONS["privacy"]), ("terms", legal.INITIAL_VERSIONS["terms"])]
    assert {c.ip_hash for c in rows} == {expected_hash(app)}
    assert all(ADDRESS not in (c.ip_hash or "") for c in rows)


def test_sign_up_accepts_the_current_version_after_a_new_one(app, client, forms):
    publish(app, "terms", "2027-03-01")
    forms.signup(email="late@example.com")
    rows = consents(app, user_id=user_id(app, "late@example.com"), document_key="terms")
    assert [c.version for c in rows] == ["2027-03-01"]
    # A brand-new account is not asked again: it accepted the current version on the sign-up form.
    assert client.get("/legal/accept?next=/me/pledges").location == "/me/pledges"


@pytest.fixture
def live(app, make_project):
    slug = make_project(status="live", tiers=[dict(title="电子版", price_fen=30_00, physical=False, shipping={})])
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        return slug, project.tiers[0].id


def pledge_data(client, slug, tier_id, **extra):
    page = client.get(f"/projects/{slug}/back?tier={tier_id}")
    assert page.status_code == 200, page.location
    text = page.get_data(as_text=True)
    key = re.search(r'name="idempotency_key" type="hidden" value="(\w+)"', text).group(1)
    return {"csrf_token": csrf_from(page), "idempotency_key": key, "tier": str(tier_id), "amount": "30",
            "accept_risk": "y", "channel": "pc", **extra}


def test_pledge_records_platform_and_project_risk_with_the_pledge(app, client, forms, live):
    slug, tier_id = live
    forms.signup(email="backer@example.com")  # a brand-new account: no extra step before its first pledge
    response = client.post(f"/projects/{slug}/back", data=pledge_data(client, slug, tier_id))
    assert response.status_code == 303 and "gateway.do" in response.location
    with app.app_context():
        pledge = db.session.scalar(select(Pledge))
        project = db.session.get(Project, pledge.project_id)
        own_version = hashlib.sha256(project.risk_disclosure.encode()).hexdigest()[:12]
    rows = consents(app, pledge_id=pledge.id)
    assert sorted((c.document_key, c.version) for c in rows) == [("project_risk", own_version),
                                                                 ("risk", legal.INITIAL_VERSIONS["risk"])]
    assert {(c.project_id, c.ip_hash) for c in rows} == {(project.id, expected_hash(app))}


def test_a_refused_pledge_records_no_consent(app, client, login_as, live):
    slug, tier_id = live
    login_as()
    data = pledge_data(client, slug, tier_id)
    del data["accept_risk"]
    assert client.post(f"/projects/{slug}/back", data=data).status_code == 422
    assert consents(app, document_key="project_risk") == []


def test_new_version_asks_again_before_pledging_then_returns(app, client, forms, login_as, live):
    slug, tier_id = live
    email = login_as()
    publish(app, "terms", "2027-04-01")
    back = f"/projects/{slug}/back?tier={tier_id}"
    response = client.get(back)
    assert response.status_code == 303 and response.location.startswith("/legal/accept?next=")
    page = client.get(response.location).get_data(as_text=True)
    assert 'href="/legal/terms/2027-04-01"' in page and f'href="/legal/terms/{legal.INITIAL_VERSIONS["terms"]}"' \
        in page, "what changed: the new version, and the one accepted before"
    # Posting the pledge form meanwhile is refused the same way, and creates nothing.
    token = csrf_from(client.get(response.location))
    posted = client.post(f"/projects/{slug}/back", data={"csrf_token": token, "tier": str(tier_id), "amount": "30",
                                                         "accept_risk": "y", "idempotency_key": "k" * 16})
    assert posted.status_code == 303 and posted.location.startswith("/legal/accept?next=")
    not_ticked = client.post("/legal/accept", data={"csrf_token": token, "next": back})
    assert not_ticked.status_code == 422
    accepted = client.post("/legal/accept", data={"csrf_token": token, "next": back, "accept": "y"})
    assert accepted.status_code == 303 and accepted.location == back
    rows = consents(app, user_id=user_id(app, email), document_key="terms")
    assert [c.version for c in rows][-1] == "2027-04-01" and rows[-1].ip_hash == expected_hash(app)
    assert client.get(back).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Pledge.id))) == 0


def test_new_risk_version_asks_a_backer_who_accepted_the_old_one(app, client, login_as, live):
    slug, tier_id = live
    login_as()  # fixture accounts accepted every current document
    publish(app, "risk", "2027-05-01")
    assert client.get(f"/projects/{slug}/back").location.startswith("/legal/accept")


def test_re_consent_with_htmx_redirects_by_header(app, client, login_as, live):
    slug, tier_id = live
    login_as()
    publish(app, "privacy", "2027-06-01")
    token = csrf_from(client.get("/"))
    response = client.post(f"/projects/{slug}/back", data={"csrf_token": token, "tier": str(tier_id)},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/legal/accept?next=")
    back = client.post("/legal/accept", data={"csrf_token": token, "next": f"/projects/{slug}/back", "accept": "y"},
                       headers={"HX-Request": "true"})
    assert back.headers["HX-Redirect"] == f"/projects/{slug}/back"


def test_accept_page_keeps_next_on_this_site_and_needs_login(app, client, login_as):
    assert "/login" in client.get("/legal/accept").location
    login_as()
    publish(app, "terms", "2027-07-01")
    token = csrf_from(client.get("/legal/accept"))
    response = client.post("/legal/accept", data={"csrf_token": token, "next": "https://evil.example/", "accept": "y"})
    assert response.status_code == 303 and response.location == "/"
    assert client.post("/legal/accept", data={"next": "/", "accept": "y"}).status_code == 400, "CSRF is checked"


@pytest.fixture
def draft(app, make_project):
    slug = make_project(status="draft")
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        return slug, project.id, project.creator.email


def test_launch_records_the_project_rules_with_the_project(app, client, draft):
    slug, project_id, email = draft
    Browserless(client).login(email=email)
    preview = client.get(f"/me/projects/{slug}/edit/preview")
    assert "我已阅读并同意《项目发起规范》" in preview.get_data(as_text=True)
    unticked = client.post(f"/me/projects/{slug}/submit", data={"csrf_token": csrf_from(preview)})
    assert unticked.status_code == 303 and unticked.location.endswith("/edit/preview")
    with app.app_context():
        assert db.session.get(Project, project_id).status.value == "draft"
    response = client.post(f"/me/projects/{slug}/submit", data={"csrf_token": csrf_from(preview), "accept_rules": "y"})
    assert response.status_code == 303 and response.location == "/me/projects"
    (row,) = consents(app, project_id=project_id, document_key="creator_rules")
    assert row.version == legal.INITIAL_VERSIONS["creator_rules"] and row.ip_hash == expected_hash(app)
    assert row.user_id == user_id(app, email)


def test_new_rules_ask_again_before_launch(app, client, draft):
    slug, project_id, email = draft
    Browserless(client).login(email=email)
    publish(app, "creator_rules", "2027-08-01")
    token = csrf_from(client.get(f"/me/projects/{slug}/edit/preview"))
    response = client.post(f"/me/projects/{slug}/submit", data={"csrf_token": token, "accept_rules": "y"})
    assert response.status_code == 303
    assert response.location == f"/legal/accept?next=/me/projects/{slug}/edit/preview"
    with app.app_context():
        assert db.session.get(Project, project_id).status.value == "draft"
    client.post("/legal/accept", data={"csrf_token": token, "next": f"/me/projects/{slug}/edit/preview",
                                       "accept": "y"})
    assert client.post(f"/me/projects/{slug}/submit", data={"csrf_token": token, "accept_rules": "y"}).location \
        == "/me/projects"
    assert [c.version for c in consents(app, project_id=project_id)] == ["2027-08-01"]


# ---- privacy ------------------------------------------------------------------------------------------------


def test_consents_are_in_the_export_and_lose_the_address_hash_on_deletion(app, client, forms):
    from crowdfund import privacy

    forms.signup(email="gone@example.com")
    uid = user_id(app, "gone@example.com")
    with app.app_context():
        user = db.session.get(User, uid)
        sections = {s.name: s for s in privacy.SECTIONS}
        rows = sections["consents"].rows(user)
        assert {r["document"] for r in rows} == {"terms", "privacy"} and all(r["ip_hash"] for r in rows)
        privacy.delete_account(user, "correct horse 1")
    rows = consents(app, user_id=uid)
    assert len(rows) == 2 and {c.ip_hash for c in rows} == {None}, "kept as anonymous records"


def test_profile_shows_the_accepted_versions(client, login_as):
    login_as()
    page = client.get("/account/").get_data(as_text=True)
    assert f'href="/legal/terms/{legal.INITIAL_VERSIONS["terms"]}"' in page
