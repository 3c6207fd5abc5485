"""Risk rules (SPEC 4.3) on crafted data with a fixed clock: each rule triggers, and its near miss does not;
the same condition keeps one open alert; a resolved one comes back only when something new happens."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from crowdfund import pledging, reports, risk
from crowdfund.extensions import db
from crowdfund.jobs import check_project_risk, run_risk_rules
from crowdfund.models import (AuditEntry, Pledge, PledgeStatus, Project, ProjectStatus, ProjectUpdate, Refund,
                              Report, RiskAlert, User)
from crowdfund.queueing import PERIODIC_JOBS

NOW = datetime(2031, 3, 15, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def rules_app(app):
    """The test app with the thresholds these tests are written against."""
    app.config.update(RISK_SURGE_FACTOR=5, RISK_SURGE_FLOOR_FEN=10_000_00, RISK_SURGE_TRAILING_DAYS=7,
                      RISK_BACKER_SHARE=50, RISK_BACKER_SHARE_FLOOR_FEN=5_000_00, RISK_PLEDGES_WINDOW_MINUTES=10,
                      RISK_PLEDGES_PER_WINDOW=5, RISK_COMPLAINTS_24H=3, RISK_NO_UPDATE_DAYS=30, RISK_REFUND_CLAIMS=5,
                      RISK_REFUND_CLAIMS_DAYS=7, LATE_GRACE_DAYS=30)
    return app


@pytest.fixture
def project(rules_app, make_project):
    """A live campaign launched ten days before NOW; returns its id."""
    slug = make_project(status="live", tiers=[dict(title="Reward", price_fen=100_00)])
    with rules_app.app_context():
        row = db.session.scalar(select(Project).filter_by(slug=slug))
        row.launch_at, row.end_at = NOW - timedelta(days=10), NOW + timedelta(days=20)
        db.session.commit()
        return row.id


def backers(make_user, n):
    return [make_user(email=f"b{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(n)]


def pledge(project_id, backer_id, amount_fen, at, status=PledgeStatus.PAID, client_hash=None, tier=False):
    row = Pledge(project_id=project_id, backer_id=backer_id, amount_fen=amount_fen, status=status, created_at=at,
                 paid_at=at if status == PledgeStatus.PAID else None, paid_fen=amount_fen,
                 out_trade_no=pledging.new_out_trade_no(), client_hash=client_hash)
    if tier:
        row.tier_id = db.session.get(Project, project_id).tiers[0].id
    db.session.add(row)
    db.session.flush()
    return row


def found(rule, project_id, now=NOW):
    return risk.RULES[rule](now, [project_id])


def set_status(project_id, status, end_at=None):
    project = db.session.get(Project, project_id)
    project.status = status
    if end_at is not None:
        project.end_at = end_at
    db.session.commit()


def test_every_rule_runs_in_the_periodic_job():
    assert any(job.func is run_risk_rules and job.interval <= 900 for job in PERIODIC_JOBS)
    assert set(risk.RULES) == {"funding_surge", "backer_share", "pledge_burst", "complaints", "no_update",
                               "refund_claims", "delivery_overdue"}


def test_a_surge_against_the_projects_own_trend_triggers(rules_app, project, make_user):
    ann, bob = backers(make_user, 2)
    with rules_app.app_context():
        for day in range(2, 9):  # a steady ¥1,000 a day the week before
            pledge(project, ann, 1_000_00, NOW - timedelta(days=day))
        pledge(project, bob, 6_000_00, NOW - timedelta(hours=3))
        pledge(project, bob, 6_000_00, NOW - timedelta(hours=1))
        db.session.commit()
        [finding] = found("funding_surge", project)
        assert finding.evidence["last_24h_fen"] == 12_000_00
        assert finding.evidence["trailing_daily_average_fen"] == 1_000_00
        assert finding.evidence["pledges_24h"] == 2 and finding.evidence["trailing_days"] == 7
        assert finding.observed_at == NOW - timedelta(hours=1)


def test_steady_growth_is_no_surge(rules_app, project, make_user):
    [ann] = backers(make_user, 1)
    with rules_app.app_context():
        for day in range(0, 9):  # ¥3,000 a day, every day, and still ¥3,000 today
            pledge(project, ann, 3_000_00, NOW - timedelta(days=day, hours=1))
        db.session.commit()
        assert found("funding_surge", project) == []


def test_a_surge_below_the_floor_or_with_no_history_is_no_surge(rules_app, project, make_user):
    [ann] = backers(make_user, 1)
    with rules_app.app_context():
        pledge(project, ann, 100_00, NOW - timedelta(days=3))
        pledge(project, ann, 9_999_00, NOW - timedelta(hours=2))  # ~700× the trend, but under the ¥10,000 floor
        db.session.commit()
        assert found("funding_surge", project) == []
        pledge(project, ann, 1_00, NOW - timedelta(hours=1))  # now over the floor
        db.session.commit()
        assert len(found("funding_surge", project)) == 1
        db.session.get(Project, project).launch_at = NOW - timedelta(hours=30)  # launched yesterday: no trend
        db.session.commit()
        assert found("funding_surge", project) == []


def test_one_backer_holding_an_outsized_share(rules_app, project, make_user):
    whale, *others = backers(make_user, 4)
    with rules_app.app_context():
        for backer in others:
            pledge(project, backer, 1_000_00, NOW - timedelta(days=2))
        pledge(project, whale, 3_000_00, NOW - timedelta(days=1))  # exactly half of ¥6,000: not more than half
        db.session.commit()
        assert found("backer_share", project) == []
        pledge(project, whale, 1_00, NOW - timedelta(hours=1))
        db.session.commit()
        [finding] = found("backer_share", project)
        assert finding.subject == f"backer:{whale}"
        assert finding.evidence["backer_fen"] == 3_001_00 and finding.evidence["total_fen"] == 6_001_00
        assert finding.evidence["backers"] == 4 and finding.evidence["share_percent"] == 50.0


def test_a_small_project_with_one_big_backer_is_below_the_floor(rules_app, project, make_user):
    [ann] = backers(make_user, 1)
    with rules_app.app_context():
        pledge(project, ann, 4_999_99, NOW - timedelta(days=1))  # 100 %, but under ¥5,000 raised
        db.session.commit()
        assert found("backer_share", project) == []


def test_many_pledges_from_one_account_in_a_short_window(rules_app, project, make_user):
    [ann] = backers(make_user, 1)
    with rules_app.app_context():
        for minute in (0, 3, 6, 9):
            pledge(project, ann, 10_00, NOW - timedelta(minutes=40 - minute), status=PledgeStatus.EXPIRED)
        pledge(project, ann, 10_00, NOW - timedelta(minutes=29))  # 11 minutes after the first: a near miss
        db.session.commit()
        assert found("pledge_burst", project) == []
        pledge(project, ann, 10_00, NOW - timedelta(minutes=30))  # five within ten minutes
        db.session.commit()
        [finding] = found("pledge_burst", project)
        assert finding.subject == f"backer:{ann}" and finding.evidence["source"] == "backer"
        assert finding.evidence["pledges"] == 5 and finding.evidence["backer_ids"] == [ann]


def test_many_pledges_from_one_address_across_accounts(rules_app, project, make_user):
    accounts = backers(make_user, 5)
    with rules_app.app_context():
        for n, backer in enumerate(accounts[:4]):
            pledge(project, backer, 10_00, NOW - timedelta(minutes=8 - n), client_hash="a" * 64)
        pledge(project, accounts[4], 10_00, NOW - timedelta(minutes=2), client_hash="b" * 64)
        db.session.commit()
        assert found("pledge_burst", project) == []
        pledge(project, accounts[4], 10_00, NOW - timedelta(minutes=1), client_hash="a" * 64)
        db.session.commit()
        [finding] = found("pledge_burst", project)
        assert finding.subject == "ip:" + "a" * 16 and finding.evidence["source"] == "ip"
        assert finding.evidence["backer_ids"] == sorted(accounts)
        assert "a" * 17 not in str(finding.evidence)  # the evidence never carries the whole hash


def test_complaints_from_distinct_people_in_24_hours(rules_app, project, make_user):
    ann, bob, cat = backers(make_user, 3)
    with rules_app.app_context():
        for n, who in enumerate((ann, bob)):  # (the database takes one report per person and project)
            db.session.add(Report(target_kind="project", target_id=project, reporter_id=who, category="fraud",
                                  created_at=NOW - timedelta(hours=2 - n)))
        db.session.add(Report(target_kind="project", target_id=project, reporter_id=cat, category="other",
                              created_at=NOW - timedelta(hours=25)))  # a day and an hour ago: outside the window
        db.session.commit()
        assert found("complaints", project) == []
        db.session.execute(db.delete(Report).where(Report.created_at < NOW - timedelta(hours=24)))
        db.session.add(Report(target_kind="project", target_id=project, reporter_id=cat, category="other",
                              created_at=NOW - timedelta(minutes=5)))
        db.session.commit()
        [finding] = found("complaints", project)
        assert finding.evidence["reporters"] == 3 and len(finding.evidence["report_ids"]) == 3
        assert finding.evidence["categories"] == {"fraud": 2, "other": 1}


def test_no_update_for_too_long_while_delivering(rules_app, project, make_user):
    with rules_app.app_context():
        set_status(project, ProjectStatus.DELIVERING, end_at=NOW - timedelta(days=60))
        creator = db.session.get(Project, project).creator_id
        db.session.add(ProjectUpdate(project_id=project, author_id=creator, title="t", body="b", body_html="b",
                                     created_at=NOW - timedelta(days=29)))
        db.session.commit()
        assert found("no_update", project) == []
        assert len(found("no_update", project, now=NOW + timedelta(days=2))) == 1
        [finding] = found("no_update", project, now=NOW + timedelta(days=2))
        assert finding.evidence["days_silent"] == 31 and finding.evidence["threshold_days"] == 30
        set_status(project, ProjectStatus.LIVE)  # a live campaign owes no delivery yet
        assert found("no_update", project, now=NOW + timedelta(days=2)) == []


def test_a_delivering_project_that_never_posted_counts_from_its_end(rules_app, project):
    with rules_app.app_context():
        set_status(project, ProjectStatus.SUCCESSFUL, end_at=NOW - timedelta(days=29, hours=23))
        assert found("no_update", project) == []
        set_status(project, ProjectStatus.SUCCESSFUL, end_at=NOW - timedelta(days=30, hours=1))
        [finding] = found("no_update", project)
        assert finding.evidence["last_update_at"] is None


def refund(pledge_row, reason, at):
    db.session.add(Refund(pledge_id=pledge_row.id, out_request_no=uuid.uuid4().hex, amount_fen=pledge_row.amount_fen,
                          reason=reason, created_at=at))


def test_refund_claims_piling_up(rules_app, project, make_user):
    people = backers(make_user, 6)
    with rules_app.app_context():
        rows = [pledge(project, who, 100_00, NOW - timedelta(days=20)) for who in people]
        for n, row in enumerate(rows[:4]):
            refund(row, "late" if n % 2 else "cancelled", NOW - timedelta(days=n))
        refund(rows[4], "late", NOW - timedelta(days=8))  # outside the week
        refund(rows[5], "failed", NOW - timedelta(hours=1))  # a failed campaign's refund is no claim
        db.session.commit()
        assert found("refund_claims", project) == []
        refund(rows[4], "late", NOW - timedelta(hours=2))
        db.session.commit()
        [finding] = found("refund_claims", project)
        assert finding.evidence["claims"] == 5 and finding.evidence["by_reason"] == {"late": 3, "cancelled": 2}
        assert finding.evidence["amount_fen"] == 500_00


def test_delivery_overdue(rules_app, project, make_user):
    ann, bob = backers(make_user, 2)
    with rules_app.app_context():
        set_status(project, ProjectStatus.DELIVERING, end_at=NOW - timedelta(days=90))
        tier = db.session.get(Project, project).tiers[0]
        tier.delivery_month = "2031-02"  # promised by 2031-03-30 (month end + 30 days): not late on 2031-03-15
        late = pledge(project, ann, 100_00, NOW - timedelta(days=100), tier=True)
        shipped = pledge(project, bob, 100_00, NOW - timedelta(days=100), tier=True)
        shipped.shipped_at = NOW - timedelta(days=1)
        db.session.commit()
        assert found("delivery_overdue", project) == []
        [finding] = found("delivery_overdue", project, now=datetime(2031, 3, 31, tzinfo=timezone.utc))
        assert finding.evidence["overdue_pledges"] == 1 and finding.evidence["by_month"] == {"2031-02": 1}
        assert finding.evidence["earliest_promised_by"] == "2031-03-30"
        late.shipped_at = NOW
        db.session.commit()
        assert found("delivery_overdue", project, now=datetime(2031, 3, 31, tzinfo=timezone.utc)) == []


def whale_pledges(project, make_user):
    whale, other = backers(make_user, 2)
    pledge(project, other, 1_000_00, NOW - timedelta(days=2))
    pledge(project, whale, 9_000_00, NOW - timedelta(days=1))
    db.session.commit()
    return whale


def alert_rows(project):
    return db.session.scalars(select(RiskAlert).where(RiskAlert.project_id == project)
                              .order_by(RiskAlert.id)).all()


def test_running_twice_keeps_one_open_alert_with_fresh_evidence(rules_app, project, make_user):
    with rules_app.app_context():
        whale = whale_pledges(project, make_user)
        assert risk.run_rules(NOW) == 1
        pledge(project, whale, 1_000_00, NOW - timedelta(hours=1))
        db.session.commit()
        assert risk.run_rules(NOW + timedelta(minutes=10)) == 0
        [alert] = alert_rows(project)
        assert alert.status == "open" and alert.rule == "backer_share" and alert.open_key
        assert alert.evidence["backer_fen"] == 10_000_00
        assert alert.first_seen_at == NOW and alert.last_seen_at == NOW + timedelta(minutes=10)


def test_the_event_and_the_job_raise_one_alert(rules_app, project, make_user):
    with rules_app.app_context():
        whale_pledges(project, make_user)
        # The event hook runs the job (inline here, no Redis) on the real clock: NOW is in its future.
        db.session.get(Project, project).launch_at = None
        for row in db.session.scalars(select(Pledge).where(Pledge.project_id == project)):
            row.paid_at = row.created_at = datetime.now(timezone.utc) - timedelta(hours=1)
        db.session.commit()
        risk.queue_check(project)
        assert check_project_risk(project) == 0
        assert run_risk_rules() == 0
        assert [alert.rule for alert in alert_rows(project)] == ["backer_share"]


def test_the_database_refuses_a_second_open_alert_for_one_condition(rules_app, project):
    from sqlalchemy.exc import IntegrityError

    with rules_app.app_context():
        key = risk.open_key("complaints", project)
        db.session.add(RiskAlert(project_id=project, rule="complaints", open_key=key, evidence={}))
        db.session.commit()
        db.session.add(RiskAlert(project_id=project, rule="complaints", open_key=key, evidence={}))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        # Resolved ones let go of the key: as many as the condition happened.
        for _ in range(2):
            db.session.add(RiskAlert(project_id=project, rule="complaints", open_key=None, status="resolved",
                                     evidence={}))
        db.session.commit()


def test_after_resolving_only_something_new_raises_a_new_alert(rules_app, project, make_user):
    with rules_app.app_context():
        moderator = db.session.get(User, make_user(roles=["moderator"]))
        whale = whale_pledges(project, make_user)
        risk.run_rules(NOW)
        [alert] = alert_rows(project)
        risk.resolve(alert, moderator, "Known family donor; checked.", now=NOW + timedelta(minutes=5))
        assert alert.open_key is None and alert.status == "resolved"
        assert risk.run_rules(NOW + timedelta(minutes=10)) == 0  # same facts: settled
        pledge(project, whale, 500_00, NOW + timedelta(minutes=20))
        db.session.commit()
        assert risk.run_rules(NOW + timedelta(minutes=30)) == 1  # a newer pledge of the same backer
        first, second = alert_rows(project)
        assert (first.status, second.status) == ("resolved", "open") and second.open_key == first_key(project, whale)


def first_key(project, whale):
    return risk.open_key("backer_share", project, f"backer:{whale}")


def test_moderator_actions_are_audited_and_follow_the_lifecycle(rules_app, project, make_user):
    with rules_app.app_context():
        moderator = db.session.get(User, make_user(roles=["moderator"]))
        creator = db.session.get(User, db.session.get(Project, project).creator_id)
        whale_pledges(project, make_user)
        risk.run_rules(NOW)
        [alert] = alert_rows(project)
        with pytest.raises(risk.RiskError):
            risk.acknowledge(alert, creator)
        risk.acknowledge(alert, moderator)
        with pytest.raises(risk.RiskError):
            risk.acknowledge(alert, moderator)
        assert risk.can_suspend(alert)
        risk.suspend_project(alert, moderator)
        assert alert.project.status == ProjectStatus.SUSPENDED and not risk.can_suspend(alert)
        with pytest.raises(risk.RiskError):
            risk.suspend_project(alert, moderator)
        with pytest.raises(risk.RiskError):
            risk.resolve(alert, moderator, "  ")
        risk.resolve(alert, moderator, "Suspended pending documents.")
        with pytest.raises(risk.RiskError):
            risk.resolve(alert, moderator, "again")
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "risk_alerts")
                                     .order_by(AuditEntry.id)).all()
        assert actions == ["risk_alert.acknowledge", "risk_alert.suspend", "risk_alert.resolve"]


def test_a_project_report_feeds_the_complaints_rule_and_resolving_closes_the_reports(rules_app, project,
                                                                                        make_user):
    people = backers(make_user, 3)
    with rules_app.app_context():
        moderator = db.session.get(User, make_user(roles=["moderator"]))
        row = db.session.get(Project, project)
        row.launch_at, row.end_at = datetime.now(timezone.utc) - timedelta(days=1), None
        db.session.commit()
        for who in people[:2]:
            assert reports.report_project(row, db.session.get(User, who), "fraud", "Looks fake")
        assert alert_rows(project) == []
        assert not reports.report_project(row, db.session.get(User, people[0]), "other")  # once per person
        assert reports.report_project(row, db.session.get(User, people[2]), "not_delivering")
        [alert] = alert_rows(project)  # the report's job checked the project at once
        assert alert.rule == "complaints" and alert.evidence["reporters"] == 3
        assert risk.run_rules() == 0
        assert len(risk.project_reports(alert)) == 3
        risk.resolve(alert, moderator, "Spoke to the creator; documents supplied.")
        assert db.session.scalar(select(func.count(Report.id)).where(Report.resolved_at.is_(None))) == 0
        assert risk.run_rules() == 0
        with pytest.raises(reports.ReportError):
            reports.report_project(row, db.session.get(User, people[0]), "nonsense")
        with pytest.raises(reports.ReportError):
            reports.report_project(row, db.session.get(User, row.creator_id), "fraud")
