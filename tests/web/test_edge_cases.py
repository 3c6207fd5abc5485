"""Edge cases found walking the site: odd input gives friendly errors, never a 500 or a lost edit."""
import re

import pytest

from crowdfund.extensions import db
from crowdfund.models import Notification, Project, ProjectDocument
from tests.conftest import Browserless, csrf_from


@pytest.fixture
def draft(app, client, login_as):
    from crowdfund.catalog import ensure_categories

    with app.app_context():
        ensure_categories()
    login_as("creator")
    response = client.post("/me/projects/new", data={"csrf_token": csrf_from(client.get("/me/projects"))})
    return re.match(r"/me/projects/(\w+)/", response.location).group(1)


@pytest.mark.parametrize("goal", ["99999999999999999999999999999", "Infinity", "NaN", "1e400", "abc", "12.345"])
def test_absurd_amounts_are_refused_inline(client, draft, goal):
    url = f"/me/projects/{draft}/edit/funding"
    response = client.post(url, data={"csrf_token": csrf_from(client.get(url)), "goal": goal, "duration": "30",
                                      "funding_mode": "all_or_nothing", "nav": "next"})
    assert response.status_code == 422 and 'id="goal-error"' in response.get_data(as_text=True)


def test_no_attribute_renders_as_none(client, draft):
    for path in ("/signup", f"/me/projects/{draft}/edit/basics", f"/me/projects/{draft}/edit/rewards",
                 "/me/verification", "/account/password"):
        assert '="None"' not in client.get(path).get_data(as_text=True), path


def test_past_delivery_months_are_refused(client, draft):
    token = csrf_from(client.get(f"/me/projects/{draft}/edit/rewards"))
    response = client.post(f"/me/projects/{draft}/tiers", data={
        "csrf_token": token, "new-title": "旧", "new-price": "10", "new-delivery_month": "2020-01",
        "new-physical": ""})
    assert response.status_code == 422 and 'id="new-delivery_month-error"' in response.get_data(as_text=True)


def test_removing_a_document_keeps_the_story_being_typed(app, client, draft):
    with app.app_context():
        from crowdfund.media import save_document
        from crowdfund.models import User
        from tests.conftest import PDF_BYTES, upload

        project = db.session.scalar(db.select(Project).filter_by(slug=draft))
        document = save_document(db.session.get(User, project.creator_id), upload(PDF_BYTES, "a.pdf"))
        db.session.add(ProjectDocument(project_id=project.id, media_id=document.id, title="规格书"))
        db.session.commit()
        doc_id = project.documents[0].id
    token = csrf_from(client.get(f"/me/projects/{draft}/edit/story"))
    response = client.post(f"/me/projects/{draft}/documents/{doc_id}/remove",
                           data={"csrf_token": token, "story": "还没保存的故事"})
    assert response.status_code == 303
    page = client.get(f"/me/projects/{draft}/edit/story").get_data(as_text=True)
    assert "还没保存的故事" in page and "规格书" not in page


def test_verification_needs_name_and_number(client, login_as):
    from tests.conftest import image_file

    login_as()
    token = csrf_from(client.get("/me/verification"))
    response = client.post("/me/verification", data={"csrf_token": token, "kind": "individual",
                                                     "document": image_file()}, content_type="multipart/form-data")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="real_name-error"' in body and 'id="id_number-error"' in body
    org = client.post("/me/verification", data={"csrf_token": token, "kind": "organisation", "organisation_name": "",
                                                "credit_code": "123", "document": image_file()},
                      content_type="multipart/form-data")
    assert org.status_code == 422 and 'id="credit_code-error"' in org.get_data(as_text=True)


@pytest.mark.parametrize("launch_at", ["", "2020-01-01T10:00", "not a time"])
def test_approving_for_later_needs_a_future_time(app, client, make_project, login_as, launch_at):
    slug = make_project(status="in_review")
    login_as("moderator")
    token = csrf_from(client.get(f"/moderation/projects/{slug}"))
    response = client.post(f"/moderation/projects/{slug}", data={"csrf_token": token, "decision": "approve",
                                                                 "when": "later", "launch_at": launch_at})
    assert response.status_code == 422 and 'id="launch_at-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)).value == "in_review"


def test_the_creator_sees_why_and_where(app, client, make_project, login_as):
    rejected, changed = make_project(status="in_review"), make_project(status="in_review")
    login_as("moderator")
    for slug, data in ((rejected, {"decision": "reject", "reason": "承诺保本收益", "confirm": "1"}),
                       (changed, {"decision": "changes", "rewards": "请写明发货时间"})):
        client.post(f"/moderation/projects/{slug}",
                    data={"csrf_token": csrf_from(client.get(f"/moderation/projects/{slug}")), **data})
    with app.app_context():
        owner = {slug: db.session.scalar(db.select(Project).filter_by(slug=slug)).creator.email
                 for slug in (rejected, changed)}
        links = [n.link for n in db.session.scalars(db.select(Notification).filter_by(kind="project_changes"))]
    assert links == [f"/me/projects/{changed}/edit/rewards"]
    creator = Browserless(app.test_client())
    creator.login(email=owner[rejected])
    assert "承诺保本收益" in creator.client.get("/me/projects").get_data(as_text=True)
    assert "承诺保本收益" in creator.client.get("/account/notifications").get_data(as_text=True)
    other = Browserless(app.test_client())
    other.login(email=owner[changed])
    assert "请写明发货时间" in other.client.get("/me/projects").get_data(as_text=True)
    assert "请写明发货时间" in other.client.get(f"/me/projects/{changed}/edit/preview").get_data(as_text=True)


def test_failed_sign_ups_do_not_use_up_the_limit(make_app):
    forms = Browserless(make_app(RATELIMIT_SIGNUP="2 per minute").test_client())
    for _ in range(4):
        assert forms.signup(email="bad").status_code == 422
    assert forms.signup(email="good@example.com").status_code == 303


def test_absurd_page_numbers_are_clamped(client):
    assert client.get("/search?page=999999999999999999999").status_code == 200


def test_chinese_labels_use_full_width_colons(client, make_project):
    body = client.get(f"/projects/{make_project(status='live')}").get_data(as_text=True)
    assert "配送至：" in body and "配送至: " not in body
