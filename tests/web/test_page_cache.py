"""Exact caching of anonymous visitors' public pages in Redis (issue 11 point 3; crowdfund/pagecache.py)."""
import re
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import text

from crowdfund import comments, pagecache, pledging
from crowdfund.extensions import db
from crowdfund.models import Project, User
from crowdfund.models.base import utcnow
from tests.conftest import csrf_from


@pytest.fixture
def cached_app(make_app, redis_url):
    Redis.from_url(redis_url).flushdb()
    return make_app(REDIS_URL=redis_url, PAGE_CACHE_SECONDS=300)


def page(client, url, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    return response, response.get_data(as_text=True)


def without_token(body):
    return re.sub(r'csrf_token[^>]*?value="[^"]+"|"X-CSRFToken": ?"[^"]+"', "", body)


def test_a_second_visit_comes_from_the_cache_with_the_visitors_own_token(cached_app, make_project):
    slug = make_project(tiers=[dict(title="限量款", price_fen=99_00, quantity_limit=5)])
    first, second = cached_app.test_client(), cached_app.test_client()
    miss, miss_body = page(first, f"/projects/{slug}")
    hit, hit_body = page(second, f"/projects/{slug}")
    assert (miss.headers["X-Page-Cache"], hit.headers["X-Page-Cache"]) == ("miss", "hit")
    assert without_token(hit_body) == without_token(miss_body)
    assert csrf_from(hit) != csrf_from(miss), "each visitor gets a token of their own session"
    assert pagecache.PLACEHOLDER.decode() not in hit_body
    switched = second.post("/locale", data={"csrf_token": csrf_from(hit), "locale": "en", "next": "/"})
    assert switched.status_code in (302, 303), "the token put into the cached page is valid for its visitor"
    english = second.get(f"/projects/{slug}")
    assert english.headers["X-Page-Cache"] == "miss" and 'lang="en"' in english.get_data(as_text=True)
    fragment = second.get(f"/projects/{slug}/comments", headers={"HX-Request": "true"})
    assert fragment.headers["X-Page-Cache"] == "miss", "a fragment is cached apart from the full page"


def test_every_write_is_seen_at_once_comment_reservation_and_raw_sql(cached_app, make_project, make_user):
    slug = make_project(tiers=[dict(title="限量款", price_fen=99_00, quantity_limit=5, physical=False, shipping={})])
    backer = make_user(email="reader@example.com", display_name="读者")
    client = cached_app.test_client()
    page(client, f"/projects/{slug}")
    assert page(client, f"/projects/{slug}")[0].headers["X-Page-Cache"] == "hit"
    with cached_app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        comments.add_comment(project, db.session.get(User, backer), "灯光能调色温吗？")
    response, body = page(client, f"/projects/{slug}")
    assert response.headers["X-Page-Cache"] == "miss" and "灯光能调色温吗？" in body
    assert "剩余 5" in body
    with cached_app.app_context():  # a backer's pending pledge holds a slot
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        pledging.start(db.session.get(User, backer), project, project.tiers[0], 99_00, idempotency_key="k1",
                       risk_accepted=True)
    response, body = page(client, f"/projects/{slug}")
    assert response.headers["X-Page-Cache"] == "miss" and "剩余 4" in body, \
        "a backer never sees a remaining count older than the last reservation"
    page(client, f"/projects/{slug}")
    with cached_app.app_context():  # a bare UPDATE, no ORM object involved, counts as a write too
        db.session.execute(text("UPDATE reward_tiers SET title = '改过的回报'"))
        db.session.commit()
    assert "改过的回报" in page(client, f"/projects/{slug}")[1]


def test_logged_in_users_and_flashed_messages_are_never_served_from_the_cache(cached_app, make_project, make_user):
    slug = make_project()
    make_user(email="fan@example.com", display_name="老粉丝")
    anonymous = cached_app.test_client()
    page(anonymous, f"/projects/{slug}")
    member = cached_app.test_client()
    login = member.get("/login")
    member.post("/login", data={"csrf_token": csrf_from(login), "email": "fan@example.com",
                                "password": "correct horse 1"})
    response, body = page(member, f"/projects/{slug}")
    assert "X-Page-Cache" not in response.headers and "老粉丝" in body
    assert page(anonymous, f"/projects/{slug}")[0].headers["X-Page-Cache"] == "miss", \
        "the member's page was not stored for others (logging in wrote, so the version moved on)"
    with member.session_transaction() as session:
        session.clear()
        session["_flashes"] = [("success", "已保存")]
    response, body = page(member, f"/projects/{slug}")
    assert "X-Page-Cache" not in response.headers and "已保存" in body
    assert page(anonymous, f"/projects/{slug}")[0].headers["X-Page-Cache"] == "hit"


def test_a_page_is_kept_no_longer_than_its_time_dependent_text_holds(make_app, make_project, redis_url):
    Redis.from_url(redis_url).flushdb()
    cached_app = make_app(REDIS_URL=redis_url, PAGE_CACHE_SECONDS=30 * 86400)  # the cap must not be what limits it
    slug = make_project(duration_days=3)
    client = cached_app.test_client()
    page(client, f"/projects/{slug}")
    with cached_app.app_context():
        end_at = db.session.scalar(db.select(Project.end_at).filter_by(slug=slug))
    redis = Redis.from_url(redis_url)
    keys = [key for key in redis.keys("crowdfund:page:*") if not key.endswith(b":gz")]
    assert len(keys) == 1
    days = int((end_at - utcnow()).total_seconds() // 86400)
    until_next_day = (end_at - timedelta(days=days) - utcnow()).total_seconds()
    assert 0 < redis.ttl(keys[0]) <= until_next_day + 1, "“N days left” must not outlive its day"


def test_valid_until_only_counts_while_a_page_is_rendered_for_the_cache(cached_app):
    with cached_app.test_request_context("/"):
        pagecache.valid_until(utcnow())
        assert not pagecache.caching()
        from flask import g

        assert "page_valid_until" not in g


def test_a_hit_is_a_valid_gzip_stream_of_the_page_with_the_visitors_token(cached_app, make_project):
    import gzip
    import zlib

    slug = make_project()
    page(cached_app.test_client(), f"/projects/{slug}")
    visitor = cached_app.test_client()
    zipped = visitor.get(f"/projects/{slug}", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["X-Page-Cache"] == "hit" and zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    body = gzip.decompress(zipped.data)  # checks the CRC-32 and length in the trailer too
    stream = zlib.decompressobj(31)
    assert stream.decompress(zipped.data) == body and stream.eof and not stream.unused_data
    plain = visitor.get(f"/projects/{slug}")
    assert plain.headers["X-Page-Cache"] == "hit" and "Content-Encoding" not in plain.headers
    assert without_token(body.decode()) == without_token(plain.get_data(as_text=True))
    assert pagecache.PLACEHOLDER not in body and b"</html>" in body
