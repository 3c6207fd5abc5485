"""The escrow ledger: balanced, append-only, idempotent, hash-chained; closing and refunds through it."""
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from crowdfund import closing, jobs, ledger
from crowdfund.extensions import db
from crowdfund.models import LedgerTransaction, Pledge, PledgeStatus, Project, ProjectStatus, Refund
from crowdfund.models.base import utcnow
from tests.conftest import tamper


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def test_transactions_must_balance(ctx):
    for entries in ([], [("a", 100)], [("a", 100), ("b", -99)], [("a", 0), ("b", 0)], [("a", 1.5), ("b", -1.5)]):
        with pytest.raises(ledger.Unbalanced):
            ledger.post("payment", f"bad-{entries}", entries)


def test_a_key_is_booked_once(ctx):
    first = ledger.post("payment", "payment:T1", [("clearing:alipay", 500), ("escrow:project:1", -500)])
    again = ledger.post("payment", "payment:T1", [("clearing:alipay", 500), ("escrow:project:1", -500)])
    db.session.commit()
    assert first.id == again.id and ledger.balance("escrow:project:1") == -500
    assert db.session.query(LedgerTransaction).count() == 1


def test_the_orm_refuses_to_change_history(ctx):
    txn = ledger.post("payment", "payment:T2", [("clearing:alipay", 500), ("escrow:project:1", -500)])
    db.session.commit()
    txn.memo = "rewritten"
    with pytest.raises(ledger.AppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(LedgerTransaction, txn.id))
    with pytest.raises(ledger.AppendOnly):
        db.session.commit()
    db.session.rollback()


def test_the_database_itself_refuses_updates_and_deletes(ctx):
    if db.engine.dialect.name not in ("postgresql", "mysql"):
        pytest.skip("the triggers exist on PostgreSQL and MySQL/MariaDB (SQLite relies on the ORM guard above)")
    ledger.post("payment", "payment:T3", [("clearing:alipay", 500), ("escrow:project:1", -500)])
    db.session.commit()
    for statement in ("UPDATE ledger_entries SET amount_fen = 1", "DELETE FROM ledger_transactions"):
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET amount_fen = amount_fen * 2",
    "UPDATE ledger_transactions SET memo = 'nothing to see' WHERE seq = 1",
    "DELETE FROM ledger_entries WHERE id = (SELECT max(id) FROM ledger_entries)",
    "UPDATE ledger_transactions SET created_at = created_at WHERE seq = 2",
    "DELETE FROM ledger_head",
    "UPDATE ledger_head SET seq = 2",
])
def test_any_edit_of_a_stored_row_is_detected(app, ctx, statement, runner):
    for i in range(3):
        ledger.post("payment", f"payment:E{i}", [("clearing:alipay", 100 + i), ("escrow:project:1", -100 - i)])
    db.session.commit()
    assert ledger.verify() == []
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0
    tamper(statement)
    db.session.expire_all()
    problems = ledger.verify()
    if "created_at = created_at" in statement:
        assert problems == [], "a no-op write changes nothing"
        return
    assert problems
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "PROBLEM" in result.output


def _live_project(app, make_project, make_user, goal_fen, paid_amounts, mode="all_or_nothing"):
    backers = [make_user() for _ in paid_amounts]
    slug = make_project(status="live", goal_fen=goal_fen, tiers=[],
                        paid=[(b, amount, None) for b, amount in zip(backers, paid_amounts, strict=True)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.funding_mode = mode
        project.end_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        return project.id


def test_a_funded_campaign_succeeds_at_its_deadline(app, make_project, make_user, live_server):
    project_id = _live_project(app, make_project, make_user, 300_00, [200_00, 150_00])
    with app.test_request_context("/"):
        assert closing.close_ended_campaigns() == 1
        assert closing.close_ended_campaigns() == 0, "closing twice does nothing"
        project = db.session.get(Project, project_id)
        assert project.status == ProjectStatus.SUCCESSFUL
        assert ledger.project_funds(project_id) == {"raised": 350_00, "refunded": 0, "fees": 17_50, "withdrawn": 0,
                                                    "escrow": 332_50, "guaranteed": 0}, "the 5% fee is booked at success"
        assert ledger.balance("fee_revenue") == -17_50


def test_a_failed_campaign_refunds_everyone_exactly_once(app, make_project, make_user, live_server, client):
    from crowdfund.models import SandboxTrade
    from crowdfund.payments import sandbox

    project_id = _live_project(app, make_project, make_user, 1000_00, [200_00, 150_00])
    with app.test_request_context("/"):
        for pledge in db.session.scalars(db.select(Pledge).filter_by(project_id=project_id)):
            db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no=f"T{pledge.id}",
                                        app_id=app.config["ALIPAY_APP_ID"], total_fen=pledge.amount_fen,
                                        subject="x", status="TRADE_SUCCESS", channel="pc"))
        db.session.commit()
        closing.close_ended_campaigns()
        assert db.session.get(Project, project_id).status == ProjectStatus.FAILED
        refunds = db.session.scalars(db.select(Refund)).all()
        assert [r.status for r in refunds] == ["succeeded", "succeeded"]
        assert all(p.status == PledgeStatus.REFUNDED for p in db.session.scalars(db.select(Pledge)))
        assert ledger.project_funds(project_id)["escrow"] == 0
        assert ledger.project_funds(project_id)["refunded"] == 350_00
        from crowdfund import refunds as refund_module

        for refund in refunds:
            assert refund_module.execute(refund.id) == "skipped"
            assert len(sandbox.refunds_for(refund.pledge.out_trade_no)) == 1
        assert ledger.verify() == []
        assert jobs.verify_ledger(), "the periodic check the funds page reports"
    page = client.get(f"/projects/{db_slug(app, project_id)}/funds").get_data(as_text=True)
    assert "¥350.00" in page and "账本哈希链校验通过" in page and "退款给支持者" in page


def db_slug(app, project_id):
    with app.app_context():
        return db.session.get(Project, project_id).slug


def test_flexible_campaigns_keep_what_they_raised(app, make_project, make_user):
    project_id = _live_project(app, make_project, make_user, 1000_00, [10_00], mode="flexible")
    with app.app_context():
        closing.close_ended_campaigns()
        assert db.session.get(Project, project_id).status == ProjectStatus.SUCCESSFUL


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["pay", "dup", "refund"]), st.integers(0, 4),
                          st.integers(1, 500_00)), max_size=25))
def test_random_sequences_keep_the_books_balanced(app, ops):
    """Payments, duplicates and refunds in any order: balanced, escrow = paid − refunded, chain verifies."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":  # DELETE is refused by the append-only trigger
            db.session.execute(text("TRUNCATE ledger_entries, ledger_transactions, ledger_head"))
        elif db.engine.dialect.name == "mysql":  # TRUNCATE fires no trigger there either; one table at a time
            db.session.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for table in ("ledger_entries", "ledger_transactions", "ledger_head"):
                db.session.execute(text(f"TRUNCATE TABLE {table}"))
            db.session.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
        else:
            for table in ("ledger_entries", "ledger_transactions", "ledger_head"):
                db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        paid, refunded = {}, set()
        for op, slot, amount in ops:
            key = f"P{slot}"
            if op in ("pay", "dup") and (op == "pay" or key in paid):
                amount = paid.get(key, amount)
                ledger.post("payment", f"payment:{key}", [("clearing:alipay", amount), ("escrow:project:7", -amount)],
                            project_id=None)
                paid.setdefault(key, amount)
            elif op == "refund" and key in paid:
                ledger.post("refund", f"refund:{key}", [("escrow:project:7", paid[key]),
                                                        ("clearing:alipay", -paid[key])])
                refunded.add(key)
            db.session.commit()
        expected = sum(paid.values()) - sum(paid[k] for k in refunded)
        assert -ledger.balance("escrow:project:7") == expected
        assert ledger.balance("clearing:alipay") == expected
        assert ledger.verify() == []
