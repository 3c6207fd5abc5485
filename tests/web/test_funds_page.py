"""The public funds page reports the last recorded check of the ledger's chain; it never walks the chain itself."""
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event

from crowdfund import jobs, ledger
from crowdfund.extensions import db
from crowdfund.models import LedgerVerification
from crowdfund.models.base import utcnow
from tests.conftest import tamper


def book(app, count, start=0):
    """Bookings of other projects: the funds page must not read them."""
    with app.app_context():
        for i in range(start, start + count):
            ledger.post("payment", f"payment:F{i}", [("clearing:alipay", 100 + i), ("escrow:project:0", -100 - i)])
        db.session.commit()


def funds_page(client, slug):
    response = client.get(f"/projects/{slug}/funds")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@contextmanager
def reads(app):
    """The statements run, and the rows they returned (PostgreSQL reports rowcount for a SELECT)."""
    seen = {"statements": 0, "rows": 0}
    with app.app_context():
        engine = db.engine

    def after(conn, cursor, statement, *args):
        seen["statements"] += 1
        seen["rows"] += max(cursor.rowcount, 0)

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", after)


def test_before_the_first_check_the_page_says_so(client, make_project, make_user):
    slug = make_project(paid=[(make_user(), 50_00, 0)])
    page = funds_page(client, slug)
    assert "账本哈希链尚未校验；系统每隔几分钟自动校验一次。" in page and "校验通过" not in page


def test_the_page_shows_the_recorded_check_and_what_came_after(app, client, forms, make_project, make_user):
    slug = make_project(paid=[(make_user(), 50_00, 0)])
    book(app, 2)
    with app.app_context():
        assert jobs.verify_ledger()
    page = funds_page(client, slug)
    assert "账本哈希链校验通过：截至 " in page and "共 3 笔记账，没有任何记账被篡改。" in page
    assert "此后新增" not in page
    book(app, 2, start=2)
    page = funds_page(client, slug)
    assert "共 3 笔记账" in page and "此后新增的 2 笔记账将在下次校验时核对。" in page
    forms.post("/locale", {"locale": "en"}, form_path="/")
    page = funds_page(client, slug)
    assert "The ledger's hash chain verifies as of " in page and ": 3 bookings, none altered." in page
    assert "2 bookings since then will be verified on the next run." in page


def test_a_tampered_ledger_shows_when_the_check_failed_and_where(app, client, make_project, make_user):
    slug = make_project(paid=[(make_user(), 50_00, 0)])
    book(app, 2)
    start = utcnow()
    with app.app_context():
        ledger.record_verification(now=start)
        tamper("UPDATE ledger_transactions SET memo = 'nothing to see' WHERE seq = 2")
        assert jobs.verify_ledger(), "the next run in the same day is incremental and trusts what was verified"
        assert not ledger.record_verification(now=start + ledger.FULL_CHECK_EVERY + timedelta(seconds=1)).ok
    page = funds_page(client, slug)
    assert "账本校验未通过（" in page and "哈希链在第 2 笔记账处断裂，平台已收到警报。" in page
    assert "校验通过" not in page


def test_the_page_reads_the_same_whatever_the_size_of_the_ledger(app, client, make_project, make_user):
    slug = make_project(paid=[(make_user(), 50_00, 0)])
    with app.app_context():
        jobs.verify_ledger()
    seen = []
    for start, count in ((0, 3), (3, 30)):
        book(app, count, start=start)
        with reads(app) as counted:
            assert "账本哈希链校验通过" in funds_page(client, slug)
        seen.append(counted)
    assert seen[0] == seen[1], f"3 and 33 other bookings: {seen}"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(LedgerVerification.id))) == 1, "viewing records no check"


def test_healthz_reports_the_last_check(app, client):
    assert client.get("/healthz").json["ledger"] == {"verified": "not yet"}
    book(app, 1)
    with app.app_context():
        jobs.verify_ledger()
    report = client.get("/healthz").json
    assert report["status"] == "ok"
    assert {k: report["ledger"][k] for k in ("verified", "transactions", "full")} == {
        "verified": "ok", "transactions": 1, "full": True}
