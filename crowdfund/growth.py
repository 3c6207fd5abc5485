"""Sharing and points earning (SPEC 3.4, 6.2): share links with a `ref`, their QR code, and the earning rules.

Each person's share links carry their share code (`?ref=`, random and unguessable, made on first use).
A visit brought by such a link earns the sharer points once per visitor, project and day; a paid
pledge earns its backer points by the amount supported. Both are capped per (Beijing) day, with the
numbers in the configuration (POINTS_*). Taking a pledge back (the backer cancels it, or moves to a
cheaper reward) takes back what it earned; a project that fails or is cancelled leaves them.
"""
import io
import secrets
from urllib.parse import urlencode

import segno
from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from crowdfund import points
from crowdfund.extensions import db
from crowdfund.models import PointsEntry, User
from crowdfund.models.base import utcnow

WEIBO_SHARE = "https://service.weibo.com/share/share.php"
BACKING, SHARE, REVERSAL = "backing", "share", "reversal"
NOT_CONTENT = {"crowdfund_not_content": True}  # no public page shows share codes or points (crowdfund/pagecache.py)


def share_code(user):
    """The person's share code, made (once, even under races) the first time it is needed."""
    if user.share_code:
        return user.share_code
    for _attempt in range(5):
        code = secrets.token_urlsafe(6)  # 8 characters, 48 random bits
        try:
            # A short transaction of its own: a page view showing the link needs no commit of the request's session.
            with db.engine.begin() as connection:
                connection.execute(update(User).where(User.id == user.id, User.share_code.is_(None))
                                   .values(share_code=code).execution_options(**NOT_CONTENT))
                stored = connection.scalar(select(User.share_code).where(User.id == user.id))
        except IntegrityError:  # somebody else's code already: draw again
            continue
        if stored:
            set_committed_value(user, "share_code", stored)
            return stored
        break  # the account is not committed yet: set it in the caller's transaction
    user.share_code = secrets.token_urlsafe(6)
    db.session.flush()
    return user.share_code


def share_url(project, user=None):
    """The absolute link to the project page; a signed-in person's carries their share code."""
    url = current_app.config["SITE_URL"] + url_for("projects.show", slug=project.slug)
    if user is not None and getattr(user, "is_authenticated", False):
        url += "?" + urlencode({"ref": share_code(user)})
    return url


def weibo_url(link, title):
    """Weibo's share page for a link."""
    return WEIBO_SHARE + "?" + urlencode({"url": link, "title": title})


def qr_svg(link, title):
    """The link as a QR code, an SVG to put inline or serve: no XML declaration, no style, no script, a <title>."""
    buffer = io.BytesIO()
    # With its namespace, so the same text is a valid image/svg+xml document and valid inline in HTML.
    segno.make(link, error="m").save(buffer, kind="svg", xmldecl=False, svgns=True, nl=False, scale=4, border=4,
                                     title=title, svgclass="qr", lineclass=None, omitsize=True)
    return buffer.getvalue().decode()


def share_context(project, user):
    """What the share panel and page show: the link to copy, Weibo's link, where the QR image is."""
    link = share_url(project, user)
    ref = user.share_code if getattr(user, "is_authenticated", False) else None
    return {"link": link, "weibo": weibo_url(link, project.title),
            "qr_src": url_for("sharing.qr", slug=project.slug, ref=ref), "ref": ref}


def _room(user_id, reason, day, cap):
    """Points of `reason` the person may still earn on `day` (the account row locked, so two bookings queue)."""
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    return max(cap - points.earned_on(user_id, reason, day), 0)


def backing_points(pledge):
    """What a paid pledge earns before the daily cap: a point per whole POINTS_BACKING_YUAN supported, at least one."""
    support = pledge.amount_fen - (pledge.shipping_fen or 0)
    return max(support // (current_app.config["POINTS_BACKING_YUAN"] * 100), 1)


def credit_backing(pledge, now=None):
    """A pledge has just been paid: book its backer's points in the caller's transaction (once, within the cap)."""
    from crowdfund.visits import local_day

    now = now or utcnow()
    delta = min(backing_points(pledge), _room(pledge.backer_id, BACKING, local_day(now),
                                              current_app.config["POINTS_BACKING_DAILY_CAP"]))
    if delta <= 0:
        return None
    return points.book(pledge.backer_id, delta, BACKING, f"backing:{pledge.id}", project_id=pledge.project_id,
                       memo=pledge.project.title or "", now=now)


def backing_balance(pledge):
    """What the pledge's points come to now: its booking less what was already taken back."""
    return db.session.scalar(select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
        PointsEntry.user_id == pledge.backer_id,
        or_(PointsEntry.key == f"backing:{pledge.id}", PointsEntry.key.like(f"reversal:{pledge.id}:%"))))


def take_back_backing(pledge, why, now=None):
    """The pledge was cancelled (everything goes back) or lowered (the excess does), in the caller's transaction.

    `why` names the change, so each change takes back once: "cancelled", or the refund number of a downgrade.
    """
    held = backing_balance(pledge)
    withdrawn = pledge.status.value in ("cancelled", "refunded")
    keep = 0 if withdrawn else min(held, backing_points(pledge))
    if held - keep <= 0:
        return None
    return points.book(pledge.backer_id, keep - held, REVERSAL, f"reversal:{pledge.id}:{why}",
                       project_id=pledge.project_id, memo=pledge.project.title or "", now=now)


def credit_share_visits(visits):
    """Visits just stored: each one brought by someone's share link earns that person points.

    Once per visitor, project and day (whoever's link came first), never for the sharer's own visits,
    within POINTS_SHARE_DAILY_CAP. Commits; returns how many visits earned points.
    """
    codes = {visit["ref"] for visit in visits if visit.get("ref")}
    if not codes:
        return 0
    if not db.session().in_transaction():
        db.session.connection(execution_options=NOT_CONTENT)
    sharers = dict(db.session.execute(select(User.share_code, User.id).where(
        User.share_code.in_(codes), User.deleted_at.is_(None))).all())
    per_visit, cap = current_app.config["POINTS_PER_SHARE_VISIT"], current_app.config["POINTS_SHARE_DAILY_CAP"]
    earned = 0
    for visit in visits:
        sharer = sharers.get(visit.get("ref"))
        if sharer is None or visit.get("viewer") == sharer:
            continue
        delta = min(per_visit, _room(sharer, SHARE, visit["day"], cap))
        key = f"share:{visit['project_id']}:{visit['visitor']}:{visit['day'].isoformat()}"
        if delta > 0 and points.book(sharer, delta, SHARE, key, project_id=visit["project_id"],
                                     now=visit["created_at"]) is not None:
            earned += 1
    db.session.commit()
    return earned


def rules():
    """The earning rules in plain words, from the configuration."""
    config = current_app.config
    return [
        _("Backing: %(points)d point for every ¥%(yuan)d of a paid pledge (shipping not counted), at least 1 point "
          "per pledge; at most %(cap)d points a day.", points=1, yuan=config["POINTS_BACKING_YUAN"],
          cap=config["POINTS_BACKING_DAILY_CAP"]),
        _("Sharing: %(points)d points for every person who opens a project through your share link (once per "
          "person, project and day; your own visits do not count); at most %(cap)d points a day.",
          points=config["POINTS_PER_SHARE_VISIT"], cap=config["POINTS_SHARE_DAILY_CAP"]),
        _("If you cancel a pledge, the points it earned are taken back; moving it to a cheaper reward takes back "
          "the difference. If a project fails or is cancelled, you keep them."),
        _("Days are counted in Beijing time."),
    ]


def reason_names():
    """Each reason of the points book in words."""
    return {BACKING: _("Backed a project"), SHARE: _("A visit through your share link"),
            REVERSAL: _("Pledge cancelled or lowered"), "redeem": _("Redeemed for a coupon"),
            "demo": _("Points given with the demo data")}


def points_history(user, limit=100):
    """The person's latest points entries with their projects, newest first."""
    from crowdfund.models import Project

    entries = points.history(user.id, limit)
    ids = {entry.project_id for entry in entries if entry.project_id}
    projects = {p.id: p for p in db.session.scalars(select(Project).where(Project.id.in_(ids)))} if ids else {}
    return [(entry, projects.get(entry.project_id)) for entry in entries]
