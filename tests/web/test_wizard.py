"""The launch wizard, step by step, as plain forms and through htmx."""
import re

import pytest

from crowdfund.extensions import db
from crowdfund.models import Project, ProjectStatus
from tests.conftest import PDF_BYTES, csrf_from, image_file


@pytest.fixture
def creator(login_as):
    return login_as("creator")


@pytest.fixture
def draft(client, creator, app):
    """A new draft created through the "Start a new project" button; returns its slug."""
    from crowdfund.catalog import ensure_categories

    with app.app_context():
        ensure_categories()
    token = csrf_from(client.get("/me/projects"))
    response = client.post("/me/projects/new", data={"csrf_token": token})
    assert response.status_code == 303
    match = re.match(r"/me/projects/(\w+)/edit/basics", response.location)
    assert match, response.location
    return match.group(1)


def project(app, slug):
    with app.app_context():
        row = db.session.scalar(db.select(Project).filter_by(slug=slug))
        db.session.expunge_all()
        return row


def category_id(app, slug="smart-hardware"):
    from crowdfund.models import Category

    with app.app_context():
        return db.session.scalar(db.select(Category.id).filter_by(slug=slug))


def post_step(client, slug, step, data, htmx=False, files=None):
    url = f"/me/projects/{slug}/edit/{step}"
    token = csrf_from(client.get(url))
    payload = {"csrf_token": token, **data, **(files or {})}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(url, data=payload, headers=headers, content_type="multipart/form-data")


def basics_data(app, **extra):
    return {"title": "智能台灯 Smart lamp", "summary": "一盏会学习的台灯", "category": str(category_id(app)),
            "kind": "reward", "nav": "next", **extra}


def test_basics_plain_saves_and_goes_to_story(client, app, draft):
    response = post_step(client, draft, "basics", basics_data(app), files={"cover": image_file()})
    assert response.status_code == 303 and response.location == f"/me/projects/{draft}/edit/story"
    saved = project(app, draft)
    assert saved.title == "智能台灯 Smart lamp" and saved.cover_id and saved.wizard_step == "story"


def test_basics_htmx_swaps_the_step_panel_and_pushes_the_url(client, app, draft):
    response = post_step(client, draft, "basics", basics_data(app), htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.strip().startswith('<section id="step_panel"') and 'id="story_form"' in body
    assert response.headers["HX-Push-Url"] == f"/me/projects/{draft}/edit/story"
    assert body.rstrip().endswith("<title>项目故事 · 智能台灯 Smart lamp · 众筹</title>"), \
        "the fragment carries the new step's title for htmx to put in document.title"


def test_basics_errors_are_inline_with_422_plain_and_htmx(client, app, draft):
    for htmx in (False, True):
        response = post_step(client, draft, "basics", {"title": "", "summary": "x" * 201, "category": "0",
                                                       "kind": "reward", "nav": "next"}, htmx=htmx)
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        assert ("<html" in body) != htmx
        for field_id in ("title-error", "summary-error", "category-error"):
            assert f'id="{field_id}"' in body
    assert project(app, draft).title == ""


def test_a_non_image_cover_is_refused_and_nothing_is_saved(client, app, draft):
    from tests.conftest import upload

    response = post_step(client, draft, "basics", basics_data(app),
                         files={"cover": upload(b"<script>alert(1)</script>", "evil.png", "image/png")})
    assert response.status_code == 422 and 'id="cover-error"' in response.get_data(as_text=True)
    assert project(app, draft).title == "" and project(app, draft).cover_id is None


def test_back_saves_and_never_loses_input(client, app, draft):
    post_step(client, draft, "basics", basics_data(app))
    response = post_step(client, draft, "story", {"story": "草稿里的故事 draft story", "nav": "back"})
    assert response.status_code == 303 and response.location.endswith("/edit/basics")
    assert project(app, draft).story_source == "草稿里的故事 draft story"
    page = client.get(f"/me/projects/{draft}/edit/story").get_data(as_text=True)
    assert "草稿里的故事 draft story" in page


def test_save_draft_leaves_and_my_projects_resumes_at_the_step(client, app, draft):
    post_step(client, draft, "basics", basics_data(app))
    response = post_step(client, draft, "story", {"story": "一个故事", "nav": "save"})
    assert response.status_code == 303 and response.location == "/me/projects"
    listing = client.get("/me/projects").get_data(as_text=True)
    assert f'href="/me/projects/{draft}/edit/story"' in listing


def test_story_preview_button_renders_sanitized_markdown_without_js(client, app, draft):
    post_step(client, draft, "basics", basics_data(app))
    response = post_step(client, draft, "story", {"story": "## 标题\n\n**粗体** <script>alert(1)</script>"
                                                           '<a href="javascript:alert(1)" hx-get="/x">x</a>',
                                                  "nav": "preview"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    preview = body.split('class="card story-preview"', 1)[1].split("</section>", 1)[0]
    assert "<h2>标题</h2>" in preview and "<strong>粗体</strong>" in preview
    assert "<script" not in preview and "javascript:" not in preview and "hx-get" not in preview


def test_story_saves_clean_html_video_link_and_pdf(client, app, draft):
    from tests.conftest import upload

    post_step(client, draft, "basics", basics_data(app))
    response = post_step(client, draft, "story", {
        "story": "## Hi\n\n<img src=x onerror=alert(1)> text", "video_url": "https://www.bilibili.com/video/BV1xx411c7mD",
        "document_title": "规格书", "nav": "next"}, files={"document_file": upload(PDF_BYTES, "spec.pdf", "application/pdf")})
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = project(app, draft)
    assert "onerror" not in saved.story_html and "<h2>Hi</h2>" in saved.story_html
    assert saved.video_url.startswith("https://www.bilibili.com/")
    with app.app_context():
        documents = db.session.get(Project, saved.id).documents
        assert [d.title for d in documents] == ["规格书"]


def test_story_refuses_a_video_link_off_the_allowlist(client, app, draft):
    post_step(client, draft, "basics", basics_data(app))
    response = post_step(client, draft, "story", {"story": "x", "video_url": "https://evil.example/video.mp4",
                                                  "nav": "next"})
    assert response.status_code == 422 and 'id="video_url-error"' in response.get_data(as_text=True)


def test_funding_parses_yuan_into_fen(client, app, draft):
    response = post_step(client, draft, "funding", {"goal": "12,345.60", "duration": "30",
                                                    "funding_mode": "flexible", "nav": "next"})
    assert response.status_code == 303
    saved = project(app, draft)
    assert saved.goal_fen == 1_234_560 and saved.duration_days == 30 and saved.funding_mode.value == "flexible"
    bad = post_step(client, draft, "funding", {"goal": "12.345", "duration": "61", "funding_mode": "flexible"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="goal-error"' in body and 'id="duration-error"' in body


def tier_data(prefix="new", **extra):
    data = {f"{prefix}-title": "早鸟", f"{prefix}-description": "一盏台灯", f"{prefix}-price": "199",
            f"{prefix}-quantity_limit": "100", f"{prefix}-delivery_month": "2030-05", f"{prefix}-physical": "y",
            f"{prefix}-unit_cost": "80", f"{prefix}-ship_mainland": "0", f"{prefix}-ship_overseas": "60"}
    data.update({f"{prefix}-{k}": v for k, v in extra.items()})
    return data


def post_tier(client, slug, path, data, htmx=False):
    token = csrf_from(client.get(f"/me/projects/{slug}/edit/rewards"))
    return client.post(path, data={"csrf_token": token, **data}, headers={"HX-Request": "true"} if htmx else {})


def tiers(app, slug):
    with app.app_context():
        rows = db.session.scalar(db.select(Project).filter_by(slug=slug)).tiers
        return [(t.id, t.title, t.price_fen, t.quantity_limit, {r.region: r.fee_fen for r in t.shipping_rates})
                for t in rows]


def test_tiers_add_edit_reorder_remove_plain(client, app, draft):
    response = post_tier(client, draft, f"/me/projects/{draft}/tiers", tier_data())
    assert response.status_code == 303 and response.location.endswith("/edit/rewards#tiers")
    post_tier(client, draft, f"/me/projects/{draft}/tiers", tier_data(title="标准版", price="299", quantity_limit=""))
    (first, *_), (second, *_) = tiers(app, draft)
    assert tiers(app, draft)[0][1:] == ("早鸟", 199_00, 100, {"mainland": 0, "overseas": 60_00})
    assert tiers(app, draft)[1][3] is None
    post_tier(client, draft, f"/me/projects/{draft}/tiers/{second}", {"action": "up"})
    assert [t[1] for t in tiers(app, draft)] == ["标准版", "早鸟"]
    edit = post_tier(client, draft, f"/me/projects/{draft}/tiers/{first}",
                     {"action": "save", **tier_data(f"tier{first}", title="早鸟特惠", price="179")})
    assert edit.status_code == 303
    assert tiers(app, draft)[1][1:3] == ("早鸟特惠", 179_00)
    post_tier(client, draft, f"/me/projects/{draft}/tiers/{second}", {"action": "remove"})
    assert [t[1] for t in tiers(app, draft)] == ["早鸟特惠"]


def test_tiers_with_htmx_return_the_list_block(client, app, draft):
    response = post_tier(client, draft, f"/me/projects/{draft}/tiers", tier_data(), htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.strip().startswith('<div id="tier_list"') and "早鸟" in body
    bad = post_tier(client, draft, f"/me/projects/{draft}/tiers", tier_data(price="", delivery_month="soon"),
                    htmx=True)
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="new-price-error"' in text and 'id="new-delivery_month-error"' in text
    assert len(tiers(app, draft)) == 1


def test_physical_tier_needs_a_shipping_region(client, app, draft):
    response = post_tier(client, draft, f"/me/projects/{draft}/tiers",
                         tier_data(ship_mainland="", ship_overseas=""))
    assert response.status_code == 422 and 'id="new-ship_mainland-error"' in response.get_data(as_text=True)


def test_only_the_owner_can_edit_a_draft(client, app, draft, forms, login_as, make_user):
    forms.logout()
    login_as("creator")
    assert client.get(f"/me/projects/{draft}/edit/basics").status_code == 403
    token = csrf_from(client.get("/me/projects"))
    assert client.post(f"/me/projects/{draft}/tiers", data={"csrf_token": token, **tier_data()}).status_code == 403
    assert client.post(f"/me/projects/{draft}/submit", data={"csrf_token": token}).status_code == 403
    assert tiers(app, draft) == []
    forms.logout()
    assert client.get(f"/me/projects/{draft}/edit/basics").status_code == 302


def test_submitted_projects_cannot_be_edited(client, app, make_project, login_as):
    slug = make_project(status="in_review")
    with app.app_context():
        owner = db.session.scalar(db.select(Project).filter_by(slug=slug)).creator.email
    from tests.conftest import Browserless

    Browserless(client).login(email=owner)
    response = client.get(f"/me/projects/{slug}/edit/basics")
    assert response.status_code == 303 and response.location == "/me/projects"


def test_full_wizard_and_submit_runs_machine_review(client, app, draft, creator):
    post_step(client, draft, "basics", basics_data(app), files={"cover": image_file()})
    post_step(client, draft, "story", {"story": "这是我们的台灯故事，" * 10, "nav": "next"})
    post_step(client, draft, "funding", {"goal": "10000", "duration": "30", "funding_mode": "all_or_nothing",
                                         "nav": "next"})
    post_tier(client, draft, f"/me/projects/{draft}/tiers", tier_data())
    preview = client.get(f"/me/projects/{draft}/edit/preview").get_data(as_text=True)
    assert "风险" in preview
    response = post_step(client, draft, "risk", {"risk_disclosure": "供应链可能延期。", "nav": "next"})
    assert response.status_code == 303 and response.location.endswith("/edit/preview")
    preview = client.get(f"/me/projects/{draft}/edit/preview").get_data(as_text=True)
    assert "智能台灯 Smart lamp" in preview and "早鸟" in preview and "disabled" not in preview.split("提交审核")[0][-200:]
    token = csrf_from(client.get(f"/me/projects/{draft}/edit/preview"))
    submitted = client.post(f"/me/projects/{draft}/submit", data={"csrf_token": token, "accept_rules": "y"})
    assert submitted.status_code == 303 and submitted.location == "/me/projects"
    saved = project(app, draft)
    assert saved.status == ProjectStatus.IN_REVIEW, "machine review ran inline and found nothing blocking"


def test_unverified_creator_cannot_submit(client, app, forms, login_as, make_project):
    slug = make_project(status="draft")
    with app.app_context():
        row = db.session.scalar(db.select(Project).filter_by(slug=slug))
        from crowdfund import accounts

        accounts.revoke_role(row.creator, "creator")
        email = row.creator.email
    forms.login(email=email)
    token = csrf_from(client.get(f"/me/projects/{slug}/edit/preview"))
    response = client.post(f"/me/projects/{slug}/submit", data={"csrf_token": token, "accept_rules": "y"})
    assert response.status_code == 303 and response.location.endswith("/edit/preview")
    assert project(app, slug).status == ProjectStatus.DRAFT
    assert "只有通过认证的发起人才能提交项目" in client.get(response.location).get_data(as_text=True)
