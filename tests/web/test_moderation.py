"""The moderators' queue, decisions, verifications and featuring."""

import pytest

from crowdfund.extensions import db
from crowdfund.models import AuditEntry, CreatorVerification, Notification, Project, ProjectStatus, User
from tests.conftest import Browserless, csrf_from, image_file


def load(app, slug):
    with app.app_context():
        row = db.session.scalar(db.select(Project).filter_by(slug=slug))
        db.session.expunge_all()
        return row


def decide(client, slug, data, htmx=False):
    token = csrf_from(client.get(f"/moderation/projects/{slug}"))
    return client.post(f"/moderation/projects/{slug}", data={"csrf_token": token, **data},
                       headers={"HX-Request": "true"} if htmx else {})


@pytest.fixture
def moderator(login_as):
    return login_as("moderator")


def test_queue_lists_projects_with_findings(client, app, make_project, moderator):
    slug = make_project(status="in_review", title="排队的项目")
    with app.app_context():
        from crowdfund.models import ReviewFinding, Severity

        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        db.session.add(ReviewFinding(project_id=project.id, rule="below_cost", severity=Severity.WARNING,
                                     field="rewards", message="低于成本"))
        db.session.commit()
    page = client.get("/moderation/").get_data(as_text=True)
    assert "排队的项目" in page and "低于成本" in page
    review_page = client.get(f"/moderation/projects/{slug}").get_data(as_text=True)
    assert "排队的项目" in review_page and 'id="decision"' in review_page


def test_approve_now_launches_and_notifies(client, app, make_project, moderator):
    slug = make_project(status="in_review")
    response = decide(client, slug, {"decision": "approve", "when": "now"})
    assert response.status_code == 303 and response.location == "/moderation/"
    project = load(app, slug)
    assert project.status == ProjectStatus.LIVE and project.end_at is not None
    with app.app_context():
        kinds = [n.kind for n in db.session.scalars(db.select(Notification).filter_by(user_id=project.creator_id))]
        assert kinds == ["project_live"]
        actions = [a.action for a in db.session.scalars(db.select(AuditEntry).where(AuditEntry.action != "user.roles"))]
        assert actions == ["project.approve"]


def test_approve_at_a_chosen_time(client, app, make_project, moderator):
    slug = make_project(status="in_review")
    response = decide(client, slug, {"decision": "approve", "when": "later", "launch_at": "2099-01-02T09:30"})
    assert response.status_code == 303
    project = load(app, slug)
    assert project.status == ProjectStatus.APPROVED
    assert project.launch_at.isoformat().startswith("2099-01-02T01:30")  # 09:30 Beijing time


def test_request_changes_shows_reasons_in_the_wizard(client, app, make_project, moderator, forms):
    slug = make_project(status="in_review")
    empty = decide(client, slug, {"decision": "changes"}, htmx=True)
    assert empty.status_code == 422 and empty.get_data(as_text=True).strip().startswith('<section id="decision"')
    response = decide(client, slug, {"decision": "changes", "story": "请补充生产计划"})
    assert response.status_code == 303
    project = load(app, slug)
    assert project.status == ProjectStatus.CHANGES_REQUESTED
    with app.app_context():
        email = db.session.get(User, project.creator_id).email
    creator = app.test_client()
    Browserless(creator).login(email=email)
    page = creator.get(f"/me/projects/{slug}/edit/story").get_data(as_text=True)
    assert "请补充生产计划" in page
    assert "请补充生产计划" not in creator.get(f"/me/projects/{slug}/edit/basics").get_data(as_text=True)
    assert "需要修改后才能上线" in creator.get("/account/notifications").get_data(as_text=True)


def test_reject_needs_a_reason(client, app, make_project, moderator):
    slug = make_project(status="in_review")
    assert decide(client, slug, {"decision": "reject", "reason": ""}).status_code == 422
    assert decide(client, slug, {"decision": "reject", "reason": "涉嫌违规", "confirm": "1"}).status_code == 303
    assert load(app, slug).status == ProjectStatus.REJECTED


def test_only_moderators_review(client, app, make_project, login_as):
    slug = make_project(status="in_review")
    login_as("creator")
    assert client.get("/moderation/").status_code == 403
    assert client.get(f"/moderation/projects/{slug}").status_code == 403
    token = csrf_from(client.get("/me/projects"))
    assert client.post(f"/moderation/projects/{slug}", data={"csrf_token": token, "decision": "approve",
                                                             "when": "now"}).status_code == 403
    assert load(app, slug).status == ProjectStatus.IN_REVIEW


def test_a_creator_cannot_review_their_own_project(client, app, make_project, make_user, forms):
    creator = make_user(email="both@example.com", roles=["creator", "moderator"])
    slug = make_project(status="in_review", creator=creator)
    forms.login(email="both@example.com")
    assert "你不能审核自己的项目" in client.get(f"/moderation/projects/{slug}").get_data(as_text=True)
    assert decide(client, slug, {"decision": "approve", "when": "now"}).status_code == 403
    assert load(app, slug).status == ProjectStatus.IN_REVIEW


def test_verification_flow(client, app, forms, login_as, make_user):
    make_user(email="new@example.com")
    forms.login(email="new@example.com")
    bad = forms.post("/me/verification", {"kind": "individual", "real_name": "张三", "id_number": "123"},
                     htmx=True)
    assert bad.status_code == 422 and 'id="id_number-error"' in bad.get_data(as_text=True)
    token = csrf_from(client.get("/me/verification"))
    response = client.post("/me/verification", data={"csrf_token": token, "kind": "individual", "real_name": "张三",
                                                     "id_number": "11010519491231002X", "document": image_file()},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    page = client.get("/me/verification").get_data(as_text=True)
    assert "110***********002X" in page and "11010519491231002X" not in page
    forms.logout()
    moderator = app.test_client()
    make_user(email="mod@example.com", roles=["moderator"])
    Browserless(moderator).login(email="mod@example.com")
    listing = moderator.get("/moderation/verifications").get_data(as_text=True)
    assert "张三" in listing and "11010519491231002X" not in listing
    with app.app_context():
        row_id = db.session.scalar(db.select(CreatorVerification.id))
    token = csrf_from(moderator.get("/moderation/verifications"))
    no_reason = moderator.post(f"/moderation/verifications/{row_id}", data={"csrf_token": token, "decision": "reject"})
    assert no_reason.status_code == 303
    approve = moderator.post(f"/moderation/verifications/{row_id}", data={"csrf_token": token, "decision": "approve"})
    assert approve.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(User).filter_by(email="new@example.com")).has_role("creator")


def test_moderators_feature_projects_on_the_home_page(client, app, make_project, moderator):
    slug = make_project(status="live", title="值得推荐的项目")
    home = client.get("/").get_data(as_text=True)
    assert 'id="section-featured"' not in home
    token = csrf_from(client.get(f"/projects/{slug}"))
    assert client.post(f"/moderation/projects/{slug}/featured",
                       data={"csrf_token": token, "featured": "1"}).status_code == 303
    home = client.get("/").get_data(as_text=True)
    featured = home.split('id="section-featured"', 1)[1].split("</section>", 1)[0]
    assert "值得推荐的项目" in featured
