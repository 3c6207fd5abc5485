"""RQ worker for the payments, notifications and default queues, plus the scheduler.

    python worker.py             # worker + RQ scheduler + cron for periodic jobs
    python worker.py --no-cron   # extra workers: leave periodic jobs to the cron process
    python worker.py --cron-only # just the cron (the Procfile's and systemd's `scheduler`)
    python worker.py --burst     # work until the queues are empty, then exit

Cron may run on several hosts: only the one holding the lease in Redis enqueues (queueing.build_cron), the
others wait to take over.
"""
import argparse
import multiprocessing
import os
import signal
import sys
import threading
import time

from crowdfund import create_app
from crowdfund.queueing import QUEUES, build_cron, make_worker


def run_cron(parent):
    """Enqueue periodic jobs on their intervals (runs in its own process, and stops when its worker does)."""
    threading.Thread(target=stop_with_parent, args=(parent,), name="crowdfund-cron-parent", daemon=True).start()
    app = create_app()
    build_cron(app).start()


def stop_with_parent(parent, every=1.0):
    """Stop this process (warmly: SIGTERM) once `parent` is gone.

    A worker killed outright (SIGKILL, the OOM killer) never runs the `finally` that stops its cron child, and an
    orphaned cron would go on holding the scheduler's lease and enqueueing for a worker that no longer exists.
    SIGTERM makes the scheduler give the lease back on its way out, so a standby takes over at once.
    """
    while os.getppid() == parent:
        time.sleep(every)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("queues", nargs="*", default=list(QUEUES), help="queues in priority order")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--no-cron", action="store_true", help="do not schedule periodic jobs")
    parser.add_argument("--cron-only", action="store_true", help="only schedule periodic jobs; work none")
    args = parser.parse_args(argv)

    app = create_app()
    if not app.config.get("REDIS_URL"):
        sys.exit("REDIS_URL is not set: without Redis, jobs run inside the web process (flask serve).")
    if args.cron_only:
        build_cron(app).start()
        return
    cron = None
    if not args.no_cron and not args.burst:
        cron = multiprocessing.Process(target=run_cron, args=(os.getpid(),), name="crowdfund-cron", daemon=True)
        cron.start()
    try:
        worker = make_worker(app, args.queues)
        worker.work(with_scheduler=True, burst=args.burst)
    finally:
        if cron is not None:
            cron.terminate()


if __name__ == "__main__":
    main()
