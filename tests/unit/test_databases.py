"""What the money path needs from the database, on whichever backend the run uses (crowdfund/databases.py).

`make test` runs this file on PostgreSQL and again on MariaDB (scripts/run_tests.py MONEY_PATH); the tests that
name MySQL/MariaDB behaviour are skipped elsewhere.
"""
from datetime import timedelta

import pytest
from sqlalchemy import text

from crowdfund import accounts, ledger, notifications
from crowdfund.config import normalize_database_url
from crowdfund.extensions import db
from crowdfund.models import AuditEntry, Coupon, Notification, User
from crowdfund.models.base import utcnow
from crowdfund.models.ledger import LedgerTransaction


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def dialect():
    return db.engine.dialect.name


@pytest.mark.parametrize("given, expected", [
    ("mysql://root@127.0.0.1:3306/crowdfund", "mysql+pymysql://root@127.0.0.1:3306/crowdfund?charset=utf8mb4"),
    ("mariadb://u:p@db/cf?ssl=true", "mysql+pymysql://u:p@db/cf?ssl=true&charset=utf8mb4"),
    ("mysql+pymysql://u@h/d?charset=utf8mb4", "mysql+pymysql://u@h/d?charset=utf8mb4"),
])
def test_mysql_urls_use_pymysql_and_utf8mb4(given, expected):
    assert normalize_database_url(given) == expected


def test_chinese_and_emoji_are_stored_as_written(ctx):
    """utf8mb4: four-byte characters (emoji, the rarer CJK of Extension B) survive, not only the BMP."""
    name = "众筹🎉𠀀测试"
    user = accounts.register("emoji@example.com", name, "correct horse 1")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).display_name == name


def test_codes_compare_exactly(ctx):
    """A share code typed in another case, or with a trailing space, is not the same code."""
    user = accounts.register("code@example.com", "码", "correct horse 1")
    user.share_code = "AbCd1234"
    db.session.commit()
    for other in ("abcd1234", "ABCD1234"):
        assert db.session.scalar(db.select(User).filter_by(share_code=other)) is None
    assert db.session.scalar(db.select(User).filter_by(share_code="AbCd1234")).id == user.id


def test_timestamps_keep_their_microseconds(ctx):
    """The ledger's hash chain covers created_at: a rounded timestamp would read back as tampered history."""
    moment = utcnow().replace(microsecond=123456)
    ledger.post("payment", "payment:US1", [("clearing:alipay", 100), ("escrow:project:1", -100)], now=moment)
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(db.select(LedgerTransaction.created_at)) == moment
    assert ledger.verify() == []


def test_sums_of_fen_are_integers(ctx):
    """Balances are SUMs of integer columns: int on every backend (MySQL's SUM() is a DECIMAL)."""
    ledger.post("payment", "payment:S1", [("clearing:alipay", 150), ("escrow:project:1", -150)])
    ledger.post("payment", "payment:S2", [("clearing:alipay", 250), ("escrow:project:1", -250)])
    db.session.commit()
    balance = ledger.balance("escrow:project:1")
    assert balance == -400 and type(balance) is int


def test_a_fanned_out_notification_reaches_each_account_once_and_queues_its_mail(ctx):
    """The keyed INSERT that skips existing rows also names the new ones, which the mailer sends after commit."""
    users = [accounts.register(f"n{i}@example.com", f"用户{i}", "correct horse 1").id for i in range(3)]
    db.session.commit()
    assert notifications.notify_many(users[:2], "refund_done", "refund:1", amount="1.00") == 2
    first = db.session.info.pop(notifications.NEW_EMAILS)
    assert notifications.notify_many(users, "refund_done", "refund:1", amount="1.00") == 1
    again = db.session.info.pop(notifications.NEW_EMAILS)
    db.session.commit()
    by_user = dict(db.session.execute(db.select(Notification.user_id, Notification.id)).all())
    assert sorted(by_user) == sorted(users)
    assert sorted(first) == sorted(by_user[u] for u in users[:2]) and again == [by_user[users[2]]]


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET action = 'project.reject'",
                                       "UPDATE audit_log SET actor_id = NULL, object_id = 2",
                                       "DELETE FROM audit_log"])
def test_the_database_refuses_to_rewrite_the_audit_log(ctx, statement):
    if dialect() == "sqlite":
        pytest.skip("SQLite relies on the ORM guard (tests/web/test_sessions.py)")
    actor = accounts.register("mod@example.com", "审核员", "correct horse 1")
    db.session.add(AuditEntry(actor_id=actor.id, action="project.approve", object_type="projects", object_id=1,
                              details={"note": "原始"}))
    db.session.commit()
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text(statement))
    # Deleting the actor's account still works: only their foreign key becomes NULL.
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": actor.id})
    db.session.expire_all()
    entry = db.session.scalar(db.select(AuditEntry))
    assert (entry.actor_id, entry.action, entry.details) == (None, "project.approve", {"note": "原始"})


def test_an_applied_coupon_must_name_its_pledge(ctx):
    """A CHECK on PostgreSQL and SQLite; triggers on MariaDB, which allows no CHECK on a SET NULL foreign key."""
    user = accounts.register("coupon@example.com", "券", "correct horse 1")
    coupon = Coupon(user_id=user.id, value_fen=5_00, points=100, expires_at=utcnow() + timedelta(days=30))
    db.session.add(coupon)
    db.session.commit()
    for statement in ("UPDATE coupons SET status = 'applied'",
                      f"INSERT INTO coupons (user_id, value_fen, points, status, expires_at, created_at) "
                      f"VALUES ({user.id}, 100, 10, 'used', '2030-01-01 00:00:00', '2026-01-01 00:00:00')"):
        with pytest.raises(Exception, match="held_by_pledge"):
            with db.engine.begin() as conn:
                conn.execute(text(statement))
    assert db.session.scalar(db.select(db.func.count()).select_from(Coupon)) == 1


def test_sessions_read_committed_and_mysql_in_utc(ctx):
    """READ COMMITTED on both servers: the late claims that wait for a guarantee's row lock then see the claims
    before them (tests/unit/test_claim_race.py fails under InnoDB's default REPEATABLE READ)."""
    if dialect() == "sqlite":
        pytest.skip("SQLite has no isolation levels to choose (run `make test` for PostgreSQL and MariaDB)")
    with db.engine.connect() as conn:
        assert conn.get_isolation_level() == "READ COMMITTED"
        if dialect() != "mysql":
            return
        assert conn.execute(text("SELECT @@session.time_zone")).scalar() == "+00:00"
    tables = db.session.execute(text("SELECT DISTINCT engine, table_collation FROM information_schema.tables "
                                     "WHERE table_schema = DATABASE()")).all()
    assert tables == [("InnoDB", "utf8mb4_bin")]
