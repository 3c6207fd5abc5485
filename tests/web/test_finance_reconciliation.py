"""Finance's "Run now" reconciliation runs in the background and the page follows its progress."""
from datetime import timedelta

from crowdfund import ledger
from crowdfund.extensions import db
from crowdfund.models import Project, ReconciliationRun
from crowdfund.models.base import utcnow
from crowdfund.queueing import background_jobs
from tests.conftest import Browserless, HeldQuery, csrf_from, two_paid_pledges, wait_for


def finance_client(app, make_user, email="fin@example.com"):
    make_user(email=email, roles=["finance"])
    finance = Browserless(app.test_client())
    assert finance.login(email=email).status_code == 303
    return finance


def press_run_now(finance, follow=False):
    token = csrf_from(finance.client.get("/finance/reconciliation"))
    return finance.client.post("/finance/reconciliation", data={"csrf_token": token}, follow_redirects=follow)


def runs(app):
    with app.app_context():
        return [(run.status, run.checked, run.total) for run in
                db.session.scalars(db.select(ReconciliationRun).order_by(ReconciliationRun.id))]


def status_fragment(finance):
    response = finance.client.get("/finance/reconciliation", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    body = response.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<section id="reconciliation_status"')
    return body


def test_run_now_returns_at_once_and_the_page_follows_the_run(app, live_server, make_project, make_user):
    first, second = two_paid_pledges(app, make_project, make_user)
    held = app.config["SANDBOX_QUERY_HOLD"] = HeldQuery(second)
    finance = finance_client(app, make_user)
    try:
        page = press_run_now(finance, follow=True).get_data(as_text=True)
        assert "对账已开始" in page, "the flash says it started"
        assert held.asked.wait(20), "the run reached the provider in the background"
        wait_for(lambda: runs(app) == [("running", 1, 2)])  # the first answer is in, the second is held

        page = finance.client.get("/finance/reconciliation").get_data(as_text=True)
        assert "正在对账：已核对 1 笔，共 2 笔付款" in page and '<progress class="funding" value="1" max="2">' in page
        assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page, "no JS: the page reloads itself"
        assert ">刷新</a>" in page
        fragment = status_fragment(finance)
        assert 'hx-trigger="every 2s"' in fragment and "已核对 1 笔，共 2 笔" in fragment

        again = press_run_now(finance)
        assert again.status_code == 303
        assert "对账正在进行" in finance.client.get("/finance/reconciliation").get_data(as_text=True)
        assert len(runs(app)) == 1, "a second press while one runs does not start another"
    finally:
        held.released.set()
    assert background_jobs(app).wait(30)

    assert runs(app) == [("finished", 2, 2)]
    fragment = status_fragment(finance)
    assert "hx-trigger" not in fragment and "<noscript>" not in fragment, "polling stops once finished"
    assert "已核对 2 笔付款" in fragment and "账本与支付渠道记录一致" in fragment and "上次运行" in fragment
    with app.app_context():
        run = db.session.scalars(db.select(ReconciliationRun)).one()
        assert run.started_at <= run.finished_at and run.in_progress is None and run.mismatches == []


def test_a_run_can_be_pressed_again_once_finished_and_keeps_each_result(app, live_server, make_project, make_user):
    _, missing = two_paid_pledges(app, make_project, make_user, both_at_provider=False)
    finance = finance_client(app, make_user)
    for _ in range(2):
        assert press_run_now(finance).status_code == 303
        assert background_jobs(app).wait(30)
    assert runs(app) == [("finished", 2, 2), ("finished", 2, 2)]
    page = finance.client.get("/finance/reconciliation").get_data(as_text=True)
    assert missing in page and page.count('class="finding blocking"') == 1


def test_a_failure_inside_the_run_is_recorded_and_shown_in_words(app, make_project, make_user):
    slug = make_project(status="live", tiers=[])
    with app.app_context():  # a payment booked under a malformed key: the run cannot read it
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        ledger.post("payment", "payment-without-trade-number", [(ledger.clearing("alipay"), 5_00),
                                                               (ledger.escrow(project.id), -5_00)],
                    project_id=project.id)
        db.session.commit()
    finance = finance_client(app, make_user)
    assert press_run_now(finance).status_code == 303
    assert background_jobs(app).wait(30)

    with app.app_context():
        run = db.session.scalars(db.select(ReconciliationRun)).one()
        assert (run.status, run.error, run.in_progress) == ("failed", "crashed", None)
        assert run.finished_at is not None
    fragment = status_fragment(finance)
    assert "因出错而中断" in fragment and "hx-trigger" not in fragment
    page = finance.client.get("/finance/reconciliation").get_data(as_text=True)
    assert "Traceback" not in page and "IndexError" not in page
    assert press_run_now(finance).status_code == 303 and background_jobs(app).wait(30)
    assert [status for status, *_ in runs(app)] == ["failed", "failed"], "a failed run does not block the next"


def test_a_run_older_than_its_timeout_counts_as_failed_and_a_new_one_can_start(app, make_user):
    started = utcnow() - timedelta(seconds=app.config["RECONCILIATION_TIMEOUT"] + 60)
    with app.app_context():  # what a worker that died mid-run leaves behind
        db.session.add(ReconciliationRun(ran_at=started, started_at=started, status="running", checked=3, total=9,
                                         mismatches=[], in_progress=True))
        db.session.commit()
    finance = finance_client(app, make_user)
    fragment = status_fragment(finance)
    assert "未在 30 分钟内完成，按失败处理" in fragment and "hx-trigger" not in fragment
    assert "已核对 3 笔，共 9 笔" in fragment

    page = press_run_now(finance, follow=True).get_data(as_text=True)
    assert "对账已开始" in page
    assert background_jobs(app).wait(30)
    with app.app_context():
        stale, fresh = db.session.scalars(db.select(ReconciliationRun).order_by(ReconciliationRun.id)).all()
        assert (stale.status, stale.error, stale.in_progress) == ("failed", "timeout", None)
        assert (fresh.status, fresh.checked, fresh.total) == ("finished", 0, 0)


def test_when_the_queue_is_down_the_run_is_recorded_as_failed_and_the_page_says_so(make_app, make_user):
    app = make_app(REDIS_URL="redis://127.0.0.1:9/0")  # nothing listens there: enqueueing fails
    finance = finance_client(app, make_user)
    page = press_run_now(finance, follow=True)
    assert page.status_code == 200 and "对账未能启动，请稍后再试" in page.get_data(as_text=True)
    with app.app_context():
        run = db.session.scalars(db.select(ReconciliationRun)).one()
        assert (run.status, run.error, run.in_progress) == ("failed", "queue", None)
    assert "未能交给后台执行" in status_fragment(finance)


def test_only_finance_may_run_it(app, client, login_as):
    login_as("moderator")
    assert client.get("/finance/reconciliation").status_code == 403
    assert client.post("/finance/reconciliation", data={}).status_code in (400, 403)
    assert runs(app) == []


def test_a_real_worker_records_progress_and_result(redis_app, redis_live_server, start_worker, make_project, make_user):
    first, second = two_paid_pledges(redis_app, make_project, make_user, both_at_provider=False)
    held = redis_app.config["SANDBOX_QUERY_HOLD"] = HeldQuery(second)
    finance = finance_client(redis_app, make_user)
    assert press_run_now(finance).status_code == 303
    assert runs(redis_app) == [("queued", 0, None)], "queued in Redis; nothing ran in the request"
    start_worker("--no-cron")
    try:
        assert held.asked.wait(40), "the worker asked the provider"
        wait_for(lambda: runs(redis_app) == [("running", 1, 2)])
        assert 'hx-trigger="every 2s"' in status_fragment(finance)
    finally:
        held.released.set()
    wait_for(lambda: runs(redis_app) == [("finished", 2, 2)], timeout=40)
    with redis_app.app_context():
        run = db.session.scalars(db.select(ReconciliationRun)).one()
        assert run.mismatches == [[second, "missing", ""]] and run.in_progress is None
    fragment = status_fragment(finance)
    assert second in fragment and "hx-trigger" not in fragment


def test_an_unanswered_provider_is_not_reported_as_money_that_does_not_match(app, make_user):
    with app.app_context():
        db.session.add(ReconciliationRun(ran_at=utcnow(), status="finished", checked=3, total=3, mismatches=[
            ["T-1", "unreachable", "alipay unreachable: <urlopen error [Errno 111] Connection refused>"],
            ["T-2", "missing", ""], ["T-3", "unreachable", "timed out"]]))
        db.session.commit()
    body = status_fragment(finance_client(app, make_user))
    assert "2 笔付款无法核对：支付机构没有响应" in body
    assert "1 笔记账不符" in body and "T-2" in body and "T-1" not in body
    assert "urlopen" not in body and "Errno" not in body, "no raw error text for finance"
    assert "账本与支付渠道记录一致" not in body


def test_a_run_that_has_not_counted_its_payments_yet_says_so(app, make_user):
    with app.app_context():
        db.session.add(ReconciliationRun(ran_at=utcnow(), started_at=utcnow(), status="running", checked=0,
                                         in_progress=True, mismatches=[]))
        db.session.commit()
    body = status_fragment(finance_client(app, make_user))
    assert "正在查找需要核对的付款" in body and "共 0 笔" not in body
