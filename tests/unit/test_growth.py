"""Sharing and points earning (crowdfund/growth.py): each rule on crafted data with a fixed clock, the daily caps,
idempotency, taking points back, and the QR code's content."""
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
import segno
from sqlalchemy import select

from crowdfund import growth, pledging, points, visits
from crowdfund.extensions import db
from crowdfund.models import PointsEntry, Project, User

NOON = datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)  # 12:00 in Beijing, 2 March
EVENING = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)  # 23:30 in Beijing, still 2 March
NEXT_MORNING = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)  # 01:00 in Beijing, 3 March


def entries(user_id):
    return db.session.scalars(select(PointsEntry).where(PointsEntry.user_id == user_id)
                              .order_by(PointsEntry.id)).all()


def paid_pledge(project_slug, backer_id, amount_fen, paid_at=NOON, tier=None):
    """A pledge started and paid through pledging (the provider's notification), as in production."""
    project = db.session.scalar(select(Project).where(Project.slug == project_slug))
    backer = db.session.get(User, backer_id)
    tier_row = project.tiers[tier] if tier is not None else None
    pledge = pledging.start(backer, project, tier_row, amount_fen, idempotency_key=uuid.uuid4().hex,
                            risk_accepted=True)
    assert pledging.record_payment(pledge.out_trade_no, f"T{pledge.id}", pledge.amount_fen, paid_at=paid_at) == "paid"
    return pledge


def test_a_paid_pledge_earns_a_point_per_ten_yuan_at_least_one_and_once(app, make_project, make_user):
    backer = make_user()
    slug = make_project(tiers=[])
    with app.app_context():
        big = paid_pledge(slug, backer, 123_45)
        small = paid_pledge(slug, backer, 3_00)
        assert [(e.reason, e.delta, e.key) for e in entries(backer)] == [
            ("backing", 12, f"backing:{big.id}"), ("backing", 1, f"backing:{small.id}")]
        assert pledging.record_payment(big.out_trade_no, "T-again", big.amount_fen, paid_at=NOON) == "duplicate"
        assert growth.credit_backing(big, now=NOON) is None, "the same pledge never earns twice"
        assert points.balance(backer) == 13
        assert entries(backer)[0].project_id == big.project_id and entries(backer)[0].day.isoformat() == "2026-03-02"


def test_shipping_does_not_earn_points(app, make_project, make_user):
    backer = make_user()
    slug = make_project(tiers=[dict(title="台灯", price_fen=99_00, shipping={"mainland": 25_00})])
    with app.app_context():
        project = db.session.scalar(select(Project).where(Project.slug == slug))
        pledge = pledging.start(db.session.get(User, backer), project, project.tiers[0], 99_00, region="mainland",
                                address={"name": "王小明", "phone": "13800000000", "province": "北京市",
                                         "city": "北京市", "district": "东城区", "detail": "东华门街道 1 号"},
                                idempotency_key="k1", risk_accepted=True)
        assert pledge.amount_fen == 124_00 and pledge.shipping_fen == 25_00
        assert growth.backing_points(pledge) == 9, "¥99 of support: 9 points, the ¥25 shipping earns nothing"


def test_backing_points_stop_at_the_daily_cap_and_start_again_the_next_beijing_day(make_app, make_project, make_user):
    app = make_app(POINTS_BACKING_DAILY_CAP=15)
    backer = make_user()
    slug = make_project(tiers=[])
    with app.app_context():
        paid_pledge(slug, backer, 100_00, paid_at=NOON)  # 10
        capped = paid_pledge(slug, backer, 100_00, paid_at=EVENING)  # 10, only 5 left today
        nothing = paid_pledge(slug, backer, 100_00, paid_at=EVENING)  # none left
        paid_pledge(slug, backer, 100_00, paid_at=NEXT_MORNING)  # a new day in Beijing
        assert [e.delta for e in entries(backer)] == [10, 5, 10]
        assert points.earned_on(backer, "backing", NOON.date()) == 15
        assert not db.session.scalar(select(PointsEntry).where(PointsEntry.key == f"backing:{nothing.id}"))
        assert db.session.scalar(select(PointsEntry.delta).where(PointsEntry.key == f"backing:{capped.id}")) == 5


def test_cancelling_a_pledge_takes_its_points_back_once_and_does_not_free_the_cap(make_app, make_project, make_user):
    app = make_app(POINTS_BACKING_DAILY_CAP=30)
    backer = make_user()
    slug = make_project(tiers=[])
    with app.app_context():
        pledge = paid_pledge(slug, backer, 250_00)
        assert points.balance(backer) == 25
        pledging.cancel(pledge, db.session.get(User, backer))
        assert [(e.reason, e.delta) for e in entries(backer)] == [("backing", 25), ("reversal", -25)]
        assert growth.take_back_backing(pledge, "cancelled") is None, "taken back once"
        assert points.balance(backer) == 0
        again = paid_pledge(slug, backer, 250_00)
        assert db.session.scalar(select(PointsEntry.delta).where(PointsEntry.key == f"backing:{again.id}")) == 5, \
            "a cancelled pledge's points still count against the day's cap"


def test_moving_to_a_cheaper_reward_takes_back_the_difference(app, make_project, make_user):
    backer = make_user()
    slug = make_project(tiers=[dict(title="豪华", price_fen=300_00, physical=False),
                               dict(title="基础", price_fen=50_00, physical=False)])
    with app.app_context():
        pledge = paid_pledge(slug, backer, 300_00, tier=0)
        assert points.balance(backer) == 30
        project = db.session.scalar(select(Project).where(Project.slug == slug))
        pledging.change_tier(pledge, db.session.get(User, backer), project.tiers[1], idempotency_key="down")
        assert pledge.amount_fen == 50_00
        assert [(e.reason, e.delta) for e in entries(backer)] == [("backing", 30), ("reversal", -25)]
        assert points.balance(backer) == 5


def test_a_failed_project_leaves_the_points(app, make_project, make_user):
    from crowdfund import refunds

    backer = make_user()
    slug = make_project(tiers=[])
    with app.app_context():
        pledge = paid_pledge(slug, backer, 80_00)
        refunds.request_refund(pledge, "failed")
        assert points.balance(backer) == 8


def visit(slug, ref, visitor="v1", at=NOON, viewer=None):
    return {"key": uuid.uuid4().hex, "slug": slug, "day": visits.local_day(at).isoformat(), "visitor": visitor,
            "referrer": "weibo.com", "ref": ref, "viewer": viewer, "at": at.isoformat()}


def sharer_with_code(user_id):
    return growth.share_code(db.session.get(User, user_id))


def test_a_visit_through_a_share_link_earns_once_per_visitor_project_and_day(app, make_project, make_user):
    sharer = make_user()
    first, second = make_project(), make_project()
    with app.app_context():
        code = sharer_with_code(sharer)
        stored = visits.write([visit(first, code), visit(first, code), visit(first, code, visitor="v2"),
                               visit(second, code), visit(first, code, at=NEXT_MORNING), visit(first, "")])
        assert stored == 6, "every visit is stored; points are something else"
        assert [(e.reason, e.delta) for e in entries(sharer)] == [("share", 2)] * 4
        project_id = db.session.scalar(select(Project.id).where(Project.slug == first))
        assert entries(sharer)[0].key == f"share:{project_id}:v1:2026-03-02"
        assert [e.day.isoformat() for e in entries(sharer)][-1] == "2026-03-03"


def test_share_points_stop_at_the_daily_cap(make_app, make_project, make_user):
    app = make_app(POINTS_PER_SHARE_VISIT=2, POINTS_SHARE_DAILY_CAP=5)
    sharer = make_user()
    slug = make_project()
    with app.app_context():
        code = sharer_with_code(sharer)
        visits.write([visit(slug, code, visitor=f"v{n}") for n in range(6)])
        visits.write([visit(slug, code, visitor="tomorrow", at=NEXT_MORNING)])
        assert [e.delta for e in entries(sharer)] == [2, 2, 1, 2]
        assert points.earned_on(sharer, "share", NOON.date()) == 5


def test_own_visits_unknown_codes_and_deleted_accounts_earn_nothing_and_rewriting_is_harmless(app, make_project,
                                                                                               make_user):
    sharer, other = make_user(), make_user()
    slug = make_project()
    with app.app_context():
        code, gone = sharer_with_code(sharer), sharer_with_code(other)
        db.session.get(User, other).deleted_at = NOON
        db.session.commit()
        batch = [visit(slug, code, viewer=sharer), visit(slug, "nobodys-code", visitor="v2"),
                 visit(slug, gone, visitor="v3")]
        visits.write(batch)
        assert entries(sharer) == [] and entries(other) == []
        fine = visit(slug, code, visitor="v4")
        visits.write([fine])
        visits.write([fine])  # a queued batch written again
        growth.credit_share_visits([{"project_id": db.session.scalar(select(Project.id).where(Project.slug == slug)),
                                     "visitor": "v4", "day": NOON.date(), "ref": code, "viewer": None,
                                     "created_at": NOON}])  # or the credit run again
        assert [e.delta for e in entries(sharer)] == [2]


def test_a_share_code_is_random_unique_stable_and_fits_the_ref_pattern(app, make_user):
    first, second = make_user(), make_user()
    with app.app_context():
        one, two = sharer_with_code(first), sharer_with_code(second)
        assert one != two and visits.REF.fullmatch(one) and len(one) >= 8
        db.session.expire_all()
        assert sharer_with_code(first) == one, "made once, then kept"


MOVE = re.compile(r"([Mm])(-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)|h(\d+)")


def dark_modules(svg):
    """The dark modules an SVG of segno's line paths draws, as (row, column) pairs."""
    root = ET.fromstring(svg)
    path = root.find("{http://www.w3.org/2000/svg}path") if root.tag.startswith("{") else root.find("path")
    x = y = 0.0
    dark = set()
    for absolute_or_relative, dx, dy, run in MOVE.findall(path.get("d")):
        if absolute_or_relative == "M":
            x, y = float(dx), float(dy)
        elif absolute_or_relative == "m":
            x, y = x + float(dx), y + float(dy)
        else:
            dark.update((int(y), int(x) + n) for n in range(int(run)))
            x += int(run)
    return dark


def test_the_qr_svg_is_valid_titled_without_style_or_script_and_encodes_the_link(app):
    link = "https://crowdfund.example/projects/lamp?ref=Ab3_x-9Q"
    with app.test_request_context():
        svg = growth.qr_svg(link, "台灯 <Lamp> & co")
    assert not svg.startswith("<?xml") and "<script" not in svg and "style" not in svg
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    assert root.find("{http://www.w3.org/2000/svg}title").text == "台灯 <Lamp> & co"
    expected = segno.make(link, error="m")
    border = 4
    assert dark_modules(svg) == {(r + border, c + border) for r, row in enumerate(expected.matrix)
                                 for c, module in enumerate(row) if module}
    assert dark_modules(svg) != dark_modules(segno.make(link.replace("Ab3", "Ab4"), error="m").svg_inline(
        title="x", lineclass=None, omitsize=True)), "another link draws another code"


def test_share_links_are_absolute_carry_the_ref_and_weibo_gets_them_encoded(app, make_project, make_user):
    sharer = make_user()
    slug = make_project(title="台灯 Lamp")
    with app.test_request_context():
        from flask_login import login_user

        project = db.session.scalar(select(Project).where(Project.slug == slug))
        user = db.session.get(User, sharer)
        assert growth.share_url(project) == f"{app.config['SITE_URL']}/projects/{slug}"
        login_user(user)
        share = growth.share_context(project, user)
        assert share["link"] == f"{app.config['SITE_URL']}/projects/{slug}?ref={user.share_code}"
        from urllib.parse import parse_qs, urlsplit

        weibo = urlsplit(share["weibo"])
        assert f"{weibo.scheme}://{weibo.netloc}{weibo.path}" == growth.WEIBO_SHARE
        assert parse_qs(weibo.query) == {"url": [share["link"]], "title": ["台灯 Lamp"]}
        assert share["qr_src"] == f"/projects/{slug}/share/qr.svg?ref={user.share_code}"
