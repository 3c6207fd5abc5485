"""Background jobs: RQ on Redis in production, inline when no Redis is configured.

Views, domain code and the CLI call `enqueue()`; they never talk to RQ directly.
Periodic work is declared once with `@periodic(...)` and driven either by RQ's
CronScheduler (worker.py) or by the embedded ticker thread (`flask serve`). Long jobs a
request starts (`enqueue(..., background=True)`) run, without Redis, on a small pool of
the web process's threads instead of inline, so the request returns at once.
"""
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.worker import Worker

from crowdfund.extensions import db

log = logging.getLogger(__name__)

QUEUES = ("payments", "notifications", "default")


@dataclass(frozen=True)
class PeriodicJob:
    """A job function run every `interval` seconds on `queue`."""

    func: object
    interval: int
    queue: str = "default"

    @property
    def name(self):
        return f"{self.func.__module__}.{self.func.__name__}"


PERIODIC_JOBS: list[PeriodicJob] = []


def periodic(interval, queue="default"):
    """Register a job function to run every `interval` seconds."""

    def decorator(func):
        PERIODIC_JOBS.append(PeriodicJob(func, interval, queue))
        return func

    return decorator


def redis_connection(app=None):
    """A Redis client for the configured REDIS_URL, or None in embedded mode."""
    app = app or current_app
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client = app.extensions.get("crowdfund_redis")
    if client is None:
        client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        app.extensions["crowdfund_redis"] = client
    return client


def get_queue(name="default", app=None):
    """The named RQ queue (None in embedded mode)."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    connection = redis_connection(app)
    return Queue(name, connection=connection) if connection is not None else None


def enqueue(func, *args, queue="default", job_id=None, timeout=300, retries=3, retry_intervals=None,
            background=False, **kwargs):
    """Run `func(*args, **kwargs)` in a worker, or right now when no Redis is configured.

    Returns the RQ job, or the function's result in embedded mode. Inline jobs run in a
    fresh app context (their own database session), just as they would in a worker.
    With `background`, an embedded-mode job runs on the app's background threads instead
    and a Future is returned (nothing enforces `timeout` there: the job's own rules must).
    """
    rq_queue = get_queue(queue)
    if rq_queue is None and background:
        return background_jobs().submit(func, *args, **kwargs)
    if rq_queue is None:
        return run_logged(current_app._get_current_object(), "inline", func, args, kwargs)
    retry = Retry(max=retries, interval=retry_intervals or [10, 60, 300][:retries]) if retries else None
    return rq_queue.enqueue(func, args=args, kwargs=kwargs, job_id=job_id, job_timeout=timeout, retry=retry)


def run_logged(app, kind, func, args, kwargs):
    """Run a job in a fresh app context (its own session); like a worker, log a failure and return None.

    Nothing is raised into whoever enqueued it; periodic catch-up jobs (e.g. retry_pending_refunds)
    stand in for RQ's retries.
    """
    with app.app_context():
        try:
            return func(*args, **kwargs)
        except Exception:
            log.exception("%s job %s failed", kind, getattr(func, "__name__", func))
            db.session.rollback()
            return None


class BackgroundJobs:
    """Long jobs in embedded mode: at most BACKGROUND_WORKERS threads per app, each job in its own app context."""

    def __init__(self, app, workers):
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crowdfund-background")
        self.lock = threading.Lock()
        self.pending = set()

    def submit(self, func, *args, **kwargs):
        """Queue `func(*args, **kwargs)` for the next free thread; returns its Future."""
        future = self.executor.submit(self._run, func, args, kwargs)
        with self.lock:
            self.pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def wait(self, timeout=None):
        """Block until every job submitted so far has finished; False if some are still running after `timeout`."""
        with self.lock:
            pending = list(self.pending)
        return not wait(pending, timeout).not_done

    def _run(self, func, args, kwargs):
        return run_logged(self.app, "background", func, args, kwargs)

    def _forget(self, future):
        with self.lock:
            self.pending.discard(future)


_background_lock = threading.Lock()


def background_jobs(app=None):
    """The app's pool for long embedded-mode jobs (made on first use)."""
    app = app or current_app._get_current_object()
    with _background_lock:
        jobs = app.extensions.get("crowdfund_background")
        if jobs is None:
            jobs = app.extensions["crowdfund_background"] = BackgroundJobs(app, app.config["BACKGROUND_WORKERS"])
    return jobs


def record_run(name, when=None):
    """Note that a periodic job finished (for /healthz and the embedded ticker)."""
    from crowdfund.models import PeriodicRun
    from crowdfund.models.base import utcnow

    row = db.session.get(PeriodicRun, name) or PeriodicRun(name=name)
    row.last_run_at = when or utcnow()
    db.session.add(row)
    db.session.commit()


def run_periodic(name):
    """Run one registered periodic job by name and record that it ran."""
    job = next(j for j in PERIODIC_JOBS if j.name == name)
    result = job.func()
    record_run(name)
    return result


def run_due(app, now=None):
    """Run, inline, every periodic job whose interval has passed; returns the names run."""
    from crowdfund.models import PeriodicRun
    from crowdfund.models.base import utcnow

    now = now or utcnow()
    ran = []
    with app.app_context():
        last = {row.name: row.last_run_at for row in db.session.scalars(db.select(PeriodicRun))}
        db.session.remove()
    for job in PERIODIC_JOBS:
        previous = last.get(job.name)
        if previous is not None and now - previous < timedelta(seconds=job.interval):
            continue
        with app.app_context():
            try:
                run_periodic(job.name)
                ran.append(job.name)
            except Exception:
                log.exception("periodic job %s failed", job.name)
                db.session.rollback()
    return ran


class EmbeddedTicker(threading.Thread):
    """Drives periodic jobs inside the web process when there is no Redis (make run)."""

    def __init__(self, app, every=None):
        super().__init__(name="crowdfund-ticker", daemon=True)
        self.app = app
        self.every = every or app.config["TICK_SECONDS"]
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            run_due(self.app)
            self.stopped.wait(self.every)


CRON_LEASE_KEY = "crowdfund:cron:leader"
# Take the lease if nobody holds it, or renew it if we do; 1 when we lead.
CLAIM_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _single_cron_class():
    """RQ's CronScheduler, made safe to start on several hosts (rq.cron is imported only where cron runs)."""
    from rq.cron import CronScheduler

    class SingleCron(CronScheduler):
        """Only the scheduler holding a lease in Redis enqueues periodic jobs; the others wait as standbys.

        RQ's CronScheduler has no lock of its own: two `worker.py` started with cron (a second host deployed
        from the same unit file, say) would enqueue every periodic job twice. The leader renews its lease on
        every loop (at most `check_seconds` apart) and gives it back when it stops; a standby that finds the
        lease free takes over, so a dead leader's duties move on within `lease_seconds`. A new leader starts
        its intervals afresh and enqueues everything once at once, as a restarted scheduler does anyway (the
        periodic jobs are catch-up jobs: running one early does no harm).
        """

        lease_seconds = 30
        check_seconds = 10

        def leads(self):
            """Take or renew the lease; True when this scheduler is the one that enqueues."""
            claim = self.connection.register_script(CLAIM_LEASE)
            return bool(claim(keys=[CRON_LEASE_KEY], args=[self.name, self.lease_seconds]))

        def enqueue_jobs(self):
            if not self.leads():
                return []
            return super().enqueue_jobs()

        def calculate_sleep_interval(self):
            # Renew well within the lease, and let a standby notice a free lease soon.
            return min(super().calculate_sleep_interval(), self.check_seconds)

        def register_death(self, pipeline=None):
            try:
                self.connection.register_script(RELEASE_LEASE)(keys=[CRON_LEASE_KEY], args=[self.name])
            finally:
                super().register_death(pipeline)

    return SingleCron


def build_cron(app):
    """A scheduler that enqueues every periodic job on its queue, while it holds the cron lease (one per site)."""
    name = f"crowdfund-cron-{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"  # who leads, in the lease
    scheduler = _single_cron_class()(connection=redis_connection(app), name=name)
    for job in PERIODIC_JOBS:
        scheduler.register(run_periodic, job.queue, args=(job.name,), interval=job.interval, name=job.name)
    return scheduler


class AppWorker(Worker):
    """An RQ worker that runs each job inside a fresh app context of the given app."""

    app = None

    def perform_job(self, *args, **kwargs):
        with self.app.app_context():
            # A forked work horse must not reuse the parent's pooled connections.
            db.engine.dispose(close=False)
            try:
                return super().perform_job(*args, **kwargs)
            finally:
                db.session.remove()


def make_worker(app, queue_names=QUEUES):
    """A worker bound to `app`, listening on the named queues in priority order."""
    connection = redis_connection(app)
    worker_class = type("CrowdfundWorker", (AppWorker,), {"app": app})
    return worker_class([Queue(name, connection=connection) for name in queue_names], connection=connection)
