"""Concurrent late-delivery claims never take more from a guarantee than it covers (a row lock; PostgreSQL, MariaDB)."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from crowdfund import closing, delivery, guarantees
from crowdfund.extensions import db
from crowdfund.models import Pledge, Project, Refund, User
from crowdfund.models.base import utcnow
from tests.conftest import unavailable

CLAIMS = 6


@pytest.fixture
def pg_app(make_app, database_url):
    if not database_url.startswith(("postgresql", "mysql")):
        unavailable("PostgreSQL", "run `make test`, which uses PostgreSQL at 127.0.0.1:5432 when it answers")
    return make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CLAIMS + 2, "max_overflow": 0})


def test_simultaneous_claims_share_the_guarantee_exactly(pg_app, make_project, make_user):
    backers = [make_user() for _ in range(CLAIMS)]
    slug = make_project(status="live", goal_fen=100_00, tiers=[dict(title="灯", price_fen=100_00)],
                        paid=[(b, 100_00, 0) for b in backers])
    with pg_app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.tiers[0].delivery_month = "2026-01"
        project.end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        closing.close_ended_campaigns()
        moderator = db.session.get(User, backers[0])
        guarantee = guarantees.add(project, moderator, "担保公司", "91110000100000000A", 10_00)
        pledge_ids = [p.id for p in db.session.scalars(db.select(Pledge).filter_by(project_id=project.id))]
        guarantee_id = guarantee.id
    barrier = threading.Barrier(CLAIMS)

    def claim(pledge_id):
        with pg_app.app_context():
            pledge = db.session.get(Pledge, pledge_id)
            barrier.wait()
            delivery.claim_late(pledge, pledge.backer)

    with ThreadPoolExecutor(max_workers=CLAIMS) as pool:
        list(pool.map(claim, pledge_ids))
    with pg_app.app_context():
        parts = [r.guarantee_fen for r in db.session.scalars(db.select(Refund))]
        assert len(parts) == CLAIMS
        assert sum(parts) == db.session.get(type(guarantee), guarantee_id).amount_fen, parts
