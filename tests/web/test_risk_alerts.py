"""The moderators' risk alerts queue and "report a project" (举报), plain and with htmx."""
import uuid
import pytest
from sqlalchemy import func, select

from crowdfund import risk
from crowdfund.extensions import db
from crowdfund.models import AuditEntry, Project, ProjectStatus, Report, RiskAlert
from crowdfund.models.base import utcnow
from tests.conftest import Browserless, csrf_from
from tests.web.test_discovery import count_queries

HTMX = {"HX-Request": "true"}


def open_alert(app, slug, rule="backer_share", subject="backer:1", evidence=None):
    """An alert as a rule would have raised it (the rules themselves are tested in tests/unit/test_risk.py)."""
    with app.app_context():
        pid = db.session.scalar(select(Project.id).filter_by(slug=slug))
        alert = RiskAlert(project_id=pid, rule=rule, subject=subject, open_key=risk.open_key(rule, pid, subject),
                          status="open", evidence=evidence or {"backer_id": 1, "backer_fen": 9_000_00,
                                                               "total_fen": 10_000_00, "share_percent": 90.0},
                          first_seen_at=utcnow(), last_seen_at=utcnow(), resolution_note="")
        db.session.add(alert)
        db.session.commit()
        return alert.id


def load_alert(app, alert_id):
    with app.app_context():
        alert = db.session.get(RiskAlert, alert_id)
        db.session.expunge_all()
        return alert


def audited(app):
    with app.app_context():
        return db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "risk_alerts")
                                  .order_by(AuditEntry.id)).all()


def post(client, path, data=None, htmx=False, form_path=None):
    token = csrf_from(client.get(form_path or "/"))
    return client.post(path, data={"csrf_token": token, **(data or {})}, headers=HTMX if htmx else {})


@pytest.fixture
def moderator(login_as):
    return login_as("moderator")


def test_the_queue_lists_open_alerts_and_the_nav_counts_them(client, app, make_project, moderator):
    slug = make_project(title="可疑的项目")
    alert_id = open_alert(app, slug)
    page = client.get("/moderation/alerts").get_data(as_text=True)
    assert "可疑的项目" in page and f"/moderation/alerts/{alert_id}" in page
    assert 'href="/moderation/alerts"' in page and '<span class="badge">1</span>' in page
    fragment = client.get("/moderation/alerts?status=open", headers=HTMX).get_data(as_text=True)
    assert fragment.strip().startswith('<ul class="queue alerts" id="alert_list"') and "<html" not in fragment
    assert "可疑的项目" not in client.get("/moderation/alerts?status=resolved").get_data(as_text=True)
    detail = client.get(f"/moderation/alerts/{alert_id}").get_data(as_text=True)
    assert "¥9,000.00" in detail and "90.0" in detail and f"/projects/{slug}" in detail
    assert f"/moderation/alerts/{alert_id}/suspend" in detail and f"/moderation/alerts/{alert_id}/acknowledge" in detail


def test_creators_and_backers_are_refused(client, app, make_project, login_as):
    alert_id = open_alert(app, make_project())
    login_as("creator")
    assert client.get("/moderation/alerts").status_code == 403
    assert client.get(f"/moderation/alerts/{alert_id}").status_code == 403
    for action in ("acknowledge", "suspend", "resolve"):
        assert post(client, f"/moderation/alerts/{alert_id}/{action}", {"note": "x"}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/moderation/alerts").status_code == 302
    assert load_alert(app, alert_id).status == "open" and audited(app) == []


def test_actions_need_the_csrf_token(client, app, make_project, moderator):
    alert_id = open_alert(app, make_project())
    assert client.post(f"/moderation/alerts/{alert_id}/acknowledge").status_code == 400
    assert client.post(f"/moderation/alerts/{alert_id}/resolve", data={"note": "x"}).status_code == 400
    assert load_alert(app, alert_id).status == "open"


def test_acknowledge_plain_then_suspend_with_htmx(client, app, make_project, moderator):
    slug = make_project()
    alert_id = open_alert(app, slug)
    response = post(client, f"/moderation/alerts/{alert_id}/acknowledge")
    assert response.status_code == 303 and response.location == f"/moderation/alerts/{alert_id}"
    assert load_alert(app, alert_id).status == "acknowledged"
    again = post(client, f"/moderation/alerts/{alert_id}/acknowledge", htmx=True)
    assert again.status_code == 409
    fragment = post(client, f"/moderation/alerts/{alert_id}/suspend", htmx=True).get_data(as_text=True)
    assert fragment.strip().startswith('<section class="card risk-alert" id="alert"') and "<html" not in fragment
    assert f"/moderation/alerts/{alert_id}/suspend" not in fragment  # a suspended project cannot be suspended again
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        assert project.status == ProjectStatus.SUSPENDED
    assert post(client, f"/moderation/alerts/{alert_id}/suspend").status_code == 303  # refused, with a flash
    assert audited(app) == ["risk_alert.acknowledge", "risk_alert.suspend"]


def test_suspend_is_offered_only_when_the_lifecycle_allows_it(client, app, make_project, moderator):
    slug = make_project(status="approved")
    alert_id = open_alert(app, slug)
    page = client.get(f"/moderation/alerts/{alert_id}").get_data(as_text=True)
    assert f"/moderation/alerts/{alert_id}/suspend" not in page
    assert post(client, f"/moderation/alerts/{alert_id}/suspend", htmx=True).status_code == 409
    with app.app_context():
        assert db.session.scalar(select(Project.status).filter_by(slug=slug)) == ProjectStatus.APPROVED


def test_resolve_needs_a_note(client, app, make_project, moderator):
    alert_id = open_alert(app, make_project())
    empty = post(client, f"/moderation/alerts/{alert_id}/resolve", {"note": "  "}, htmx=True)
    assert empty.status_code == 422 and 'id="note-error"' in empty.get_data(as_text=True)
    assert "<html" in post(client, f"/moderation/alerts/{alert_id}/resolve", {"note": ""}).get_data(as_text=True)
    done = post(client, f"/moderation/alerts/{alert_id}/resolve", {"note": "查明为创作者家人支持"})
    assert done.status_code == 303
    alert = load_alert(app, alert_id)
    assert alert.status == "resolved" and alert.open_key is None and alert.resolution_note == "查明为创作者家人支持"
    assert "查明为创作者家人支持" in client.get(f"/moderation/alerts/{alert_id}").get_data(as_text=True)
    assert f"/moderation/alerts/{alert_id}" in client.get("/moderation/alerts?status=resolved").get_data(as_text=True)
    assert post(client, f"/moderation/alerts/{alert_id}/resolve", {"note": "again"}, htmx=True).status_code == 409
    assert audited(app) == ["risk_alert.resolve"]


def test_the_queue_page_has_a_query_budget(client, app, make_project, moderator):
    counts = []
    for total in (2, 12):
        while True:
            with app.app_context():
                if db.session.scalar(select(func.count(RiskAlert.id))) >= total:
                    break
            open_alert(app, make_project(), subject=uuid.uuid4().hex[:8])
        with count_queries(app) as statements:
            assert client.get("/moderation/alerts").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] and counts[1] <= 12, counts


def report(client, slug, data, htmx=False):
    token = csrf_from(client.get(f"/projects/{slug}"))
    return client.post(f"/projects/{slug}/report", data={"csrf_token": token, **data}, headers=HTMX if htmx else {})


def test_anonymous_visitors_get_a_sign_in_link_with_next(client, make_project):
    slug = make_project()
    page = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'/login?next=/projects/{slug}' in page and f"/projects/{slug}/report" not in page
    response = client.post(f"/projects/{slug}/report", data={"csrf_token": csrf_from(client.get("/login")),
                                                                "category": "fraud"})
    assert response.status_code == 302 and "/login" in response.location


def test_report_a_project_plain_and_with_htmx(client, app, make_project, login_as, make_user):
    slug = make_project(title="被举报的项目")
    login_as()
    page = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert f'action="/projects/{slug}/report"' in page and 'name="category"' in page
    bad = report(client, slug, {"category": "nonsense"}, htmx=True)
    assert bad.status_code == 422 and bad.get_data(as_text=True).strip().startswith('<section id="report_project"')
    assert "<html" not in bad.get_data(as_text=True)
    done = report(client, slug, {"category": "fraud", "text": "图片盗用"})
    assert done.status_code == 303 and done.location == f"/projects/{slug}"
    assert f'action="/projects/{slug}/report"' not in client.get(f"/projects/{slug}").get_data(as_text=True)
    again = report(client, slug, {"category": "other"}, htmx=True)
    assert again.status_code == 200 and 'id="report_project"' in again.get_data(as_text=True)
    with app.app_context():
        rows = db.session.scalars(select(Report).where(Report.target_kind == "project")).all()
        assert [(r.category, r.reason) for r in rows] == [("fraud", "图片盗用")]
    # Two more people: the complaints rule raises one alert, which links back to the reports.
    for _ in range(2):
        other = app.test_client()
        email = f"reporter-{uuid.uuid4().hex[:6]}@example.com"
        make_user(email=email)
        Browserless(other).login(email=email)
        assert report(other, slug, {"category": "not_delivering"}).status_code == 303
    with app.app_context():
        [alert] = db.session.scalars(select(RiskAlert)).all()
        assert alert.rule == "complaints" and alert.evidence["reporters"] == 3
        alert_id = alert.id
    moderator = app.test_client()
    email = f"mod-{uuid.uuid4().hex[:6]}@example.com"
    make_user(email=email, roles=["moderator"])
    Browserless(moderator).login(email=email)
    detail = moderator.get(f"/moderation/alerts/{alert_id}").get_data(as_text=True)
    assert "图片盗用" in detail and detail.count('id="report-') == 3
    assert "被举报的项目" in moderator.get("/moderation/reports").get_data(as_text=True)


def test_the_creator_gets_no_report_form_and_cannot_report(client, app, make_project, make_user, forms):
    email = f"creator-{uuid.uuid4().hex[:6]}@example.com"
    creator = make_user(email=email, roles=["creator"])
    slug = make_project(creator=creator)
    forms.login(email=email)
    assert f"/projects/{slug}/report" not in client.get(f"/projects/{slug}").get_data(as_text=True)
    assert report(client, slug, {"category": "fraud"}).status_code == 403


def test_reporting_is_rate_limited(make_app, make_project, make_user):
    app = make_app(RATELIMIT_REPORT="2 per minute")
    email = f"busy-{uuid.uuid4().hex[:6]}@example.com"
    make_user(email=email)
    client = app.test_client()
    Browserless(client).login(email=email)
    slugs = [make_project() for _ in range(3)]
    assert [report(client, slug, {"category": "other"}).status_code for slug in slugs] == [303, 303, 429]


def test_the_pledge_view_keeps_a_hash_of_the_address_and_a_paid_pledge_checks_the_project(app, client,
                                                                                         make_project, login_as):
    """Five paid pledges in a minute from one account and address: the fifth payment raises the alerts at once."""
    from crowdfund import pledging
    from crowdfund.models import Pledge
    from crowdfund.sessions import hash_ip
    from tests.web.test_pledge_form import form_data

    app.config.update(RISK_PLEDGES_PER_WINDOW=5, RISK_PLEDGES_WINDOW_MINUTES=10)
    slug = make_project(tiers=[dict(title="电子版", price_fen=30_00, physical=False, shipping={})])
    login_as()
    with app.app_context():
        tier_id = db.session.scalar(select(Project).filter_by(slug=slug)).tiers[0].id
    for n in range(5):
        response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier_id, amount="30"),
                               environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert response.status_code == 303
        with app.app_context():
            assert db.session.scalar(select(func.count(RiskAlert.id))) == 0  # four paid pledges are no burst yet
            latest = db.session.scalar(select(Pledge).order_by(Pledge.id.desc()).limit(1))
            assert pledging.record_payment(latest.out_trade_no, f"T-risk-{n}", latest.amount_fen) == "paid"
    with app.app_context():
        rows = db.session.scalars(select(Pledge).order_by(Pledge.id)).all()
        assert len(rows) == 5 and {row.client_hash for row in rows} == {hash_ip("203.0.113.9")}
        assert "203.0.113.9" not in str([row.client_hash for row in rows])
        alerts = db.session.scalars(select(RiskAlert)).all()  # the fifth payment's check raised them
        assert sorted(alert.subject.partition(":")[0] for alert in alerts) == ["backer", "ip"]
        assert all(alert.rule == "pledge_burst" and alert.evidence["pledges"] == 5 for alert in alerts)
        assert risk.run_rules() == 0 and db.session.scalar(select(func.count(RiskAlert.id))) == 2
