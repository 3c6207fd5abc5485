"""Exact caching of the public pages anonymous visitors see (issue 11; docs/PERFORMANCE.md).

A GET from a visitor who is not logged in, to one of the public pages below, is answered from Redis
when the same page (path and query, language, full page or htmx fragment) was rendered since the
last write to the database. What makes it exact:

- **Version key.** Every connection that runs an INSERT, UPDATE or DELETE is marked; when it goes
  back to the pool (after its commit or rollback) the site's content version in Redis is bumped.
  Cached pages are stored under the version read *before* rendering, so a page rendered from data
  older than a write is never served after that write: a paid pledge, an edited tier, a new comment,
  a reservation's `taken + 1`, a closing job's status change all count, from the web processes,
  the RQ workers and the CLI alike (they all build the app here).
- **Time.** What a page shows can also change with no write: "3 days left" turns into "2 days
  left", a pending pledge's hold on a slot lapses, a campaign passes its end. The code that
  computes such text calls `valid_until(moment)`, and the page is kept no longer than the earliest
  such moment (and never longer than PAGE_CACHE_SECONDS).
- **Per-visitor parts.** The CSRF token is the only per-visitor text on an anonymous page: it is
  stored as a placeholder and each visitor gets their own token put back. The page is also stored
  gzip-compressed in pieces cut at the placeholders (raw deflate, each piece flushed to a byte
  boundary), so a hit is answered by joining those pieces around the visitor's compressed token and
  adding the gzip header and trailer (CRC-32 of the whole page): a valid gzip stream, with no
  compression work per request. Logged-in users (header,
  "you backed this", their drafts, staff tools) and any page showing a flashed message are rendered
  in full, never cached.

Reservation stays the source of truth for limited tiers: a cached "3 left" is at most as old as
the last write, and pledging re-checks the slot in the database whatever a page said.
"""
import hashlib
import struct
import zlib
from datetime import timedelta

from flask import current_app, g, make_response, request, session
from flask.globals import request_ctx
from flask_login import current_user
from sqlalchemy import event

from crowdfund.models.base import utcnow

VERSION_KEY = "crowdfund:content-version"
PLACEHOLDER = b"__crowdfund_csrf_token__"
WRITES = ("INSERT", "UPDATE", "DELETE", "WITH", "MERGE", "TRUNCATE")
CACHED_ENDPOINTS = {
    "public.index", "public.stats", "projects.show", "projects.category", "projects.search", "projects.funds",
    "projects.backers", "projects.creator", "comments.index", "updates.index",
}


def init_app(app):
    """Hook the cache into the app when Redis is configured (embedded mode renders every page)."""
    from crowdfund.extensions import db
    from crowdfund.queueing import redis_connection

    if not app.config.get("PAGE_CACHE_SECONDS") or redis_connection(app) is None:
        return
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", _note_write)
    event.listen(engine.pool, "checkin", lambda _dbapi, record: _bump_if_written(app, record))
    event.listen(engine.pool, "invalidate", lambda _dbapi, record, _exc: _bump_if_written(app, record))
    # First of the before-request hooks: a page from the cache needs no rate limit (none of these has one).
    app.before_request_funcs.setdefault(None, []).insert(0, _serve)
    # After-request hooks run last-registered first: storing runs before Flask-Compress compresses.
    app.after_request(_store)


def _note_write(conn, _cursor, statement, _parameters, context, _executemany):
    if context is not None and context.execution_options.get("crowdfund_not_content"):
        return  # bookkeeping no page shows (e.g. a login session's last-seen time)
    if statement.lstrip()[:8].upper().startswith(WRITES):
        conn.info["crowdfund_wrote"] = True


def _bump_if_written(app, record):
    if record is not None and record.info.pop("crowdfund_wrote", False):
        from crowdfund.queueing import redis_connection

        try:
            redis_connection(app).incr(VERSION_KEY)
        except Exception:  # unreachable Redis: nothing is served from it either (see _serve)
            app.logger.warning("page cache version not bumped", exc_info=True)


def valid_until(moment):
    """What is being rendered changes by itself at `moment` (a naive UTC datetime): keep it no longer."""
    if moment is None or "page_cache_key" not in g:
        return
    if g.get("page_valid_until") is None or moment < g.page_valid_until:
        g.page_valid_until = moment


def caching():
    """Whether this request's page is being rendered for the cache (so deadlines are worth computing)."""
    return "page_cache_key" in g


def _cacheable():
    from crowdfund.private_pages import is_private

    return (request.method == "GET" and request.endpoint in CACHED_ENDPOINTS and "_flashes" not in session
            and not is_private(request.endpoint) and not current_user.is_authenticated)


# One round trip: the current version, then the page stored under it.
LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
local key = 'crowdfund:page:' .. version .. ':' .. ARGV[1]
return {version, redis.call('GET', key), redis.call('GET', key .. ':gz')}
"""


def _serve():
    """Answer from the cache, or note under which key the page rendered now may be stored."""
    if not _cacheable():
        return None
    from flask_wtf.csrf import generate_csrf

    from crowdfund.htmx import is_htmx
    from crowdfund.i18n import select_locale
    from crowdfund.queueing import redis_connection

    page = f"{select_locale()}:{int(is_htmx())}:{hashlib.sha256(request.full_path.encode()).hexdigest()[:32]}"
    app = current_app._get_current_object()
    try:
        lookup = app.extensions.get("crowdfund_page_lookup")
        if lookup is None:
            lookup = app.extensions["crowdfund_page_lookup"] = redis_connection().register_script(LOOKUP)
        version, cached, pieces = lookup(keys=[VERSION_KEY], args=[page])
    except Exception:  # a cache that is down only costs speed
        app.logger.warning("page cache unavailable", exc_info=True)
        return None
    if cached is None:
        g.page_cache_key = f"crowdfund:page:{version.decode()}:{page}"
        return None
    token = generate_csrf().encode()
    body = cached.replace(PLACEHOLDER, token)
    response = make_response(body)
    if pieces and "gzip" in request.accept_encodings:
        response.set_data(gzipped(body, unpack(pieces), token))
        response.headers["Content-Encoding"] = "gzip"  # Flask-Compress leaves an encoded response alone
    response.vary.update(("HX-Request", "Accept-Encoding"))
    response.headers["X-Page-Cache"] = "hit"
    return response


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, unknown OS


def deflated(data, last=False):
    """Raw deflate of `data` on its own, ending on a byte boundary (a final block if `last`)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def pack(body):
    """The page cut at its placeholders, each piece deflated apart, as length-prefixed bytes."""
    parts = body.split(PLACEHOLDER)
    pieces = [deflated(part, last=i == len(parts) - 1) for i, part in enumerate(parts)]
    return b"".join(struct.pack("<I", len(piece)) + piece for piece in pieces)


def unpack(packed):
    pieces, at = [], 0
    while at < len(packed):
        (size,) = struct.unpack_from("<I", packed, at)
        pieces.append(packed[at + 4:at + 4 + size])
        at += 4 + size
    return pieces


def gzipped(body, pieces, token):
    """A gzip stream of `body` (the page with `token` in place) from its pre-deflated pieces."""
    stream = deflated(token).join(pieces)
    return GZIP_HEADER + stream + struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)


def _store(response):
    key = g.pop("page_cache_key", None)
    if key is None or response.status_code != 200 or response.mimetype != "text/html" \
            or response.direct_passthrough or request_ctx.flashes or "no-store" in response.cache_control:
        return response
    now = utcnow()
    until = min(g.get("page_valid_until") or now + timedelta(days=1),
                now + timedelta(seconds=current_app.config["PAGE_CACHE_SECONDS"]))
    seconds = int((until - now).total_seconds())
    if seconds < 1:
        return response
    body = response.get_data()
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if token:
        body = body.replace(token.encode(), PLACEHOLDER)
    try:
        from crowdfund.queueing import redis_connection

        redis_connection().pipeline().set(key, body, ex=seconds).set(f"{key}:gz", pack(body), ex=seconds).execute()
    except Exception:
        current_app.logger.warning("page cache unavailable", exc_info=True)
    response.headers["X-Page-Cache"] = "miss"
    return response
