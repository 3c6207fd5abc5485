"""First-party visit tracking of project pages (SPEC 4.2): no third party, and never the raw address.

A full view of a project page (not an htmx fragment swap) is noted after the response is ready,
whether it was rendered or answered from the page cache: the project, the day in Beijing time, a
visitor hash, the referring site's host and the share link's `ref`. Obvious robots, link
prefetches and the creator looking at their own page are left out.

The visitor hash is an HMAC of address and browser keyed by the app secret and the day, so a person
counts once a day, cannot be followed from one day to the next, and the database alone never gives
the address back.

Recording never slows the page: with Redis the visit joins an in-process batch that a background
thread pushes to a Redis list every VISIT_BATCH_SECONDS (one RPUSH for the lot; a round trip per view
cost a fifth of the project page's throughput in bench/http.py), and a periodic job writes the list
to the `visits` table in one insert. A process killed outright loses at most that last second of
visits; a normal shutdown pushes what it holds. Without Redis (the embedded mode) a visit is one
insert on a connection of its own. Either way the write is marked as bookkeeping, so it does not invalidate the
page cache (no public page shows visits).
"""
import hashlib
import hmac
import json
import re
import atexit
import os
import secrets
import threading
from collections import deque
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, request
from flask_login import current_user
from redis.exceptions import ResponseError
from sqlalchemy import insert, select

from crowdfund.extensions import db
from crowdfund.models import Project, Visit
from crowdfund.models.base import utcnow

QUEUE_KEY = "crowdfund:visits"
FLUSHING_KEY = "crowdfund:visits:flushing"
LOCK_KEY = "crowdfund:visits:lock"
SELF = "self"  # the referrer of a visit from another page of this site

ROBOTS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|curl/|wget/|python-requests|python-urllib|httpx|aiohttp|go-http-client|"
    r"java/|libwww|scrapy|okhttp|facebookexternalhit|preview|monitor|pingdom|uptime|lighthouse|phantomjs",
    re.IGNORECASE)
REF = re.compile(r"[A-Za-z0-9_-]{1,32}")


def init_app(app):
    """Note project-page views after each response."""
    app.after_request(_after_request)


def _after_request(response):
    if request.method == "GET" and request.endpoint == "projects.show" and response.status_code == 200:
        from crowdfund.htmx import is_htmx

        if not is_htmx():
            try:
                record = visit_from_request()
                if record is not None:
                    note(record)
            except Exception:  # analytics must never break the page
                current_app.logger.warning("visit not recorded", exc_info=True)
    return response


def local_day(moment=None):
    """The calendar day of a UTC moment in the display time zone (Beijing)."""
    return (moment or utcnow()).astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def is_robot(user_agent):
    """An obvious robot, crawler, link previewer or command-line client (or no browser at all)."""
    return not user_agent or bool(ROBOTS.search(user_agent))


def visitor_hash(address, user_agent, day):
    """The visitor's id for one day: an HMAC of address and browser with a key that changes daily."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), f"visit-salt:{day.isoformat()}".encode(),
                   hashlib.sha256).digest()
    return hmac.new(key, f"{address}\n{user_agent}".encode(), hashlib.sha256).hexdigest()[:32]


def referrer_host(referrer, own_host):
    """The host of the referring page ("self" for this site, "" for none or nonsense)."""
    try:
        host = (urlsplit(referrer or "").hostname or "").lower()
    except ValueError:
        return ""
    if not host:
        return ""
    own = (own_host or "").split(":")[0].lower()
    return SELF if host == own else host[:100]


def visit_from_request(now=None):
    """The visit this request makes, or None when it is not one to count."""
    user_agent = request.headers.get("User-Agent", "")
    purpose = request.headers.get("Sec-Purpose", "") + request.headers.get("Purpose", "")
    if is_robot(user_agent) or "prefetch" in purpose.lower() or request.headers.get("X-Moz") == "prefetch":
        return None
    now = now or utcnow()
    day = local_day(now)
    ref = request.args.get("ref", "")
    return {
        "key": secrets.token_hex(16),
        "slug": request.view_args.get("slug", ""),
        "day": day.isoformat(),
        "visitor": visitor_hash(request.remote_addr or "", user_agent[:300], day),
        "referrer": referrer_host(request.referrer, request.host),
        "ref": ref if REF.fullmatch(ref) else "",
        "viewer": current_user.id if current_user.is_authenticated else None,
        "at": now.isoformat(),
    }


def note(record):
    """Queue a visit for Redis (batched; at once when VISIT_BATCH_SECONDS is 0), or write it now without Redis."""
    from crowdfund.queueing import redis_connection

    app = current_app._get_current_object()
    connection = redis_connection(app)
    if connection is None:
        write([record])
        return
    item = json.dumps(record, separators=(",", ":"))
    every = app.config["VISIT_BATCH_SECONDS"]
    if not every:
        connection.rpush(QUEUE_KEY, item)
        return
    batch = app.extensions.get("crowdfund_visit_batch")
    if batch is None:
        batch = app.extensions.setdefault("crowdfund_visit_batch", Batch(connection, every, app.logger))
    batch.add(item)


class Batch:
    """Visits waiting in this process for the next push to Redis, by a daemon thread of the process's own."""

    LIMIT = 500  # push early when this many are waiting

    def __init__(self, connection, every, logger):
        self.connection, self.every, self.logger = connection, every, logger
        self.items, self.wake, self.lock, self.pid = deque(), threading.Event(), threading.Lock(), None
        atexit.register(self.push)

    def add(self, item):
        self.items.append(item)
        if self.pid != os.getpid():  # first visit in this (possibly forked) process: start its pusher
            with self.lock:
                if self.pid != os.getpid():
                    self.pid = os.getpid()
                    threading.Thread(target=self._run, name="crowdfund-visits", daemon=True).start()
        if len(self.items) >= self.LIMIT:
            self.wake.set()

    def _run(self):
        while True:
            self.wake.wait(self.every)
            self.wake.clear()
            self.push()

    def push(self):
        """Send what is waiting in one RPUSH; on failure keep it for the next try (at most 10 batches' worth)."""
        taken = []
        while self.items:
            taken.append(self.items.popleft())
        if not taken:
            return
        try:
            self.connection.rpush(QUEUE_KEY, *taken)
        except Exception:
            self.logger.warning("visits not pushed to Redis; kept for the next try", exc_info=True)
            self.items.extendleft(reversed(taken[-10 * self.LIMIT:]))


def write(records):
    """Store queued visits (each once, by key); the creator's own views are dropped. Returns how many were stored."""
    if not records:
        return 0
    slugs = {record["slug"] for record in records}
    keys = [record["key"] for record in records]
    # A connection of its own: the request's session and whatever it holds are left alone.
    with db.engine.begin() as connection:
        projects = {row.slug: row for row in connection.execute(
            select(Project.slug, Project.id, Project.creator_id).where(Project.slug.in_(slugs)))}
        known = set()
        for start in range(0, len(keys), 500):
            known.update(connection.scalars(select(Visit.key).where(Visit.key.in_(keys[start:start + 500]))))
        rows, shared = [], []
        for record in records:
            project = projects.get(record["slug"])
            if project is None or record["key"] in known or record.get("viewer") == project.creator_id:
                continue
            known.add(record["key"])
            rows.append({"key": record["key"], "project_id": project.id, "visitor": record["visitor"],
                         "day": datetime.fromisoformat(record["day"]).date(), "referrer": record["referrer"],
                         "ref": record["ref"], "created_at": datetime.fromisoformat(record["at"])})
            if record["ref"]:
                shared.append({**rows[-1], "viewer": record.get("viewer")})
        if rows:
            connection.execute(insert(Visit).execution_options(crowdfund_not_content=True), rows)
    if shared:  # visits brought by share links earn the sharers points (crowdfund/growth.py)
        from crowdfund import growth

        growth.credit_share_visits(shared)
    return len(rows)


def flush():
    """Write the visits queued in Redis to the database (the periodic job); safe to run twice or after a crash.

    The queue is renamed aside before it is read, so visits noted meanwhile wait for the next run;
    a run that died after renaming is finished by the next one, and keys keep its rows from doubling.
    """
    from crowdfund.queueing import redis_connection

    connection = redis_connection()
    if connection is None or not connection.set(LOCK_KEY, "1", nx=True, ex=300):
        return 0
    try:
        if not connection.exists(FLUSHING_KEY):
            try:
                connection.rename(QUEUE_KEY, FLUSHING_KEY)
            except ResponseError:  # nothing queued
                return 0
        records = [json.loads(raw) for raw in connection.lrange(FLUSHING_KEY, 0, -1)]
        written = write(records)
        connection.delete(FLUSHING_KEY)
        return written
    finally:
        connection.delete(LOCK_KEY)
