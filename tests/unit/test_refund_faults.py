"""Refunds survive crashes and outages: one refund at the provider, one ledger booking, finance alerted."""
import os
import signal
import subprocess
import sys
from datetime import timedelta


from crowdfund import ledger, refunds
from crowdfund.extensions import db
from crowdfund.models import LedgerTransaction, Notification, Pledge, PledgeStatus, Project, Refund, SandboxTrade
from crowdfund.models.base import utcnow
from crowdfund.payments import sandbox
from tests.conftest import ROOT, LiveServer, wait_for


def paid_pledge(app, make_project, make_user, amount=66_00):
    backer = make_user()
    slug = make_project(status="live", tiers=[], paid=[(backer, amount, None)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        pledge = db.session.scalar(db.select(Pledge).filter_by(project_id=project.id))
        db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no=f"T{pledge.id}",
                                    app_id=app.config["ALIPAY_APP_ID"], total_fen=amount, subject="x",
                                    status="TRADE_SUCCESS", channel="pc"))
        db.session.commit()
        return pledge.id, pledge.out_trade_no


def test_worker_killed_mid_refund_then_run_again(redis_app, make_project, make_user, tmp_path):
    server = LiveServer(redis_app)
    redis_app.config.update(SITE_URL=server.url, SANDBOX_REFUND_DELAY=3)
    try:
        pledge_id, out_trade_no = paid_pledge(redis_app, make_project, make_user)
        env = {**os.environ, "DATABASE_URL": redis_app.config["SQLALCHEMY_DATABASE_URI"],
               "REDIS_URL": redis_app.config["REDIS_URL"], "SECRET_KEY": redis_app.config["SECRET_KEY"],
               "INSTANCE_PATH": redis_app.instance_path, "SITE_URL": server.url, "PAYMENT_SANDBOX": "1"}
        worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--no-cron"], cwd=ROOT, env=env,
                                  stdout=open(tmp_path / "w.log", "w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        with redis_app.app_context():
            refund = refunds.request_refund(db.session.get(Pledge, pledge_id), "failed")
            refund_id = refund.id

        def provider_has_refunded():
            with redis_app.app_context():
                return len(sandbox.refunds_for(out_trade_no)) == 1

        wait_for(provider_has_refunded, timeout=30)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-job
        worker.wait(10)
        with redis_app.app_context():
            assert db.session.get(Refund, refund_id).status == "pending", "killed before booking"
            assert db.session.scalar(db.select(db.func.count(LedgerTransaction.id)).filter_by(kind="refund")) == 0
        redis_app.config["SANDBOX_REFUND_DELAY"] = 0
        with redis_app.app_context():
            assert refunds.execute(refund_id) == "succeeded"
            assert refunds.execute(refund_id) == "skipped"
            assert len(sandbox.refunds_for(out_trade_no)) == 1, "the provider refunded once"
            keys = db.session.scalars(db.select(LedgerTransaction.idempotency_key).filter_by(kind="refund")).all()
            assert keys == [f"refund:{refunds.out_request_no(db.session.get(Pledge, pledge_id), 'failed')}"]
            assert db.session.get(Pledge, pledge_id).status == PledgeStatus.REFUNDED
            assert ledger.verify() == []
    finally:
        server.stop()


def test_an_unreachable_provider_is_retried_then_finance_is_alerted(make_app, make_project, make_user):
    app = make_app(ALIPAY_GATEWAY="http://127.0.0.1:1/gateway.do")
    make_user(email="finance@example.com", roles=["finance"])
    pledge_id, _ = paid_pledge(app, make_project, make_user)
    with app.app_context():
        refund = refunds.request_refund(db.session.get(Pledge, pledge_id), "failed")  # first attempt, inline
        db.session.expire_all()
        assert db.session.get(Refund, refund.id).attempts == 1
        for _ in refunds.RETRY_SECONDS[1:]:
            assert refunds.retry_pending_refunds() == 1
        assert refunds.retry_pending_refunds() == 1  # the last try gives up and alerts finance
        assert refunds.retry_pending_refunds() == 0
        db.session.expire_all()
        row = db.session.get(Refund, refund.id)
        assert row.status == "failed" and row.attempts == len(refunds.RETRY_SECONDS) + 1 and row.last_error
        assert [(n.kind, n.link) for n in db.session.scalars(db.select(Notification))] == [
            ("refund_failed", "/finance/refunds")], "finance is sent to the refunds page, once"
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.PAID, "nothing booked without the provider"
        assert ledger.project_funds(db.session.get(Pledge, pledge_id).project_id)["refunded"] == 0


def test_a_duplicate_notification_after_a_refund_changes_nothing(app, client, make_project, make_user, live_server):
    from crowdfund import closing

    pledge_id, out_trade_no = paid_pledge(app, make_project, make_user)
    with app.test_request_context("/"):
        pledge = db.session.get(Pledge, pledge_id)
        pledge.project.end_at = utcnow() - timedelta(seconds=1)
        pledge.project.goal_fen = 10_000_00
        db.session.commit()
        closing.close_ended_campaigns()
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.REFUNDED
        params = sandbox.notification_params(db.session.scalar(db.select(SandboxTrade).filter_by(
            out_trade_no=out_trade_no)))
    assert client.post("/payments/alipay/notify", data=params).get_data(as_text=True) == "success"
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.REFUNDED
        assert db.session.scalar(db.select(db.func.count(LedgerTransaction.id))) == 2  # payment + refund
        assert ledger.verify() == []
