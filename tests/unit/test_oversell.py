"""A flood of concurrent pledges never oversells a limited tier (PostgreSQL and MariaDB, one connection per thread)."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from crowdfund import pledging
from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, Project, RewardTier, User
from crowdfund.models.base import utcnow
from tests.conftest import unavailable

ATTEMPTS = 200
WORKERS = 40
# Rounds of the flood per backend: MariaDB runs in the test command's second, money-path-only pass, which is kept
# short; two rounds there still send the full 200-pledge flood at a fresh tier and at one whose holds expired.
ROUNDS = {"postgresql": 5, "mysql": 2}


@pytest.fixture
def pg_app(make_app, database_url):
    if not database_url.startswith(("postgresql", "mysql")):
        unavailable("PostgreSQL", "run `make test`, which uses PostgreSQL at 127.0.0.1:5432 when it answers")
    # Each of the ATTEMPTS backers holds one unpaid slot per round (one per reward is the rule), ROUNDS in all.
    return make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": WORKERS, "max_overflow": 0, "pool_timeout": 60},
                    PLEDGE_MAX_UNPAID=10)


def many_backers(app, prefix):
    """ATTEMPTS accounts, inserted directly (hashing 200 passwords would be the slowest part of the test)."""
    from crowdfund import legal

    with app.app_context():
        users = [User(email=f"{prefix}-{i}@example.com", display_name=f"支持者{i}", password_hash="unusable",
                      terms_version=legal.INITIAL_VERSIONS["terms"], privacy_version=legal.INITIAL_VERSIONS["privacy"])
                 for i in range(ATTEMPTS)]
        db.session.add_all(users)
        db.session.commit()
        return [user.id for user in users]


def flood(app, project_id, tier_id, backer_ids, prefix):
    """ATTEMPTS pledges at once, one per backer, each thread with its own session and connection; returns outcomes."""
    barrier = threading.Barrier(WORKERS)

    def attempt(i):
        with app.app_context():
            if i < WORKERS:
                barrier.wait()
            project, tier = db.session.get(Project, project_id), db.session.get(RewardTier, tier_id)
            try:
                pledging.start(db.session.get(User, backer_ids[i]), project, tier, 10_00,
                               idempotency_key=f"{prefix}-{i}", risk_accepted=True)
                return "ok"
            except pledging.TierSoldOut:
                return "sold_out"

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(attempt, range(ATTEMPTS)))


@pytest.mark.parametrize("limit", [50, 1])
def test_concurrent_pledges_never_oversell_and_expiry_frees_slots(pg_app, make_project, make_user, limit):
    backer = many_backers(pg_app, f"flood{limit}")
    with pg_app.app_context():
        rounds = ROUNDS[db.engine.dialect.name]
    for round_no in range(rounds):
        slug = make_project(status="live", tiers=[dict(title="限量", price_fen=10_00, quantity_limit=limit,
                                                       physical=False, shipping={})])
        with pg_app.app_context():
            project = db.session.scalar(db.select(Project).filter_by(slug=slug))
            project_id, tier_id = project.id, project.tiers[0].id
        outcomes = flood(pg_app, project_id, tier_id, backer, f"r{round_no}")
        assert outcomes.count("ok") == limit and outcomes.count("sold_out") == ATTEMPTS - limit
        with pg_app.app_context():
            assert db.session.get(RewardTier, tier_id).taken == limit
            held = db.session.scalars(db.select(Pledge).filter_by(tier_id=tier_id, status=PledgeStatus.PENDING)).all()
            assert len(held) == limit
            for pledge in held:
                pledge.expires_at = utcnow() - timedelta(seconds=1)
            db.session.commit()
        again = flood(pg_app, project_id, tier_id, backer, f"again{round_no}")
        assert again.count("ok") == limit, "expired holds free their slots for others"
        with pg_app.app_context():
            statuses = db.session.scalars(db.select(Pledge.status).filter_by(tier_id=tier_id)).all()
            assert statuses.count(PledgeStatus.PENDING) == limit and statuses.count(PledgeStatus.EXPIRED) == limit
            assert db.session.get(RewardTier, tier_id).taken == limit
