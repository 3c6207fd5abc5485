"""First-party visit tracking of project pages (issue 13 point 1; crowdfund/visits.py)."""
import json
from datetime import date, datetime, timezone

import pytest
from redis import Redis
from sqlalchemy import select

from crowdfund import pagecache, visits
from crowdfund.extensions import db
from crowdfund.jobs import flush_visits
from crowdfund.models import Project, Visit
from tests.conftest import wait_for

BROWSER = "Mozilla/5.0 (Linux; Android 13; M2012K11AC) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile"


def recorded(app):
    with app.app_context():
        rows = db.session.scalars(select(Visit).order_by(Visit.id)).all()
        db.session.expunge_all()
        return rows


def view(client, url, ua=BROWSER, **headers):
    response = client.get(url, headers={"User-Agent": ua, **headers})
    assert response.status_code == 200
    return response


def test_a_page_view_records_project_day_visitor_hash_referrer_and_ref_never_the_address(app, make_project):
    slug = make_project()
    client = app.test_client()
    view(client, f"/projects/{slug}?ref=Ab3_x-9", Referer="https://weibo.com/u/123?from=feed",
         **{"X-Forwarded-For": "203.0.113.9"})
    view(client, f"/projects/{slug}", Referer=f"http://localhost/search?q=x")
    first, second = recorded(app)
    with app.app_context():
        project_id = db.session.scalar(select(Project.id).filter_by(slug=slug))
        today = visits.local_day()
    assert (first.project_id, first.day, first.referrer, first.ref) == (project_id, today, "weibo.com", "Ab3_x-9")
    assert (second.referrer, second.ref) == (visits.SELF, "")
    assert first.visitor == second.visitor and len(first.visitor) == 32, "one visitor, counted once a day"
    stored = json.dumps([[getattr(v, c.name) for c in Visit.__table__.columns] for v in (first, second)], default=str)
    assert "127.0.0.1" not in stored and "203.0.113.9" not in stored


def test_robots_prefetches_fragments_errors_and_the_creators_own_views_are_not_counted(app, client, make_project,
                                                                                       make_user, forms):
    slug = make_project(creator=make_user(email="maker@example.com", roles=["creator"]))
    for robot in ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                  "Mozilla/5.0 (compatible; Baiduspider/2.0)", "Sogou web spider/4.0", "curl/8.5.0",
                  "python-requests/2.32", ""):
        view(client, f"/projects/{slug}", ua=robot)
    view(client, f"/projects/{slug}", **{"Sec-Purpose": "prefetch"})
    view(client, f"/projects/{slug}", **{"HX-Request": "true", "HX-Target": "comments"})
    assert client.get("/projects/no-such-project", headers={"User-Agent": BROWSER}).status_code == 404
    view(client, f"/projects/{slug}?ref=<script>")  # a ref that is not a share code is dropped, the visit kept
    assert [v.ref for v in recorded(app)] == [""]
    assert forms.login(email="maker@example.com").status_code == 303
    view(client, f"/projects/{slug}")
    assert len(recorded(app)) == 1, "the creator looking at their own page is not a visit"


def test_a_boosted_navigation_counts_as_a_visit(app, make_project):
    slug = make_project()
    view(app.test_client(), f"/projects/{slug}", **{"HX-Request": "true", "HX-Boosted": "true"})
    assert len(recorded(app)) == 1


def test_the_visitor_hash_changes_every_day_and_with_the_browser(app):
    with app.test_request_context():
        monday, tuesday = date(2026, 3, 2), date(2026, 3, 3)
        assert visits.visitor_hash("198.51.100.7", BROWSER, monday) == visits.visitor_hash("198.51.100.7", BROWSER, monday)
        assert visits.visitor_hash("198.51.100.7", BROWSER, monday) != visits.visitor_hash("198.51.100.7", BROWSER, tuesday)
        assert visits.visitor_hash("198.51.100.7", BROWSER, monday) != visits.visitor_hash("198.51.100.8", BROWSER, monday)
        # The Beijing day: 16:30 UTC is already the next morning there.
        assert visits.local_day(datetime(2026, 3, 2, 16, 30, tzinfo=timezone.utc)) == tuesday


@pytest.fixture
def cached_app(make_app, redis_url):
    Redis.from_url(redis_url).flushdb()
    return make_app(REDIS_URL=redis_url, PAGE_CACHE_SECONDS=300, VISIT_BATCH_SECONDS=0)


def test_with_redis_a_view_is_queued_and_the_job_writes_it_once_even_from_the_page_cache(cached_app, make_project,
                                                                                           redis_url):
    slug = make_project()
    redis = Redis.from_url(redis_url)
    client = cached_app.test_client()
    miss = view(client, f"/projects/{slug}?ref=abc")
    hit = view(cached_app.test_client(), f"/projects/{slug}?ref=abc")
    assert (miss.headers["X-Page-Cache"], hit.headers["X-Page-Cache"]) == ("miss", "hit")
    assert redis.llen(visits.QUEUE_KEY) == 2 and recorded(cached_app) == [], "the page only pushed to Redis"
    version = redis.get(pagecache.VERSION_KEY)
    with cached_app.app_context():
        assert flush_visits() == 2
        assert flush_visits() == 0, "a second run finds nothing left"
    assert [v.ref for v in recorded(cached_app)] == ["abc", "abc"]
    assert redis.get(pagecache.VERSION_KEY) == version, "writing visits leaves the cached pages valid"
    assert view(cached_app.test_client(), f"/projects/{slug}").headers["X-Page-Cache"] == "miss"  # other query
    assert view(cached_app.test_client(), f"/projects/{slug}?ref=abc").headers["X-Page-Cache"] == "hit"


def test_a_flush_that_died_after_taking_the_queue_is_finished_by_the_next_run_without_doubling(cached_app, make_project,
                                                                                                 redis_url):
    slug = make_project()
    redis = Redis.from_url(redis_url)
    view(cached_app.test_client(), f"/projects/{slug}")
    view(cached_app.test_client(), f"/projects/{slug}")
    redis.rename(visits.QUEUE_KEY, visits.FLUSHING_KEY)  # taken aside ...
    with cached_app.app_context():
        records = [json.loads(raw) for raw in redis.lrange(visits.FLUSHING_KEY, 0, -1)]
        assert visits.write(records[:1]) == 1  # ... one row written, then the process died
        view(cached_app.test_client(), f"/projects/{slug}")  # meanwhile a new visit is queued
        assert flush_visits() == 1, "the interrupted batch is finished, its written row not doubled"
        assert flush_visits() == 1, "then the visit queued meanwhile"
    assert len(recorded(cached_app)) == 3


def test_views_are_pushed_to_redis_in_batches_by_a_thread_of_the_web_process(make_app, redis_url, make_project):
    Redis.from_url(redis_url).flushdb()
    app = make_app(REDIS_URL=redis_url, VISIT_BATCH_SECONDS=0.2)
    slug = make_project()
    redis = Redis.from_url(redis_url)
    for _ in range(3):
        view(app.test_client(), f"/projects/{slug}")
    assert wait_for(lambda: redis.llen(visits.QUEUE_KEY) == 3, timeout=5), "pushed within the batch interval"
    with app.app_context():
        assert flush_visits() == 3
