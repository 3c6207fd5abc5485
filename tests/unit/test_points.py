"""Backers' points book (crowdfund/points.py): append-only, each reason booked once, the balance a sum."""
from datetime import datetime, timezone

import pytest

from crowdfund import points
from crowdfund.extensions import db
from crowdfund.models import PointsEntry

NOON = datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)  # 12:00 in Beijing
LATE = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)  # 01:00 the next day in Beijing


def test_entries_sum_to_the_balance_and_a_key_books_once(app, make_user):
    backer = make_user()
    with app.app_context():
        assert points.book(backer, 10, "backing", "backing:1", now=NOON) is not None
        assert points.book(backer, 10, "backing", "backing:1", now=NOON) is None, "same key: nothing booked"
        points.book(backer, 3, "share", "share:a", now=NOON)
        points.book(backer, 3, "share", "share:b", now=LATE)
        points.book(backer, -5, "redeem", "redeem:1", now=LATE)
        db.session.commit()
        assert points.balance(backer) == 11
        assert points.earned_on(backer, "share", NOON.date()) == 3, "the late share counts on the Beijing day after"
        assert [e.key for e in points.history(backer)] == ["redeem:1", "share:b", "share:a", "backing:1"]


def test_entries_are_never_edited_or_deleted_and_zero_is_refused(app, make_user):
    backer = make_user()
    with app.app_context():
        entry = points.book(backer, 10, "backing", "backing:9", now=NOON)
        db.session.commit()
        entry.delta = 1000
        with pytest.raises(points.AppendOnly):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(PointsEntry, entry.id))
        with pytest.raises(points.AppendOnly):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(ValueError):
            points.book(backer, 0, "backing", "backing:10")
        assert points.balance(backer) == 10
