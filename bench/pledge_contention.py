"""Reservations per second on one hot tier, on PostgreSQL, at several concurrencies.

    .venv/bin/python bench/pledge_contention.py [postgresql://postgres@127.0.0.1:5432/postgres]

Creates a throw-away database, a live project with one tier limited to 1,000,000 slots, then lets N
threads (each with its own connection) reserve as fast as they can for a few seconds. Prints a table.
"""
import os
import secrets
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

SECONDS = 3
CONCURRENCY = (1, 2, 4, 8, 16, 32)


def main(server_url):
    os.environ["INSTANCE_PATH"] = f"/tmp/crowdfund-bench-{os.getpid()}"
    from crowdfund import accounts, create_app, lifecycle, pledging, projects
    from crowdfund.extensions import db
    from crowdfund.models import Project, RewardTier, User
    from crowdfund.models.base import utcnow

    server = make_url(server_url).set(drivername="postgresql")
    name = f"crowdfund_bench_{secrets.token_hex(4)}"
    admin = server.render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(16),
                          "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": max(CONCURRENCY), "max_overflow": 0}})
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            user = accounts.register("bench@example.com", "Bench", "bench password")
            project = projects.create_draft(user)
            project.title, project.duration_days, project.goal_fen = "Bench", 30, 100_00
            db.session.add(RewardTier(project=project, title="hot", price_fen=1_00, quantity_limit=1_000_000,
                                      delivery_month=(utcnow() + timedelta(days=90)).strftime("%Y-%m"),
                                      physical=False))
            db.session.commit()
            for status in ("submitted", "in_review", "approved", "live"):
                lifecycle.transition(project, status)
            ids = (project.id, project.tiers[0].id, user.id)
        print(f"{'threads':>8} {'reservations':>13} {'per second':>11} {'ms each':>8}")
        for threads in CONCURRENCY:
            count, stop = [0] * threads, time.monotonic() + SECONDS

            def work(slot, stop=stop, count=count):
                with app.app_context():
                    project, tier, backer = (db.session.get(Project, ids[0]), db.session.get(RewardTier, ids[1]),
                                             db.session.get(User, ids[2]))
                    while time.monotonic() < stop:
                        pledging.start(backer, project, tier, 1_00, idempotency_key=secrets.token_hex(8),
                                       risk_accepted=True)
                        count[slot] += 1

            started = time.monotonic()
            workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed, total = time.monotonic() - started, sum(count)
            print(f"{threads:>8} {total:>13} {total / elapsed:>11.0f} {1000 * elapsed * threads / max(total, 1):>8.2f}")
        with app.app_context():
            db.engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres")
