"""Finding projects: home sections, category pages, search, sorting, progress figures."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, case, func, null, or_, select
from sqlalchemy.orm import joinedload, lazyload, selectinload

from crowdfund import pagecache
from crowdfund.extensions import db
from crowdfund.models import Category, Pledge, PledgeStatus, Project, ProjectStatus, RewardTier, User
from crowdfund.models.base import utcnow

S = ProjectStatus
LISTED = (S.LIVE, S.SUCCESSFUL, S.DELIVERING, S.COMPLETED, S.FAILED)
SORTS = ("newest", "ending", "most_funded", "most_backed")
PER_PAGE = 12


@dataclass(frozen=True)
class Progress:
    """What a project has raised: only paid pledges count."""

    raised_fen: int = 0
    backers: int = 0
    goal_fen: int = 0

    @property
    def percent(self):
        return int(self.raised_fen * 100 // self.goal_fen) if self.goal_fen else 0


def progress_for(projects):
    """Progress of many projects in one query."""
    ids = [p.id for p in projects]
    if not ids:
        return {}
    rows = db.session.execute(
        select(Pledge.project_id, func.coalesce(func.sum(Pledge.amount_fen), 0), func.count(func.distinct(Pledge.backer_id)))
        .where(Pledge.project_id.in_(ids), Pledge.status == PledgeStatus.PAID).group_by(Pledge.project_id)).all()
    found = {project_id: (raised, backers) for project_id, raised, backers in rows}
    return {p.id: Progress(*found.get(p.id, (0, 0)), goal_fen=p.goal_fen or 0) for p in projects}


@dataclass(frozen=True)
class TierCounts:
    """Held (pending, unexpired), paid and remaining slots of one tier."""

    held: int = 0
    paid: int = 0
    limit: int | None = None

    @property
    def remaining(self):
        return None if self.limit is None else max(self.limit - self.held - self.paid, 0)

    @property
    def sold_out(self):
        return self.remaining == 0


def tier_counts(tiers, now=None):
    """Held/paid/remaining for many tiers in one query."""
    now = now or utcnow()
    ids = [t.id for t in tiers]
    if not ids:
        return {}
    holding = and_(Pledge.status == PledgeStatus.PENDING, Pledge.expires_at > now)
    held = func.sum(case((holding, 1), else_=0))
    paid = func.sum(case((Pledge.status == PledgeStatus.PAID, 1), else_=0))
    lapses = func.min(case((holding, Pledge.expires_at), else_=None))  # the first hold to lapse frees a slot
    rows = db.session.execute(select(Pledge.tier_id, held, paid, lapses).where(Pledge.tier_id.in_(ids))
                              .group_by(Pledge.tier_id)).all()
    found = {tier_id: (int(h or 0), int(p or 0)) for tier_id, h, p, _ in rows}
    for *_, lapse in rows:
        pagecache.valid_until(lapse)
    return {t.id: TierCounts(*found.get(t.id, (0, 0)), limit=t.quantity_limit) for t in tiers}


def _cards():
    """Projects with what a card shows (category, cover) loaded in the same query; a card names no creator."""
    return select(Project).options(lazyload(Project.creator), joinedload(Project.category),
                                   joinedload(Project.cover))


def _live(now):
    return and_(Project.status == S.LIVE, Project.end_at > now)


def _first(boost):
    return [boost] if boost is not None else []


def home_sections(now=None, size=4):
    """Featured, trending (most paid in the last 7 days), ending soon and newly launched live projects.

    A project appears in the first section it qualifies for only, so one screen never repeats a card.
    Projects of on-time creators (delivery.on_time_creators, one query for every card) rank first in
    the trending and newly launched sections; featured stays the moderators' choice. Returns
    (sections, progress, on-time creator ids).
    """
    from crowdfund import delivery

    now = now or utcnow()
    on_time = delivery.on_time_creators(select(Project.creator_id).where(_live(now)).distinct(), now.date())
    boost = case((Project.creator_id.in_(on_time), 0), else_=1) if on_time else None
    recent = (select(Pledge.project_id, func.sum(Pledge.amount_fen).label("recent"))
              .where(Pledge.status == PledgeStatus.PAID, Pledge.paid_at >= now - timedelta(days=7))
              .group_by(Pledge.project_id).subquery())
    queries = {
        "featured": _cards().where(Project.featured).order_by(Project.launch_at.desc(), Project.id.desc()),
        "trending": _cards().join(recent, recent.c.project_id == Project.id)
                            .order_by(*_first(boost), recent.c.recent.desc(), Project.id),
        "ending": _cards().order_by(Project.end_at, Project.id),
        "new": _cards().order_by(*_first(boost), Project.launch_at.desc(), Project.id.desc()),
    }
    sections, shown = {}, []
    for key, query in queries.items():
        query = query.where(_live(now))
        if shown:
            query = query.where(Project.id.not_in(shown))
        sections[key] = db.session.scalars(query.limit(size)).all()
        shown += [p.id for p in sections[key]]
    everyone = {p.id: p for section in sections.values() for p in section}
    if pagecache.caching():  # the sections change by themselves when a campaign ends or a pledge turns 8 days old
        for project in everyone.values():
            pagecache.valid_until(project.end_at)
        oldest = db.session.scalar(select(func.min(Pledge.paid_at)).where(
            Pledge.status == PledgeStatus.PAID, Pledge.paid_at >= now - timedelta(days=7)))
        pagecache.valid_until(oldest and oldest + timedelta(days=7))
    return sections, progress_for(list(everyone.values())), on_time


def _escape_like(term):
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_condition(q):
    """Title, summary or creator name contain the text (works for Chinese: substring, not words).

    On PostgreSQL the ILIKE is served by pg_trgm indexes; on SQLite it is a plain LIKE. On MySQL/MariaDB the
    columns compare exactly (binary collation, crowdfund.databases), so both sides are lowered; no index serves a
    substring there (MariaDB has no n-gram full-text parser), a scan of the listed projects, as on SQLite. A search
    engine can replace this one function later.
    """
    pattern = f"%{_escape_like(q.strip())}%"
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return or_(Project.title.ilike(pattern, escape="\\"), Project.summary.ilike(pattern, escape="\\"),
                   User.display_name.ilike(pattern, escape="\\"))
    if dialect == "mysql":
        lowered = func.lower(pattern)
        return or_(*(func.lower(column).like(lowered, escape="\\")
                     for column in (Project.title, Project.summary, User.display_name)))
    return or_(Project.title.like(pattern, escape="\\"), Project.summary.like(pattern, escape="\\"),
               User.display_name.like(pattern, escape="\\"))


def browse(category=None, subcategory=None, q=None, sort="newest", page=1, per_page=PER_PAGE, now=None):
    """Listed projects filtered by category/subcategory/text, sorted, one page; returns (items, has_more)."""
    now = now or utcnow()
    query = _cards().join(User, User.id == Project.creator_id).where(Project.status.in_(LISTED))
    if subcategory is not None:
        query = query.where(Project.category_id == subcategory.id)
    elif category is not None:
        query = query.join(Category, Category.id == Project.category_id).where(
            or_(Category.id == category.id, Category.parent_id == category.id))
    if q and q.strip():
        query = query.where(search_condition(q))
    if sort in ("most_funded", "most_backed"):
        totals = (select(Pledge.project_id, func.sum(Pledge.amount_fen).label("raised"),
                         func.count(func.distinct(Pledge.backer_id)).label("backers"))
                  .where(Pledge.status == PledgeStatus.PAID).group_by(Pledge.project_id).subquery())
        column = totals.c.raised if sort == "most_funded" else totals.c.backers
        query = query.outerjoin(totals, totals.c.project_id == Project.id).order_by(
            func.coalesce(column, 0).desc(), Project.id.desc())
    elif sort == "ending":
        query = query.order_by((Project.status != S.LIVE), Project.end_at, Project.id)
    else:
        query = query.order_by(Project.launch_at.desc(), Project.id.desc())
    rows = db.session.scalars(query.limit(per_page + 1).offset((page - 1) * per_page)).unique().all()
    items = rows[:per_page]
    return items, len(rows) > per_page, progress_for(items)


def project_page(slug):
    """A project with everything its page shows, in a fixed number of queries."""
    project = db.session.scalar(
        select(Project).where(Project.slug == slug)
        .options(joinedload(Project.creator), joinedload(Project.category).joinedload(Category.parent),
                 joinedload(Project.cover), joinedload(Project.video),
                 selectinload(Project.tiers).selectinload(RewardTier.shipping_rates),
                 selectinload(Project.documents)))
    if project is None:
        return None, None, None
    return project, progress_for([project])[project.id], tier_counts(project.tiers)


def by_creator(creator_id):
    """A creator's public projects for their profile, newest first, with their progress."""
    items = db.session.scalars(_cards().where(Project.creator_id == creator_id, Project.status.in_(LISTED))
                               .order_by(Project.created_at.desc())).unique().all()
    return items, progress_for(items)


def categories_by_slug(slug):
    """A category (top-level or sub) by slug."""
    return db.session.scalar(select(Category).where(Category.slug == slug)
                             .options(selectinload(Category.children), joinedload(Category.parent)))


BACKERS_PER_PAGE = 50


def backer_list(project_id, page=1):
    """The public backer list: one row per paid backer, earliest first; a backer who asked to be hidden on any
    pledge shows as anonymous. Returns (rows of (name or None, first paid at, deleted at), has_more)."""
    hidden = func.max(case((Pledge.anonymous.is_(True), 1), else_=0))
    rows = db.session.execute(
        select(case((hidden == 1, null()), else_=func.min(User.display_name)).label("name"),
               func.min(Pledge.paid_at).label("since"), func.max(User.deleted_at).label("deleted_at"))
        .join(User, User.id == Pledge.backer_id)
        .where(Pledge.project_id == project_id, Pledge.status == PledgeStatus.PAID)
        .group_by(Pledge.backer_id).order_by(func.min(Pledge.paid_at), Pledge.backer_id)
        .offset((page - 1) * BACKERS_PER_PAGE).limit(BACKERS_PER_PAGE + 1)).all()
    return rows[:BACKERS_PER_PAGE], len(rows) > BACKERS_PER_PAGE
