"""The periodic check of the ledger's hash chain: recorded, incremental between daily full passes, honest on failure."""
from datetime import timedelta

import pytest
from sqlalchemy import event

from crowdfund import jobs, ledger
from crowdfund.extensions import db
from crowdfund.models import LedgerHead, LedgerVerification, Notification, Role
from crowdfund.models.base import utcnow
from crowdfund.queueing import PERIODIC_JOBS
from tests.conftest import tamper


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def book(count, start=0):
    for i in range(start, start + count):
        ledger.post("payment", f"payment:V{i}", [("clearing:alipay", 100 + i), ("escrow:project:1", -100 - i)])
    db.session.commit()


def test_the_job_is_periodic_and_records_a_sound_chain(ctx):
    assert any(job.func is jobs.verify_ledger and job.interval == 300 for job in PERIODIC_JOBS)
    book(3)
    assert jobs.verify_ledger() is True
    check = ledger.latest_verification()
    head = db.session.get(LedgerHead, 1)
    assert (check.source, check.ok, check.full, check.checked) == ("job", True, True, 3)
    assert (check.last_seq, check.last_hash, check.broken_seq, check.problems) == (3, head.last_hash, None, [])
    assert check.started_at <= check.finished_at


def test_an_empty_ledger_verifies(ctx):
    check = ledger.record_verification()
    assert (check.ok, check.checked, check.last_seq, check.last_hash) == (True, 0, 0, ledger.GENESIS)


def test_later_runs_recompute_only_what_was_booked_since(ctx):
    start = utcnow()
    book(3)
    assert ledger.record_verification(now=start).full
    book(2, start=3)
    second = ledger.record_verification(now=start + timedelta(minutes=5))
    assert (second.ok, second.full, second.checked, second.last_seq) == (True, False, 2, 5)
    third = ledger.record_verification(now=start + timedelta(minutes=10))
    assert (third.ok, third.full, third.checked, third.last_seq) == (True, False, 0, 5)
    daily = ledger.record_verification(now=start + ledger.FULL_CHECK_EVERY)
    assert (daily.ok, daily.full, daily.checked, daily.last_seq) == (True, True, 5, 5)


def test_an_edit_of_old_history_is_found_by_the_full_pass_and_stays_found(app, ctx, make_user):
    finance = make_user(roles=[Role.FINANCE])
    start = utcnow()
    book(3)
    ledger.record_verification(now=start)
    tamper("UPDATE ledger_entries SET amount_fen = amount_fen * 2 "
           "WHERE transaction_id = (SELECT id FROM ledger_transactions WHERE seq = 1)")
    db.session.expire_all()
    quick = ledger.record_verification(now=start + timedelta(minutes=5))
    assert quick.ok and not quick.full, "between full passes, what was verified is trusted"
    full = ledger.record_verification(now=start + ledger.FULL_CHECK_EVERY)
    assert (full.ok, full.full, full.broken_seq) == (False, True, 1)
    assert any("content does not match its hash" in problem for problem in full.problems)
    again = ledger.record_verification(now=start + ledger.FULL_CHECK_EVERY + timedelta(minutes=5))
    assert (again.ok, again.full, again.broken_seq) == (False, True, 1), "after a failure every run is a full one"
    alerts = db.session.scalars(db.select(Notification).filter_by(kind="ledger_broken")).all()
    assert [alert.user_id for alert in alerts] == [finance], "finance hears once, when the chain stops verifying"


def test_a_rewrite_of_the_last_verified_transaction_is_found_between_full_passes(ctx):
    start = utcnow()
    book(3)
    ledger.record_verification(now=start)
    tamper("UPDATE ledger_transactions SET hash = repeat('f', 64) WHERE seq = 3")
    tamper("UPDATE ledger_head SET last_hash = repeat('f', 64)")
    db.session.expire_all()
    check = ledger.record_verification(now=start + timedelta(minutes=5))
    assert (check.ok, check.full, check.broken_seq) == (False, False, 3)
    assert "no longer has the hash verified" in check.problems[0]


def test_a_booking_made_while_the_check_runs_waits_for_the_next_one(app, ctx):
    book(2)
    posted = []

    def book_meanwhile(conn, cursor, statement, *args):
        if "FROM ledger_head" in statement and not posted:
            posted.append(True)
            with app.app_context():  # another session, committed between the check's head and chain queries
                book(1, start=2)

    event.listen(db.engine, "after_cursor_execute", book_meanwhile)
    try:
        check = ledger.record_verification()
    finally:
        event.remove(db.engine, "after_cursor_execute", book_meanwhile)
    assert posted and (check.ok, check.last_seq) == (True, 2), check.problems
    later = ledger.record_verification()
    assert (later.ok, later.checked, later.last_seq) == (True, 1, 3)


def test_the_cli_runs_a_full_check_and_records_it(app, ctx, runner):
    book(2)
    ledger.record_verification()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "2 transactions" in result.output
    check = ledger.latest_verification()
    assert (check.source, check.full, check.ok, check.checked) == ("cli", True, True, 2)
    tamper("UPDATE ledger_transactions SET memo = 'nothing to see' WHERE seq = 2")
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "PROBLEM: transaction 2" in result.output
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(LedgerVerification.id))) == 3
    check = ledger.latest_verification()
    assert (check.source, check.ok, check.broken_seq) == ("cli", False, 2)
