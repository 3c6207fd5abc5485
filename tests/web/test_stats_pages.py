"""The staff dashboard, the public statistics page and the home-page boost for on-time creators."""
import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest

from crowdfund import charts, delivery
from crowdfund.extensions import db
from crowdfund.models import Pledge, Project, ProjectStatus, RewardTier
from crowdfund.models.base import utcnow
from tests.web.test_discovery import count_queries, titles

SVG = re.compile(r"<svg [^>]*class=\"chart\".*?</svg>", re.S)


def svgs(body):
    return [ElementTree.fromstring(svg) for svg in SVG.findall(body)]


@pytest.fixture
def funded(make_project, make_user):
    """Two backers with paid pledges on a live project."""
    alice = make_user(email="alice.backer@example.com", display_name="王小丫")
    bob = make_user(email="bob.backer@example.com", display_name="李大牛")
    return make_project(status="live", title="会学习的台灯", paid=[(alice, 120_00, 0), (bob, 80_00, None)])


@pytest.mark.parametrize("roles, status", [((), 403), (("creator",), 403), (("finance",), 403),
                                           (("moderator",), 200), (("admin",), 200)])
def test_the_dashboard_is_for_moderators_and_admins(client, login_as, roles, status):
    login_as(*roles)
    assert client.get("/moderation/dashboard").status_code == status


def test_the_dashboard_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/moderation/dashboard")
    assert response.status_code == 302 and response.location.startswith("/login?next=")


def test_the_dashboard_plain_and_htmx(client, login_as, funded):
    login_as("moderator")
    page = client.get("/moderation/dashboard?period=7d")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in body and "平台数据" in body
    assert 'id="total-raised">¥200.00<' in body and 'id="period-pledges">2<' in body
    assert '<option value="7d" selected>' in body and 'hx-get="/moderation/dashboard"' in body
    assert "已取消的项目不计入" in body, "the page says how the success rate is counted"
    assert 'href="/moderation/dashboard"' in body, "linked from the staff menu"
    raised, by_category = svgs(body)
    assert len(charts.lines_of(ElementTree.tostring(raised, encoding="unicode"))[0]) == 7
    assert raised.get("role") == "img" and by_category.get("role") == "img"

    fragment = client.get("/moderation/dashboard?period=90d", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text and text.lstrip().startswith('<div id="figures">')
    assert "HX-Request" in fragment.headers["Vary"]
    assert len(charts.lines_of(SVG.search(text).group())[0]) == 90
    assert client.get("/moderation/dashboard?period=<script>").status_code == 200, "unknown: the last 30 days"


def test_the_dashboard_charts_a_long_period_by_month(client, login_as, funded):
    login_as("admin")
    body = client.get("/moderation/dashboard?period=365d").get_data(as_text=True)
    assert "每月已支付的支持" in body and utcnow().strftime("%Y-%m") in body


def test_the_public_page_shows_aggregates_and_no_one(client, make_project, make_user, funded):
    make_project(status="draft", title="草稿里的秘密项目")
    page = client.get("/stats")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "平台统计" in body
    assert 'id="total-raised">¥200.00<' in body and 'id="backers">2<' in body
    assert 'id="success-rate">—<' in body, "no campaign has ended yet"
    for svg in svgs(body):
        assert svg.get("role") == "img" and svg.find(f"{{{charts.SVG_NS}}}title") is not None
    for personal in ("王小丫", "李大牛", "alice.backer", "bob.backer", "创作者", "@example.com", "草稿里的秘密项目"):
        assert personal not in body, personal
    assert 'href="/stats"' in client.get("/").get_data(as_text=True), "the footer links it"


def test_dashboard_and_stats_queries_do_not_grow_with_the_data(app, client, login_as, make_project, make_user):
    """A constant number of SQL statements (≤ 6 for /stats, ≤ 15 for the dashboard, the staff menu's open risk alerts included) for 2 or 10 projects."""
    login_as("moderator")
    anonymous = app.test_client()
    counts = {"/moderation/dashboard?period=all": [], "/moderation/dashboard?period=7d": [], "/stats": []}
    made = 0
    for total in (2, 10):
        while made < total:
            backers = [make_user() for _ in range(2)]
            make_project(status="live", category=["gadgets", "publishing", "home"][made % 3],
                         paid=[(backer, 50_00 + made, 0) for backer in backers])
            made += 1
        for url, seen in counts.items():
            with count_queries(app) as statements:
                assert (anonymous if url == "/stats" else client).get(url).status_code == 200
            seen.append(len(statements))
    for url, (few, many) in counts.items():
        assert few == many, (url, counts)
    assert counts["/stats"][0] <= 6 and counts["/moderation/dashboard?period=all"][0] <= 15, counts


def _record(app, slug, month=None, shipped=True, status=ProjectStatus.COMPLETED):
    """Turn a project into a past campaign whose rewards shipped (on time, unless `month` says otherwise)."""
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.status = status
        if month:
            for tier in db.session.scalars(db.select(RewardTier).filter_by(project_id=project.id)):
                tier.delivery_month = month
        for pledge in db.session.scalars(db.select(Pledge).filter_by(project_id=project.id)):
            pledge.shipped_at = utcnow() if shipped else None
        db.session.commit()
        return project.creator_id


def test_on_time_creators_rank_first_in_trending_with_a_badge(app, client, make_project, make_user):
    backer = make_user()
    steady = make_user(email="steady@example.com", roles=["creator"])
    late = make_user(email="late@example.com", roles=["creator"])
    _record(app, make_project(creator=steady, paid=[(backer, 99_00, 0)]))
    _record(app, make_project(creator=late, paid=[(backer, 99_00, 0)]), month="2020-01")
    make_project(status="live", title="热门", paid=[(backer, 500_00, None)])
    make_project(status="live", title="守约者的新项目", creator=steady, paid=[(backer, 10_00, None)])
    make_project(status="live", title="迟到者的项目", creator=late, paid=[(backer, 400_00, None)])
    make_project(status="live", title="精选", featured=True)
    body = client.get("/").get_data(as_text=True)
    trending = body.split('id="section-trending"', 1)[1].split("</section>", 1)[0]
    assert titles(trending) == ["守约者的新项目", "热门", "迟到者的项目"], "the on-time creator first, then by money"
    assert trending.count("守约发起人") == 1 and body.count("守约发起人") == 1
    featured = body.split('id="section-featured"', 1)[1].split("</section>", 1)[0]
    assert titles(featured) == ["精选"], "featured stays the moderators' choice"
    with app.app_context():
        assert delivery.on_time_creators([steady, late]) == {steady}


def test_a_creator_needs_a_fully_shipped_funded_project(app, make_project, make_user):
    backer = make_user()
    waiting = make_user(roles=["creator"])
    twice = make_user(roles=["creator"])
    _record(app, make_project(creator=waiting, paid=[(backer, 99_00, 0)]), shipped=False,
            status=ProjectStatus.SUCCESSFUL)
    _record(app, make_project(creator=twice, paid=[(backer, 99_00, 0)]))
    with app.app_context():
        assert delivery.on_time_creators([waiting, twice]) == {twice}, "nothing shipped yet: no record"
        app.config["ON_TIME_CREATOR_DELIVERED_PROJECTS"] = 2
        assert delivery.on_time_creators([waiting, twice]) == set()
    _record(app, make_project(creator=twice, paid=[(backer, 99_00, 0)]), status=ProjectStatus.DELIVERING)
    with app.app_context():
        assert delivery.on_time_creators([twice]) == {twice}
        past_due = (utcnow() - timedelta(days=120)).strftime("%Y-%m")
        _record(app, make_project(creator=twice, paid=[(backer, 99_00, 0)]), month=past_due, shipped=False,
                status=ProjectStatus.SUCCESSFUL)
        assert delivery.on_time_creators([twice]) == set(), "a reward past its promised date is late"


def test_on_time_creators_rank_first_among_the_newly_launched(app, make_project, make_user):
    from crowdfund import discovery

    backer = make_user()
    steady = make_user(roles=["creator"])
    _record(app, make_project(creator=steady, paid=[(backer, 99_00, 0)]))
    make_project(title="最早结束", duration_days=3)
    make_project(title="守约者的老项目", creator=steady)
    make_project(title="刚上线", duration_days=40)
    with app.app_context():
        sections, _, on_time = discovery.home_sections(size=1)
        assert [p.title for p in sections["ending"]] == ["最早结束"]
        assert [p.title for p in sections["new"]] == ["守约者的老项目"], "before the newer project of someone else"
        assert on_time == {steady}


def test_the_public_page_is_cached_until_the_next_write(make_app, redis_url, make_user, funded):
    from redis import Redis

    from crowdfund.models import PledgeStatus

    Redis.from_url(redis_url).flushdb()
    cached = make_app(REDIS_URL=redis_url, PAGE_CACHE_SECONDS=300)
    visitor = cached.test_client()
    assert visitor.get("/stats").headers["X-Page-Cache"] == "miss"
    hit = visitor.get("/stats")
    assert hit.headers["X-Page-Cache"] == "hit" and 'id="total-raised">¥200.00<' in hit.get_data(as_text=True)
    backer = make_user()
    with cached.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=funded))
        db.session.add(Pledge(project_id=project.id, backer_id=backer, amount_fen=50_00, paid_fen=50_00,
                              status=PledgeStatus.PAID, paid_at=utcnow(), out_trade_no="STATS-CACHE-1"))
        db.session.commit()
    fresh = visitor.get("/stats")
    assert fresh.headers["X-Page-Cache"] == "miss" and 'id="total-raised">¥250.00<' in fresh.get_data(as_text=True)
