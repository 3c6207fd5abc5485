"""Platform figures (crowdfund/stats.py) on crafted data with a fixed clock, and the charts drawn from them."""
import re
from datetime import datetime, timezone

import pytest

from crowdfund import charts, stats
from crowdfund.catalog import ensure_categories
from crowdfund.extensions import db
from crowdfund.models import Category, LoginSession, Pledge, PledgeStatus, Project, ProjectStatus, User

S = ProjectStatus
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=timezone.utc)  # 12:00 in Beijing


def utc(*parts):
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.fixture
def world(app, make_user):
    """Five campaigns in two categories and none, six paid pledges, three refunded, one pending, three backers."""
    with app.app_context():
        ensure_categories()
        users = {name: db.session.get(User, make_user(email=f"{name}@example.com", display_name=name))
                 for name in ("maker", "b1", "b2", "b3")}
        for name, joined in (("maker", utc(2025, 6, 1)), ("b1", utc(2026, 3, 14)), ("b2", utc(2026, 3, 1)),
                             ("b3", utc(2025, 1, 1))):
            users[name].created_at = joined
        category = {c.slug: c.id for c in db.session.scalars(db.select(Category))}
        projects = {}
        for key, sub, status, launch, end in (
                ("live", "smart-hardware", S.LIVE, utc(2026, 3, 10), utc(2026, 4, 10)),
                ("won", "gadgets", S.SUCCESSFUL, utc(2026, 2, 1), utc(2026, 3, 12)),
                ("lost", "publishing", S.FAILED, utc(2026, 2, 1), utc(2026, 3, 1)),
                ("stopped", "publishing", S.CANCELLED, utc(2026, 3, 5), utc(2026, 3, 13)),
                ("old", None, S.COMPLETED, utc(2025, 1, 1), utc(2025, 2, 1)),
                ("draft", "smart-hardware", S.DRAFT, None, None)):
            project = Project(slug=f"p-{key}", creator_id=users["maker"].id, title=key, goal_fen=100_00,
                              category_id=category[sub] if sub else None, status=status, launch_at=launch, end_at=end)
            db.session.add(project)
            db.session.flush()
            projects[key] = project.id
        for project, backer, fen, status, paid_at in (
                ("live", "b1", 100_00, PledgeStatus.PAID, utc(2026, 3, 15, 1)),  # 09:00 on the 15th in Beijing
                ("live", "b2", 50_00, PledgeStatus.PAID, utc(2026, 3, 14, 15, 30)),  # 23:30 on the 14th
                ("live", "b3", 20_00, PledgeStatus.PAID, utc(2026, 3, 14, 16, 30)),  # 00:30 on the 15th
                ("live", "b2", 25_00, PledgeStatus.PAID, utc(2026, 3, 8, 15)),  # 23:00 on the 8th: not in 7 days
                ("live", "b3", 30_00, PledgeStatus.PENDING, None),
                ("won", "b1", 300_00, PledgeStatus.PAID, utc(2026, 3, 10, 2)),
                ("won", "b2", 70_00, PledgeStatus.REFUNDED, utc(2026, 3, 10, 3)),
                ("lost", "b3", 40_00, PledgeStatus.REFUNDED, utc(2026, 2, 20)),
                ("stopped", "b1", 10_00, PledgeStatus.REFUNDED, utc(2026, 3, 6)),
                ("old", "b3", 500_00, PledgeStatus.PAID, utc(2025, 1, 15))):
            db.session.add(Pledge(project_id=projects[project], backer_id=users[backer].id, amount_fen=fen,
                                  status=status, paid_at=paid_at, out_trade_no=f"T{len(db.session.new)}{fen}{backer}"))
        for n, (backer, seen) in enumerate((("b1", utc(2026, 3, 14)), ("b1", utc(2026, 3, 1)),
                                             ("b2", utc(2026, 3, 1)), ("b3", utc(2026, 1, 1)))):
            db.session.add(LoginSession(user_id=users[backer].id, key_hash=f"{n:064d}", created_at=seen,
                                        last_seen_at=seen))
        db.session.commit()
        return projects


def by_slug(rows):
    return {(row.category.slug if row.category else None): row for row in rows}


def test_the_last_seven_days(app, world):
    with app.app_context():
        figures = stats.dashboard(stats.PERIODS["7d"], now=NOW)
        assert (figures.first_day.isoformat(), figures.last_day.isoformat()) == ("2026-03-09", "2026-03-15")
        assert figures.raised_fen == 995_00 and figures.backers == 3, "paid and not refunded, all time"
        assert (figures.period_raised_fen, figures.period_pledges) == (470_00, 4)
        assert [(b.start.day, b.pledges, b.amount_fen) for b in figures.buckets] == [
            (9, 0, 0), (10, 1, 300_00), (11, 0, 0), (12, 0, 0), (13, 0, 0), (14, 1, 50_00), (15, 2, 120_00)], \
            "days are Beijing days: 00:30 on the 15th is the 15th"
        assert (figures.succeeded, figures.failed, figures.success_percent) == (1, 0, 100), \
            "the cancelled campaign ending in the week is not counted"
        assert (figures.active_7, figures.active_30, figures.new_users) == (1, 2, 1)
        assert figures.by_status[S.LIVE] == figures.by_status[S.CANCELLED] == figures.by_status[S.DRAFT] == 1
        assert sum(figures.by_status.values()) == 6 and set(figures.by_status) == set(ProjectStatus)
        tech = by_slug(figures.categories)["tech"]
        assert (tech.projects, tech.raised_fen, tech.success_percent) == (1, 470_00, 100)


def test_the_last_thirty_days_and_all_time(app, world):
    with app.app_context():
        month = stats.dashboard(stats.PERIODS["30d"], now=NOW)
        assert (month.period_raised_fen, month.period_pledges) == (495_00, 5)
        assert (month.succeeded, month.failed, month.success_percent) == (1, 1, 50)
        assert month.new_users == 2 and len(month.buckets) == 30 and not month.period.monthly
        rows = by_slug(month.categories)
        assert (rows["tech"].projects, rows["tech"].raised_fen, rows["tech"].success_percent) == (1, 495_00, 100)
        assert (rows["culture"].projects, rows["culture"].raised_fen, rows["culture"].success_percent) == (1, 0, 0), \
            "the cancelled campaign was launched in the window; the failed one ended in it"
        assert rows["design"].projects == 0 and rows["design"].success_percent is None
        assert None not in rows, "no row for projects without a category when there is nothing to say"
        assert [row.category.slug for row in month.categories][:3] == ["tech", "culture", "design"]

        ever = stats.dashboard(stats.PERIODS["all"], now=NOW)
        assert (ever.period_raised_fen, ever.period_pledges, ever.new_users) == (995_00, 6, 4)
        assert (ever.succeeded, ever.failed, ever.success_percent) == (2, 1, 66)
        assert ever.period.monthly and ever.first_day.isoformat() == "2025-01-15"
        assert [(b.start.isoformat(), b.amount_fen) for b in ever.buckets if b.amount_fen] == [
            ("2025-01-01", 500_00), ("2026-03-01", 495_00)]
        assert len(ever.buckets) == 15
        assert by_slug(ever.categories)[None].raised_fen == 500_00


def test_an_unknown_period_is_the_last_thirty_days():
    assert stats.period_of("bogus") is stats.period_of(None) is stats.PERIODS["30d"]
    assert stats.period_of("7d").days == 7


def test_the_public_figures(app, world):
    with app.app_context():
        figures = stats.public_figures(now=NOW)
        assert (figures.raised_fen, figures.backers, figures.funded, figures.failed) == (995_00, 3, 2, 1)
        assert figures.success_percent == 66
        assert [b.start.isoformat() for b in figures.months][::11] == ["2025-04-01", "2026-03-01"]
        assert [b.amount_fen for b in figures.months] == [0] * 11 + [495_00]
        rows = by_slug(figures.categories)
        assert (rows["tech"].projects, rows["culture"].projects, rows[None].projects) == (2, 1, 1), \
            "drafts and cancelled campaigns are not public"
        assert stats.next_month_start(NOW) == utc(2026, 3, 31, 16)


def heights(line):
    """How far above the baseline each vertex is drawn (the baseline is the lowest vertex, a zero)."""
    base = max(y for _, y in line)
    return [base - y for _, y in line]


def test_the_charts_draw_the_figures(app, world):
    with app.test_request_context():
        figures = stats.dashboard(stats.PERIODS["7d"], now=NOW)
        (line,) = charts.lines_of(stats.raised_chart(figures.buckets, monthly=False))
        assert len(line) == 7
        drawn = heights(line)
        assert [round(h / drawn[1] * 300) for h in drawn] == [0, 300, 0, 0, 0, 50, 120]

        bars = charts.bars_of(stats.category_chart(figures.categories, "zh_CN"))
        assert len(bars) == len(figures.categories) == 8
        assert bars[0] > 0 and bars[1:] == [0] * 7, "only technology raised money in the week"

        public = stats.public_figures(now=NOW)
        bars = charts.bars_of(stats.category_chart(public.categories, "zh_CN", count=True))
        counts = [row.projects for row in public.categories]
        assert counts[:2] == [2, 1] and counts[-1] == 1
        assert [round(width / bars[0] * 2) for width in bars] == counts


def test_a_monthly_chart_is_labelled_by_month(app, world):
    with app.test_request_context():
        svg = str(stats.raised_chart(stats.public_figures(now=NOW).months, monthly=True))
        labels = sorted(re.findall(r">(\d{4}-\d{2})</text>", svg))
        assert labels[0] == "2025-04" and labels[-1] == "2026-03" and len(labels) <= 7
        assert not re.search(r">\d{1,2}-\d{1,2}</text>", svg), "no day labels on a chart of months"
