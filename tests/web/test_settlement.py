"""Settlement: the fee at success, stage-1 withdrawals requested by the creator, decided and paid by finance."""
from datetime import date, timedelta

import pytest

from crowdfund import closing, ledger, settlement
from crowdfund.extensions import db
from crowdfund.models import AuditEntry, Project, User, Withdrawal
from crowdfund.models.base import utcnow
from crowdfund.queueing import background_jobs
from tests.conftest import Browserless, csrf_from


def successful_project(app, make_project, make_user, amounts=(600_00, 400_00), creator=None):
    backers = [make_user() for _ in amounts]
    slug = make_project(status="live", goal_fen=500_00, tiers=[dict(title="回报 Reward", price_fen=100_00)],
                        creator=creator, paid=[(b, a, 0) for b, a in zip(backers, amounts, strict=True)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        closing.close_ended_campaigns()
        return slug, project.creator.email


def test_business_days_skip_weekends_and_holidays():
    friday = date(2026, 10, 2)
    assert settlement.add_business_days(friday, 1) == date(2026, 10, 5)
    assert settlement.add_business_days(friday, 7) == date(2026, 10, 13)
    assert settlement.add_business_days(friday, 1, {"2026-10-05", "2026-10-06"}) == date(2026, 10, 7)


def test_fee_rate_default_and_admin_bounds(app, make_project, make_user):
    creator = make_user(roles=["creator"])
    first = make_project(status="live", creator=creator)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=first))
        assert settlement.fee_rate_bp(project) == 500
    make_project(status="live", creator=creator)
    with app.app_context():
        delivered = db.session.scalars(db.select(Project).filter_by(creator_id=creator)).all()[1]
        delivered.status = "completed"
        db.session.commit()
        assert settlement.fee_rate_bp(db.session.scalar(db.select(Project).filter_by(slug=first))) == 500, \
            "completed without a reward shipped on time is no delivery record (test_delivery covers the discount)"
        admin = User(email="a@x.test", display_name="A", password_hash="x", terms_version="1", privacy_version="1")
        db.session.add(admin)
        db.session.commit()
        with pytest.raises(settlement.SettlementError):
            settlement.set_fee_rate(project, admin, 1200)
        settlement.set_fee_rate(project, admin, 800)
        assert settlement.fee_rate_bp(project) == 800


def test_stage_one_request_approve_pay(app, client, make_project, make_user, login_as):
    slug, creator_email = successful_project(app, make_project, make_user)
    creator = Browserless(app.test_client())
    creator.login(email=creator_email)
    page = creator.client.get(f"/me/projects/{slug}/money").get_data(as_text=True)
    assert "¥475.00" in page, "half of the net: (1000 − 5% fee) / 2"
    token = csrf_from(creator.client.get(f"/me/projects/{slug}/money"))
    assert creator.client.post(f"/me/projects/{slug}/money", data={"csrf_token": token}).status_code == 303
    assert creator.client.post(f"/me/projects/{slug}/money", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        (withdrawal,) = db.session.scalars(db.select(Withdrawal)).all()
        assert withdrawal.amount_fen == 475_00 and withdrawal.status == "requested"
        withdrawal_id = withdrawal.id

    login_as("finance")
    queue = client.get("/finance/withdrawals").get_data(as_text=True)
    assert "¥475.00" in queue
    token = csrf_from(client.get("/finance/withdrawals"))
    assert client.post(f"/finance/withdrawals/{withdrawal_id}", data={"csrf_token": token, "action": "approve"}).status_code == 303
    with app.app_context():
        withdrawal = db.session.get(Withdrawal, withdrawal_id)
        assert withdrawal.status == "approved" and withdrawal.due_date > date.today()
        due = withdrawal.due_date.isoformat()
        project_id = withdrawal.project_id
        assert ledger.project_funds(project_id)["escrow"] == 475_00
    assert due in creator.client.get(f"/me/projects/{slug}/money").get_data(as_text=True)
    no_ref = client.post(f"/finance/withdrawals/{withdrawal_id}", data={"csrf_token": token, "action": "paid"})
    assert no_ref.status_code == 303
    client.post(f"/finance/withdrawals/{withdrawal_id}", data={"csrf_token": token, "action": "paid",
                                                               "reference": "ICBC-20261126-001"})
    with app.app_context():
        assert db.session.get(Withdrawal, withdrawal_id).status == "paid"
        assert ledger.project_funds(project_id) == {"raised": 1000_00, "refunded": 0, "fees": 50_00,
                                                    "withdrawn": 475_00, "escrow": 475_00, "guaranteed": 0}
        assert ledger.balance(settlement.creator_payable(project_id)) == 0
        assert ledger.verify() == []
        actions = [a.action for a in db.session.scalars(db.select(AuditEntry).where(AuditEntry.action != "user.roles"))]
        assert actions == ["withdrawal.approve", "withdrawal.paid"]
    funds = client.get(f"/projects/{slug}/funds").get_data(as_text=True)
    assert "¥50.00" in funds and "¥475.00" in funds


def test_rejection_needs_a_reason_and_only_finance_decides(app, client, make_project, make_user, login_as, forms):
    slug, creator_email = successful_project(app, make_project, make_user)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        withdrawal = settlement.request(project, project.creator)
        withdrawal_id = withdrawal.id
    login_as("moderator")
    assert client.get("/finance/withdrawals").status_code == 403
    forms.logout()
    login_as("finance")
    token = csrf_from(client.get("/finance/withdrawals"))
    client.post(f"/finance/withdrawals/{withdrawal_id}", data={"csrf_token": token, "action": "reject"})
    with app.app_context():
        assert db.session.get(Withdrawal, withdrawal_id).status == "requested"
    client.post(f"/finance/withdrawals/{withdrawal_id}", data={"csrf_token": token, "action": "reject",
                                                               "reason": "请先补充发货计划"})
    with app.app_context():
        assert db.session.get(Withdrawal, withdrawal_id).status == "rejected"
    creator = Browserless(app.test_client())
    creator.login(email=creator_email)
    assert "请先补充发货计划" in creator.client.get(f"/me/projects/{slug}/money").get_data(as_text=True)


def test_failed_or_foreign_projects_cannot_withdraw(app, make_project, make_user):
    slug = make_project(status="live")
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        with pytest.raises(settlement.SettlementError):
            settlement.request(project, project.creator)
        stranger = db.session.get(User, make_user())
        with pytest.raises(settlement.SettlementError):
            settlement.request(project, stranger)


def test_admins_set_the_fee_rate_from_the_funds_page(app, client, make_project, make_user, login_as):
    slug = make_project(status="live")
    login_as("finance")
    token = csrf_from(client.get(f"/projects/{slug}/funds"))
    assert client.post(f"/finance/projects/{slug}/fee-rate",
                       data={"csrf_token": token, "rate_bp": "800"}).status_code == 403, "admins only"
    make_user(email="boss@example.com", roles=["admin"])
    boss = Browserless(app.test_client())
    boss.login(email="boss@example.com")
    assert "本项目的平台服务费" in boss.client.get(f"/projects/{slug}/funds").get_data(as_text=True)
    token = csrf_from(boss.client.get(f"/projects/{slug}/funds"))
    boss.client.post(f"/finance/projects/{slug}/fee-rate", data={"csrf_token": token, "rate_bp": "1500"})
    with app.app_context():
        assert db.session.scalar(db.select(Project.fee_rate_bp).filter_by(slug=slug)) is None, "15% is refused"
    boss.client.post(f"/finance/projects/{slug}/fee-rate", data={"csrf_token": token, "rate_bp": "800"})
    with app.app_context():
        assert db.session.scalar(db.select(Project.fee_rate_bp).filter_by(slug=slug)) == 800


def test_finance_sees_failed_refunds_and_retries_them(make_app, make_project, make_user, login_as):
    from crowdfund import refunds
    from crowdfund.models import Pledge, Refund

    app = make_app(ALIPAY_GATEWAY="http://127.0.0.1:1/gateway.do")
    backer = make_user()
    make_project(status="live", tiers=[], paid=[(backer, 40_00, None)])
    make_user(email="fin@example.com", roles=["finance"])
    with app.app_context():
        refund = refunds.request_refund(db.session.scalar(db.select(Pledge)), "failed")
        for _ in refunds.RETRY_SECONDS:
            refunds.retry_pending_refunds()
        db.session.expire_all()
        refund_id = refund.id
        assert db.session.get(Refund, refund_id).status == "failed"
    finance = Browserless(app.test_client())
    finance.login(email="fin@example.com")
    page = finance.client.get("/finance/refunds").get_data(as_text=True)
    assert "退款失败" in page and "unreachable" in page
    token = csrf_from(finance.client.get("/finance/refunds"))
    assert finance.client.post(f"/finance/refunds/{refund_id}/retry", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.get(Refund, refund_id).attempts == 1, "a fresh round of attempts started"


def test_ledger_csv_and_reconciliation_for_finance(app, client, make_project, make_user, login_as, live_server):
    from crowdfund.models import Pledge, SandboxTrade

    backer = make_user()
    make_project(status="live", tiers=[], paid=[(backer, 30_00, None), (backer, 20_00, None)])
    with app.app_context():
        matched, missing = db.session.scalars(db.select(Pledge).order_by(Pledge.id)).all()
        db.session.add(SandboxTrade(out_trade_no=matched.out_trade_no, trade_no="T1", app_id=app.config["ALIPAY_APP_ID"],
                                    total_fen=30_00, subject="x", status="TRADE_SUCCESS", channel="pc"))
        db.session.commit()
        missing_no = missing.out_trade_no
    login_as("moderator")
    assert client.get("/finance/ledger.csv").status_code == 403
    finance = Browserless(app.test_client())
    make_user(email="fin2@example.com", roles=["finance"])
    finance.login(email="fin2@example.com")
    csv_text = finance.client.get("/finance/ledger.csv").get_data(as_text=True)
    assert csv_text.lstrip("\ufeff").startswith("seq,created_at,kind,idempotency_key") and csv_text.count("payment:") == 4
    token = csrf_from(finance.client.get("/finance/reconciliation"))
    assert finance.client.post("/finance/reconciliation", data={"csrf_token": token}).status_code == 303
    assert background_jobs(app).wait(30), "the run happens in the background"
    report = finance.client.get("/finance/reconciliation").get_data(as_text=True)
    assert "已核对 2 笔付款" in report and missing_no in report and report.count('class="finding blocking"') == 1
    page = finance.client.get("/finance/reconciliation").get_data(as_text=True)
    assert "上次运行" in page and missing_no in page, "the last run is kept for the page"
    with app.app_context():
        from crowdfund.models import Notification, ReconciliationRun
        from crowdfund.payments.reconciliation import daily_reconciliation
        from crowdfund.queueing import PERIODIC_JOBS

        assert any(job.func is daily_reconciliation and job.interval == 24 * 3600 for job in PERIODIC_JOBS), \
            "reconciliation runs every day by itself"
        fin = db.session.scalar(db.select(User).filter_by(email="fin2@example.com"))
        assert db.session.scalar(db.select(Notification).filter_by(user_id=fin.id, kind="reconciliation_mismatch"))
        assert daily_reconciliation() == (2, 1)
        assert len(db.session.scalars(db.select(ReconciliationRun)).all()) == 2
