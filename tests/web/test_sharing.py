"""Sharing a project and the points page (issue 13 point 7): the share panel and page, the QR image, share links
bringing visits that earn the sharer points, plain and htmx renderings."""
import re
import xml.etree.ElementTree as ET
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from redis import Redis
from sqlalchemy import select

from crowdfund import pagecache, points
from crowdfund.extensions import db
from crowdfund.jobs import flush_visits
from crowdfund.models import User
from tests.unit.test_growth import dark_modules

BROWSER = "Mozilla/5.0 (Linux; Android 13; M2012K11AC) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile"
HTMX = {"HX-Request": "true"}


def share_link(html, where="panel"):
    match = re.search(rf'id="share-link-{where}"[^>]*value="([^"]+)"', html)
    return unescape(match.group(1)) if match else None


def code_of(app, email):
    with app.app_context():
        return db.session.scalar(select(User.share_code).where(User.email == email))


def balance_of(app, email):
    with app.app_context():
        return points.balance(db.session.scalar(select(User.id).where(User.email == email)))


def test_anonymous_visitors_get_the_share_panel_with_the_plain_link(app, client, make_project):
    slug = make_project(title="台灯 Lamp")
    html = client.get(f"/projects/{slug}", headers={"User-Agent": BROWSER}).get_data(as_text=True)
    link = f"{app.config['SITE_URL']}/projects/{slug}"
    assert '<details class="share-panel" id="share">' in html and share_link(html) == link
    weibo = re.search(r'href="(https://service\.weibo\.com/share/share\.php\?[^"]+)"', html).group(1)
    assert parse_qs(urlsplit(unescape(weibo)).query) == {"url": [link], "title": ["台灯 Lamp"]}
    assert f'src="/projects/{slug}/share/qr.svg"' in html and "?ref=" not in html
    assert f'href="/projects/{slug}/share"' in html


def test_a_signed_in_persons_links_carry_their_share_code(app, client, make_project, login_as):
    slug = make_project()
    email = login_as()
    html = client.get(f"/projects/{slug}").get_data(as_text=True)
    code = code_of(app, email)
    assert code and share_link(html) == f"{app.config['SITE_URL']}/projects/{slug}?ref={code}"
    assert f"/projects/{slug}/share/qr.svg?ref={code}" in html
    assert "%3Fref%3D" + code in html, "the Weibo link shares the same link"
    again = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert share_link(again) == share_link(html), "the code is made once"


def test_the_page_cache_never_hands_one_persons_code_to_anyone(make_app, redis_url, make_project, make_user, forms):
    Redis.from_url(redis_url).flushdb()
    app = make_app(REDIS_URL=redis_url, PAGE_CACHE_SECONDS=300)
    slug = make_project()
    make_user(email="sharer@example.com")
    signed_in = app.test_client()
    from tests.conftest import Browserless

    assert Browserless(signed_in).login(email="sharer@example.com").status_code == 303
    version = Redis.from_url(redis_url).get(pagecache.VERSION_KEY)
    mine = signed_in.get(f"/projects/{slug}").get_data(as_text=True)
    assert "ref=" in share_link(mine)
    assert Redis.from_url(redis_url).get(pagecache.VERSION_KEY) == version, "making a share code leaves the cache"
    first = app.test_client().get(f"/projects/{slug}")
    second = app.test_client().get(f"/projects/{slug}")
    assert second.headers["X-Page-Cache"] == "hit"
    for response in (first, second):
        assert "?ref=" not in response.get_data(as_text=True) and "%3Fref" not in response.get_data(as_text=True)


def test_the_share_page_plain_and_htmx(app, client, make_project, login_as):
    slug = make_project(title="台灯 Lamp")
    plain = client.get(f"/projects/{slug}/share")
    html = plain.get_data(as_text=True)
    assert plain.status_code == 200 and "<html" in html and share_link(html, "page").endswith(f"/projects/{slug}")
    assert "长按" in html and '<svg xmlns="http://www.w3.org/2000/svg"' in html
    fragment = client.get(f"/projects/{slug}/share", headers=HTMX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<section id="share_panel"')
    assert "HX-Request" in fragment.headers["Vary"]
    email = login_as()
    html = client.get(f"/projects/{slug}/share").get_data(as_text=True)
    assert share_link(html, "page").endswith(f"?ref={code_of(app, email)}")
    svg = re.search(r"<svg[^>]*class=\"qr\".*?</svg>", html, re.S).group(0)
    assert dark_modules(svg) == {(r + 4, c + 4) for r, row in enumerate(segno.make(share_link(html, "page"),
                                                                                   error="m").matrix)
                                 for c, module in enumerate(row) if module}


def test_drafts_have_no_share_page_or_qr(client, make_project):
    slug = make_project(status="draft")
    assert client.get(f"/projects/{slug}/share").status_code == 404
    assert client.get(f"/projects/{slug}/share/qr.svg").status_code == 404
    assert client.get("/projects/nothing-here/share").status_code == 404


def test_the_qr_image_is_an_svg_of_the_share_link(app, client, make_project):
    slug = make_project(title="台灯 Lamp")
    response = client.get(f"/projects/{slug}/share/qr.svg?ref=Ab3_x-9Q")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert "public" in response.headers["Cache-Control"]
    svg = response.get_data(as_text=True)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}title").text == "台灯 Lamp"
    link = f"{app.config['SITE_URL']}/projects/{slug}?ref=Ab3_x-9Q"
    assert dark_modules(svg) == {(r + 4, c + 4) for r, row in enumerate(segno.make(link, error="m").matrix)
                                 for c, module in enumerate(row) if module}
    assert client.get(f"/projects/{slug}/share/qr.svg?ref=<script>").status_code == 404


def test_a_visit_through_a_share_link_earns_the_sharer_points_once_and_not_their_own(app, make_project, make_user,
                                                                                      forms, client):
    slug = make_project()
    make_user(email="sharer@example.com")
    forms.login(email="sharer@example.com")
    link = share_link(client.get(f"/projects/{slug}").get_data(as_text=True))
    path = link[len(app.config["SITE_URL"]):]
    client.get(path, headers={"User-Agent": BROWSER})
    assert balance_of(app, "sharer@example.com") == 0, "the sharer opening their own link earns nothing"
    friend = app.test_client()
    assert friend.get(path, headers={"User-Agent": BROWSER}).status_code == 200
    assert balance_of(app, "sharer@example.com") == app.config["POINTS_PER_SHARE_VISIT"]
    friend.get(path, headers={"User-Agent": BROWSER})
    assert balance_of(app, "sharer@example.com") == app.config["POINTS_PER_SHARE_VISIT"], "once per visitor a day"
    other_phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    app.test_client().get(path, headers={"User-Agent": other_phone})
    assert balance_of(app, "sharer@example.com") == 2 * app.config["POINTS_PER_SHARE_VISIT"]
    app.test_client().get(path, headers={"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"})
    assert balance_of(app, "sharer@example.com") == 2 * app.config["POINTS_PER_SHARE_VISIT"], "robots earn nothing"


def test_with_redis_share_points_are_booked_by_the_flush_job_without_touching_the_page_cache(
        make_app, redis_url, make_project, make_user):
    Redis.from_url(redis_url).flushdb()
    app = make_app(REDIS_URL=redis_url, PAGE_CACHE_SECONDS=300, VISIT_BATCH_SECONDS=0)
    slug = make_project()
    sharer = make_user(email="sharer@example.com")
    with app.app_context():
        from crowdfund import growth

        code = growth.share_code(db.session.get(User, sharer))
    for agent in (BROWSER, BROWSER, BROWSER + " Edg/120"):
        app.test_client().get(f"/projects/{slug}?ref={code}", headers={"User-Agent": agent})
    assert balance_of(app, "sharer@example.com") == 0, "the page only queued the visits"
    version = Redis.from_url(redis_url).get(pagecache.VERSION_KEY)
    with app.app_context():
        assert flush_visits() == 3
        assert flush_visits() == 0
    assert balance_of(app, "sharer@example.com") == 2 * app.config["POINTS_PER_SHARE_VISIT"]
    assert Redis.from_url(redis_url).get(pagecache.VERSION_KEY) == version, "points are no public page's content"


def test_the_points_page_needs_a_login(client):
    response = client.get("/account/points")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_the_points_page_shows_the_balance_rules_and_history_plain_and_htmx(app, client, make_project, login_as):
    from datetime import datetime, timezone

    slug = make_project(title="台灯 Lamp")
    email = login_as()
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == email))
        from crowdfund.models import Project

        project_id = db.session.scalar(select(Project.id).where(Project.slug == slug))
        at = datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)
        points.book(user_id, 12, "backing", "backing:test", project_id=project_id, now=at)
        points.book(user_id, -12, "reversal", "reversal:test:cancelled", project_id=project_id, now=at)
        points.book(user_id, 2, "share", "share:test", project_id=project_id, now=at)
        db.session.commit()
    page = client.get("/account/points")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and page.headers["Cache-Control"] == "no-store"
    assert re.search(r'class="points-balance"><strong>2\D', html)
    assert "¥10" in html and "20" in html and "200" in html, "the rules, with the configured numbers"
    assert html.count(f'href="/projects/{slug}"') >= 3 and "+12" in html and "-12" in html and "+2" in html
    fragment = client.get("/account/points", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<section id="points_history"')
    assert "+12" in fragment
    profile = client.get("/account/").get_data(as_text=True)
    assert 'href="/account/points"' in profile

