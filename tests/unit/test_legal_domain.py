"""The legal domain: which documents a person must accept again, and migration 0015's seed and conversion."""
import secrets
from datetime import datetime, timezone

from flask_migrate import upgrade
from sqlalchemy import select, text

from crowdfund import create_app, legal
from crowdfund.extensions import db
from crowdfund.models import Consent, User


def publish(key, label):
    return legal.publish(None, key, label, title_zh="标题", body_zh="正文", title_en="Title", body_en="Text")


def test_needs_consent_asks_again_only_for_what_was_accepted_before(app, make_user):
    fresh = make_user(accept_all=False)  # signed up: terms and privacy, nothing else yet
    with app.app_context():
        user = db.session.get(User, fresh)
        assert legal.needs_consent(user, legal.PLEDGE) == [], "the pledge form's checkbox takes the risk text"
        publish("risk", "r2")
        assert legal.needs_consent(user, legal.PLEDGE) == [], "never accepted: still the form's to take"
        legal.accept(user, ["risk"])
        publish("risk", "r3")
        assert [d.version for d in legal.needs_consent(user, legal.PLEDGE)] == ["r3"]
        publish("terms", "t2")
        assert [d.key for d in legal.needs_consent(user, legal.LAUNCH)] == ["terms"]
        legal.accept(user, ["terms", "risk"])
        assert legal.needs_consent(user, list(legal.DOCUMENTS)) == []


def test_an_account_without_a_sign_up_consent_is_asked(app, make_user):
    uid = make_user()
    with app.app_context():
        db.session.execute(Consent.__table__.delete().where(Consent.user_id == uid, Consent.document_key == "privacy"))
        db.session.commit()
        assert [d.key for d in legal.needs_consent(db.session.get(User, uid), legal.PLEDGE)] == ["privacy"]


def test_project_risk_version_follows_the_text(app, make_project):
    from crowdfund.models import Project

    slug = make_project(status="draft")
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        before = legal.project_risk_version(project)
        project.risk_disclosure += " 另外：模具可能返工。"
        assert len(before) == 12 and legal.project_risk_version(project) != before


def test_migration_seeds_every_document_and_converts_sign_up_acceptances(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/m.sqlite", "SECRET_KEY": secrets.token_hex(16)})
    with app.app_context():
        upgrade(revision="0014_sessions_audit")
        agreed = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
        db.session.execute(text(
            "INSERT INTO users (email, display_name, password_hash, session_token, terms_version, privacy_version, "
            "agreed_at, created_at) VALUES ('old@example.com', 'Old', '!', 'tok', '2026-11-26', '2026-11-20', "
            ":at, :at)"), {"at": agreed})
        db.session.commit()
        upgrade()
        assert legal.current_versions() == legal.INITIAL_VERSIONS
        assert "欢迎使用众筹" in legal.current("terms").body_zh_html
        user = db.session.scalar(select(User).where(User.email == "old@example.com"))
        assert {k: v for k, v in ((c.document_key, c.version) for c in legal.consents_of(user))} == {
            "terms": "2026-11-26", "privacy": "2026-11-20"}
        assert [d.key for d in legal.needs_consent(user, legal.PLEDGE)] == ["privacy"], \
            "an acceptance of an older privacy policy is asked again"
