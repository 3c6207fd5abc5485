"""What several hosts share must live in shared places: one cron leader at a time, no per-process rate limits."""
import os
import signal
import subprocess
import sys
import time

import pytest
from redis import Redis

from crowdfund import create_app
from crowdfund.config import ConfigError
from crowdfund.queueing import CRON_LEASE_KEY, PERIODIC_JOBS, build_cron
from tests.conftest import ROOT


def wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_production_refuses_memory_rate_limits_beside_redis(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CROWDFUND_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/crowdfund")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        create_app()
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://limits:6379/1")
    assert create_app().config["RATELIMIT_STORAGE_URI"] == "redis://limits:6379/1"


def test_only_the_lease_holder_enqueues_and_a_standby_takes_over(redis_app):
    redis = Redis.from_url(redis_app.config["REDIS_URL"])
    first, second = build_cron(redis_app), build_cron(redis_app)
    first.register_birth()
    second.register_birth()  # as start() does
    assert len(first.enqueue_jobs()) == len(PERIODIC_JOBS)
    assert second.enqueue_jobs() == []
    assert redis.get(CRON_LEASE_KEY).decode() == first.name
    first.register_death()  # a clean stop gives the lease back
    assert redis.get(CRON_LEASE_KEY) is None
    assert len(second.enqueue_jobs()) == len(PERIODIC_JOBS)
    assert first.enqueue_jobs() == [], "a scheduler that gave the lease up does not lead again while it is held"


def test_a_dead_leaders_lease_runs_out(redis_app):
    first, second = build_cron(redis_app), build_cron(redis_app)
    first.lease_seconds = 1
    assert first.enqueue_jobs()
    assert second.enqueue_jobs() == []
    time.sleep(1.2)  # the leader died without register_death: nobody renewed its lease
    assert len(second.enqueue_jobs()) == len(PERIODIC_JOBS)
    assert Redis.from_url(redis_app.config["REDIS_URL"]).ttl(CRON_LEASE_KEY) > 1, "the new leader's own lease"


def test_two_worker_processes_with_cron_enqueue_each_periodic_job_once(redis_app, start_worker):
    from rq.cron import CronScheduler, get_cron_job_ids

    redis = Redis.from_url(redis_app.config["REDIS_URL"])
    start_worker()
    start_worker("--cron-only")
    # Both schedulers registered (each loops at once after registering), then a moment for the second's first loop.
    wait_for(lambda: len(CronScheduler.all(redis)) == 2, timeout=40)
    time.sleep(1.5)
    counts = {job.name: len(get_cron_job_ids(job.name, redis)) for job in PERIODIC_JOBS}
    assert counts == {job.name: 1 for job in PERIODIC_JOBS}  # every interval is a minute or more
    leader = redis.get(CRON_LEASE_KEY).decode()
    assert leader in {scheduler.name for scheduler in CronScheduler.all(redis)}


def test_a_cron_whose_worker_was_killed_outright_stops_and_gives_the_lease_back(redis_app, tmp_path):
    redis = Redis.from_url(redis_app.config["REDIS_URL"])
    env = {**os.environ, "DATABASE_URL": redis_app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": redis_app.config["REDIS_URL"], "SECRET_KEY": redis_app.config["SECRET_KEY"],
           "INSTANCE_PATH": redis_app.instance_path, "PAYMENT_SANDBOX": "1"}
    with open(tmp_path / "worker.log", "wb") as log:
        # Its own process group, so whatever the killed worker leaves behind can be stopped afterwards (RQ's own
        # scheduler child is orphaned by a SIGKILL too, and does not notice).
        worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: redis.get(CRON_LEASE_KEY) is not None, timeout=40)
        worker.kill()  # the worker itself only: no `finally` of its runs, its cron child is orphaned
        worker.wait()
        wait_for(lambda: redis.get(CRON_LEASE_KEY) is None, timeout=10)  # long before the 30 s lease would lapse
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        print((tmp_path / "worker.log").read_text(errors="replace")[-3000:])
