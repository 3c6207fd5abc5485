"""Creator analytics (issue 13 point 2; crowdfund/analytics.py): figures on crafted data, charts, CSV."""
import csv
import io
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from crowdfund import analytics, charts, visits
from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, Project, Visit

MON = date(2026, 3, 2)  # a fixed week: the figures do not depend on today
DAYS = [MON + timedelta(days=n) for n in range(7)]


def at(day, hour=4):
    """A UTC moment on `day` in Beijing (04:00 UTC is noon there)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def add_visits(project_id, day, visitors, views_each=1, referrer="", ref=""):
    for v in range(visitors):
        for n in range(views_each):
            db.session.add(Visit(key=uuid.uuid4().hex, project_id=project_id, day=day,
                                 visitor=f"{day}-{referrer}-{ref}-{v}"[:32], referrer=referrer, ref=ref, created_at=at(day)))


@pytest.fixture
def lamp(app, make_project, make_user):
    """A ¥1,000 goal; 早鸟 ¥99 ×2 (Shanghai, Beijing), 豪华 ¥2,500 ×1 (Shanghai), ¥30 without reward, one refunded;
    visits on Monday (3 visitors, 5 views: weibo ×2, direct, this site via a share link ×2) and Wednesday (1)."""
    ann, bob = make_user(email="ann@example.com", display_name="Ann"), make_user(email="bob@example.com",
                                                                                 display_name="=Bob")
    maker = make_user(email="maker@example.com", display_name="Maker", roles=["creator"])
    slug = make_project(creator=maker, goal_fen=1000_00, tiers=[dict(title="早鸟", price_fen=99_00), dict(title="豪华", price_fen=2500_00)],
                        paid=[(ann, 99_00, 0), (bob, 99_00, 0), (ann, 2500_00, 1), (bob, 30_00, None),
                              (ann, 99_00, 0)])
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        pledges = db.session.scalars(select(Pledge).filter_by(project_id=project.id).order_by(Pledge.id)).all()
        plan = [(MON, "上海市", False), (DAYS[2], "北京市", True), (DAYS[2], "上海市", False), (DAYS[6], None, False),
                (MON, "上海市", False)]
        for pledge, (day, province, anonymous) in zip(pledges, plan):
            pledge.paid_at, pledge.ship_province, pledge.anonymous = at(day), province, anonymous
            pledge.ship_phone, pledge.ship_detail = ("13800138000", "漕溪北路 1 号") if province else (None, None)
        pledges[2].paid_at = datetime(2026, 3, 3, 16, 30, tzinfo=timezone.utc)  # 00:30 on Wednesday in Beijing
        pledges[4].status = PledgeStatus.REFUNDED
        add_visits(project.id, MON, 1, views_each=2, referrer="weibo.com")
        add_visits(project.id, MON, 1, referrer="")
        add_visits(project.id, MON, 1, views_each=2, referrer=visits.SELF, ref="Ab3")
        add_visits(project.id, DAYS[2], 1, referrer="weibo.com")
        add_visits(project.id, MON - timedelta(days=1), 4)  # before the range
        db.session.commit()
    return slug


def load(slug):
    return db.session.scalar(select(Project).filter_by(slug=slug))


def test_figures_per_day_conversion_and_the_funding_curve(app, lamp):
    with app.app_context():
        f = analytics.figures(load(lamp), MON, DAYS[6])
    assert [d.day for d in f.days] == DAYS, "every day, zeros filled in"
    assert [d.visits for d in f.days] == [5, 0, 1, 0, 0, 0, 0]
    assert [d.visitors for d in f.days] == [3, 0, 1, 0, 0, 0, 0]
    assert [d.backers for d in f.days] == [1, 0, 2, 0, 0, 0, 1], "by the Beijing day paid; the refunded one left out"
    assert [d.cumulative_fen for d in f.days] == [99_00, 99_00, 2698_00, 2698_00, 2698_00, 2698_00, 2728_00]
    assert (f.visits, f.visitors, f.backers, f.amount_fen) == (6, 4, 4, 2728_00)
    assert f.conversion == 100.0 and f.raised_fen == 2728_00 and f.goal_percent == 272
    assert f.shared_visits == 2
    assert f.referrers == [("weibo.com", 3), ("本站", 2), ("直接访问（无来源）", 1)]


def test_breakdowns_by_reward_province_and_amount_band(app, lamp):
    with app.app_context():
        f = analytics.figures(load(lamp), MON, DAYS[6])
    assert f.tiers == [("早鸟", 2, 198_00), ("豪华", 1, 2500_00), ("无回报支持", 1, 30_00)]
    assert f.provinces == [("上海市", 2, 2599_00), ("北京市", 1, 99_00), ("无地址（数字回报 / 无回报）", 1, 30_00)]
    assert f.bands == [("<¥50", 1, 30_00), ("¥50–199", 2, 198_00), ("¥200–499", 0, 0), ("¥500–1999", 0, 0),
                       ("≥¥2000", 1, 2500_00)]


def test_a_later_range_starts_the_curve_from_what_was_raised_before(app, lamp):
    with app.app_context():
        f = analytics.figures(load(lamp), DAYS[3], DAYS[6])
    assert [d.cumulative_fen for d in f.days] == [2698_00, 2698_00, 2698_00, 2728_00]
    assert (f.visits, f.backers, f.conversion) == (0, 1, None)
    assert f.tiers == [("无回报支持", 1, 30_00)], "breakdowns cover the range only"


def test_the_amount_bands_are_a_setting(make_app, lamp):
    app = make_app(ANALYTICS_AMOUNT_BANDS=[100])
    with app.app_context():
        f = analytics.figures(load(lamp), MON, DAYS[6])
    assert f.bands == [("<¥100", 3, 228_00), ("≥¥100", 1, 2500_00)]


def test_ranges_are_checked_and_the_default_is_the_campaign_so_far(app, lamp):
    with app.app_context():
        with pytest.raises(analytics.RangeError):
            analytics.check_range(DAYS[3], MON)
        with pytest.raises(analytics.RangeError):
            analytics.check_range(MON, MON + timedelta(days=366))
        analytics.check_range(MON, MON + timedelta(days=365))
        project = load(lamp)
        today = visits.local_day()
        assert analytics.default_range(project) == (visits.local_day(project.launch_at), today)
        assert analytics.preset_range(project, 7) == (today - timedelta(days=6), today)
        project.launch_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
        assert analytics.default_range(project) == (today - timedelta(days=365), today), "at most a year"


def test_the_charts_draw_one_vertex_per_day_and_bars_in_proportion(app, lamp):
    with app.app_context():
        f = analytics.figures(load(lamp), MON, DAYS[6])
        drawn = analytics.chart_set(f)
    visits_line, visitors_line = charts.lines_of(drawn["visits"])[:2]
    assert len(visits_line) == len(visitors_line) == 7
    bottom = visits_line[1][1]  # a zero day
    heights = [bottom - y for _, y in visits_line]
    assert heights[0] == pytest.approx(5 * heights[2], rel=0.02) and heights[1] == heights[3] == 0
    curve, goal = charts.lines_of(drawn["funding"])[:2]
    assert len(curve) == 7 and len(goal) == 2 and goal[0][1] == goal[1][1], "the goal is a flat line"
    base = bottom_of(drawn["funding"])
    assert (base - curve[0][1]) / (base - goal[0][1]) == pytest.approx(99 / 1000, rel=0.03)
    assert (base - curve[-1][1]) / (base - goal[0][1]) == pytest.approx(2728 / 1000, rel=0.03)
    tiers = charts.bars_of(drawn["tiers"])
    assert tiers[0] == pytest.approx(2 * tiers[1], rel=0.02) and tiers[2] == pytest.approx(tiers[1], rel=0.02)
    assert len(charts.bars_of(drawn["bands"])) == 5
    referrers = charts.bars_of(drawn["referrers"])
    assert referrers[0] == pytest.approx(3 * referrers[2], rel=0.02)
    for svg in drawn.values():
        assert str(svg).startswith("<svg") and "<script" not in str(svg) and 'role="img"' in str(svg)


def bottom_of(svg):
    """The y of the value 0 on a line chart: its lowest horizontal grid line."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(str(svg))
    ys = [float(line.get("y1")) for line in root.iter(f"{{{charts.SVG_NS}}}line")
          if line.get("y1") and line.get("y1") == line.get("y2")]
    return max(ys)


def rows_of(text):
    assert text.startswith("\ufeff"), "a BOM, so spreadsheet programs read UTF-8"
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_figures_csv_has_one_row_a_day(app, lamp):
    with app.app_context():
        rows = rows_of(analytics.figures_csv(analytics.figures(load(lamp), MON, DAYS[2])))
    assert rows == [["date", "visits", "unique_visitors", "paid_pledges", "amount_yuan", "cumulative_yuan"],
                    ["2026-03-02", "5", "3", "1", "99.00", "99.00"],
                    ["2026-03-03", "0", "0", "0", "0.00", "99.00"],
                    ["2026-03-04", "1", "1", "2", "2599.00", "2698.00"]]


def test_backers_csv_keeps_anonymity_and_holds_no_contact_details(app, lamp):
    with app.app_context():
        text = analytics.backers_csv(load(lamp))
        ids = db.session.scalars(select(Pledge.id).order_by(Pledge.id)).all()
    rows = rows_of(text)
    assert rows[0] == ["pledge", "date", "reward", "amount_yuan", "status", "province", "backer"]
    assert rows[1:] == [
        [str(ids[0]), "2026-03-02", "早鸟", "99.00", "paid", "上海市", "Ann"],
        [str(ids[4]), "2026-03-02", "早鸟", "99.00", "refunded", "上海市", "Ann"],
        [str(ids[2]), "2026-03-04", "豪华", "2500.00", "paid", "上海市", "Ann"],
        [str(ids[1]), "2026-03-04", "早鸟", "99.00", "paid", "北京市", "匿名"],
        [str(ids[3]), "2026-03-08", "无回报支持", "30.00", "paid", "", "'=Bob"],
    ]
    assert "13800138000" not in text and "漕溪北路" not in text and "@example.com" not in text
