"""Jobs: inline in embedded mode, through Redis and a real RQ worker otherwise; periodic ticks both ways."""
import threading
from datetime import timedelta

from crowdfund.extensions import db
from crowdfund.jobs import heartbeat
from crowdfund.models import PeriodicRun
from crowdfund.models.base import utcnow
from crowdfund.queueing import (PERIODIC_JOBS, EmbeddedTicker, background_jobs, build_cron, enqueue, record_run, run_due,
                                run_periodic)
from tests.conftest import wait_for

HEARTBEAT = f"{heartbeat.__module__}.{heartbeat.__name__}"


def last_run(app, name=HEARTBEAT):
    with app.app_context():
        row = db.session.get(PeriodicRun, name)
        return row.last_run_at if row else None


def test_heartbeat_is_registered_as_periodic():
    assert HEARTBEAT in {job.name for job in PERIODIC_JOBS}


def test_enqueue_runs_inline_without_redis_in_its_own_session(app):
    with app.test_request_context("/"):
        outer_session = db.session()
        result = enqueue(run_periodic, HEARTBEAT)
        assert result == "ok"
        assert db.session() is outer_session
    assert last_run(app) is not None


def test_run_due_runs_only_what_is_due(app):
    assert HEARTBEAT in run_due(app)
    first = last_run(app)
    assert HEARTBEAT not in run_due(app, now=first + timedelta(seconds=30))
    assert HEARTBEAT in run_due(app, now=first + timedelta(seconds=61))


def test_embedded_ticker_thread_runs_periodic_jobs(app):
    ticker = EmbeddedTicker(app, every=0.05)
    ticker.start()
    try:
        wait_for(lambda: last_run(app), timeout=10)
    finally:
        ticker.stopped.set()
        ticker.join(5)
    assert not ticker.is_alive()


def test_background_jobs_return_at_once_and_wait_for_a_free_thread(make_app):
    app = make_app(BACKGROUND_WORKERS=1)
    started, release, steps = threading.Event(), threading.Event(), []

    def slow(name):
        steps.append(f"{name} started")
        started.set()
        assert release.wait(10)
        record_run(f"background:{name}")  # a job has its own app context and session
        return name

    with app.app_context():
        first = enqueue(slow, "first", background=True)
        second = enqueue(slow, "second", background=True)
    assert started.wait(10) and not first.done() and not second.done(), "enqueue returned before the jobs ran"
    assert steps == ["first started"], "one background thread: the second job waits its turn"
    release.set()
    assert background_jobs(app).wait(10)
    assert (first.result(), second.result()) == ("first", "second") and steps == ["first started", "second started"]
    assert last_run(app, "background:first") and last_run(app, "background:second")


def test_a_failing_background_job_is_logged_and_the_pool_carries_on(app, caplog):
    def broken():
        raise RuntimeError("boom")

    with app.app_context():
        failed = enqueue(broken, background=True)
        after = enqueue(run_periodic, HEARTBEAT, background=True)
    assert background_jobs(app).wait(10)
    assert failed.result() is None and "background job broken failed" in caplog.text
    assert after.result() == "ok" and last_run(app) is not None


def test_background_jobs_go_to_rq_when_redis_is_configured(redis_app):
    with redis_app.app_context():
        job = enqueue(run_periodic, HEARTBEAT, queue="payments", background=True)
        assert job.origin == "payments" and job.get_status() == "queued"
    assert "crowdfund_background" not in redis_app.extensions


def test_cron_registers_every_periodic_job_on_its_queue(redis_app):
    cron = build_cron(redis_app)
    registered = {(job.name, job.queue_name, job.interval) for job in cron.get_jobs()}
    assert registered == {(job.name, job.queue, job.interval) for job in PERIODIC_JOBS}


def test_job_round_trip_through_redis_and_a_worker_process(redis_app, rq_worker):
    with redis_app.app_context():
        job = enqueue(run_periodic, HEARTBEAT, queue="default")
        assert job.get_status() in ("queued", "started", "finished")
    wait_for(lambda: job.get_status(refresh=True) == "finished", timeout=30)
    assert job.return_value() == "ok"
    assert last_run(redis_app) is not None


def test_jobs_on_every_named_queue_are_worked(redis_app, rq_worker):
    with redis_app.app_context():
        jobs = [enqueue(run_periodic, HEARTBEAT, queue=name) for name in ("payments", "notifications", "default")]
    for job in jobs:
        wait_for(lambda job=job: job.get_status(refresh=True) == "finished", timeout=30)


def test_worker_with_cron_ticks_periodic_jobs(redis_app, start_worker):
    before = utcnow()
    start_worker()
    wait_for(lambda: (last_run(redis_app) or before) > before, timeout=40)


def test_machine_review_runs_in_the_worker_on_submit(app, redis_app, rq_worker, make_project):
    from crowdfund import projects
    from crowdfund.models import Project, ProjectStatus, User

    slug = make_project(status="draft")
    with redis_app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        projects.submit(project, db.session.get(User, project.creator_id))
        assert project.status == ProjectStatus.SUBMITTED

    def status():
        with redis_app.app_context():
            return db.session.scalar(db.select(Project.status).filter_by(slug=slug))

    wait_for(lambda: status() == ProjectStatus.IN_REVIEW, timeout=30)
