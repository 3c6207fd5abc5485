"""A creator deletes a draft they no longer want (after confirming); nothing further along can be deleted."""
from crowdfund.extensions import db
from crowdfund.models import Project, RewardTier
from tests.conftest import Browserless


def test_a_creator_deletes_a_draft_after_confirming(app, make_project, make_user):
    creator = make_user(email="drafter@example.com", roles=["creator"])
    draft = make_project(status="draft", title="不要了的草稿", creator=creator)
    submitted = make_project(status="submitted", title="已提交的项目", creator=creator)
    browser = Browserless(app.test_client())
    browser.login(email="drafter@example.com")
    page = browser.client.get("/me/projects").get_data(as_text=True)
    assert f'action="/me/projects/{draft}/delete"' in page and "删除草稿</button>" in page
    assert f'action="/me/projects/{submitted}/delete"' not in page, "only drafts offer it"
    assert browser.client.get(f"/me/projects/{draft}/delete").status_code == 405, "nothing is deleted on GET"

    refused = browser.post(f"/me/projects/{submitted}/delete", {"confirm": "1"}, form_path="/me/projects")
    assert refused.status_code == 303 and "只有从未提交的草稿" in browser.client.get("/me/projects").get_data(as_text=True)
    asked = browser.post(f"/me/projects/{draft}/delete", {}, form_path="/me/projects")
    assert asked.status_code == 200 and "草稿及其回报档位和文件将被永久删除" in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Project.slug).filter_by(slug=draft)) == draft, "asking deletes nothing"
    done = browser.post(f"/me/projects/{draft}/delete", {"confirm": "1"}, form_path="/me/projects")
    assert done.status_code == 303 and "草稿已删除" in browser.client.get(done.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Project.slug).filter_by(slug=draft)) is None
        assert db.session.scalar(db.select(Project.slug).filter_by(slug=submitted)) == submitted
        assert db.session.scalar(db.select(db.func.count(RewardTier.id))) == 1, "the draft's tiers went with it"


def test_nobody_else_deletes_a_draft(app, make_project, make_user, login_as, forms):
    draft = make_project(status="draft")
    login_as("creator")
    assert forms.post(f"/me/projects/{draft}/delete", {"confirm": "1"}, form_path="/me/projects").status_code == 404
    with app.app_context():
        assert db.session.scalar(db.select(Project.slug).filter_by(slug=draft)) == draft
