"""Platform figures (SPEC 4.1): the staff dashboard and the public statistics page.

Every figure is an aggregate computed in the database by a fixed, small number of queries, however
many projects, pledges or users there are. Money counts paid pledges that were not refunded — the
same rule as the project pages' "raised" (crowdfund/discovery.py::progress_for) — dated by the day
the payment arrived, in the display time zone (Beijing time).

The success rate is taken over campaigns that reached their deadline and were decided: successful
(and those now delivering or completed) against failed. Cancelled campaigns are left out: they were
stopped before their deadline, so they neither reached nor missed their goal.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, select, text, true

from crowdfund.audit import day_bounds
from crowdfund.extensions import db
from crowdfund.models import Category, LoginSession, Pledge, PledgeStatus, Project, ProjectStatus, User
from crowdfund.models.base import utcnow
from crowdfund.visits import local_day

S = ProjectStatus
SUCCEEDED = (S.SUCCESSFUL, S.DELIVERING, S.COMPLETED)
LAUNCHED = (S.LIVE, S.SUCCESSFUL, S.FAILED, S.CANCELLED, S.SUSPENDED, S.DELIVERING, S.COMPLETED)
PUBLIC_STATES = (S.LIVE, S.SUCCESSFUL, S.DELIVERING, S.COMPLETED, S.FAILED)  # what anyone can browse
PUBLIC_MONTHS = 12


@dataclass(frozen=True)
class Period:
    """The dashboard's window: the last `days` days including today (Beijing time), or all time."""

    key: str
    days: int | None

    @property
    def monthly(self):
        """Long windows are charted by month: a year of daily points is a table nobody reads."""
        return self.days is None or self.days > 90


PERIODS = {key: Period(key, days) for key, days in (("7d", 7), ("30d", 30), ("90d", 90), ("365d", 365),
                                                    ("all", None))}
DEFAULT_PERIOD = PERIODS["30d"]


def period_of(key):
    """The period a GET parameter names; anything else is the default (last 30 days)."""
    return PERIODS.get(key or "", DEFAULT_PERIOD)


def zone():
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _local_text(column, pattern):
    """The column's day ("YYYY-MM-DD") or month ("YYYY-MM") in the display zone, computed by the database."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone(current_app.config["BABEL_DEFAULT_TIMEZONE"], column),
                            {"%Y-%m-%d": "YYYY-MM-DD", "%Y-%m": "YYYY-MM"}[pattern])
    # SQLite (development) has no time zones, and MySQL/MariaDB know zone names only where their time-zone tables
    # were loaded: the zone's present offset (Beijing keeps no daylight saving time).
    offset = int(datetime.now(zone()).utcoffset().total_seconds())
    if db.engine.dialect.name == "mysql":
        return func.date_format(func.date_add(column, text(f"INTERVAL {offset:d} SECOND")), pattern)
    return func.strftime(pattern, column, f"{offset:+d} seconds")


def _month_start(day):
    return day.replace(day=1)


def _next_month(day):
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Bucket:
    """Paid pledges of one day (or month): how many, and how much."""

    start: date
    pledges: int = 0
    amount_fen: int = 0


@dataclass(frozen=True)
class CategoryFigures:
    """One first-level category (None: projects without one)."""

    category: Category | None
    projects: int = 0
    raised_fen: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def success_percent(self):
        return percent(self.succeeded, self.succeeded + self.failed)


def percent(part, whole):
    return 100 * part // whole if whole else None


def _status_counts():
    rows = db.session.execute(select(Project.status, func.count(Project.id)).group_by(Project.status)).all()
    found = dict(rows)
    return {status: found.get(status, 0) for status in ProjectStatus}


def _paid_totals(since, until):
    """(raised, backers) all time, and (raised, pledges) from `since` (None: the start) to `until`, in one query."""
    recent = and_(Pledge.paid_at >= since if since is not None else true(), Pledge.paid_at < until)
    row = db.session.execute(
        select(func.coalesce(func.sum(Pledge.amount_fen), 0), func.count(func.distinct(Pledge.backer_id)),
               func.coalesce(func.sum(case((recent, Pledge.amount_fen), else_=0)), 0),
               func.coalesce(func.sum(case((recent, 1), else_=0)), 0))
        .where(Pledge.status == PledgeStatus.PAID)).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _buckets(first_day, last_day, monthly):
    """Paid pledges per day (or month) from `first_day` to `last_day`, every day present (zero if none)."""
    since, until = day_bounds(first_day, last_day, zone())
    pattern = "%Y-%m" if monthly else "%Y-%m-%d"
    key = _local_text(Pledge.paid_at, pattern)
    rows = db.session.execute(
        select(key, func.count(Pledge.id), func.coalesce(func.sum(Pledge.amount_fen), 0))
        .where(Pledge.status == PledgeStatus.PAID, Pledge.paid_at >= since, Pledge.paid_at < until)
        .group_by(key)).all()
    found = {text: (int(count), int(amount)) for text, count, amount in rows}
    buckets, day = [], _month_start(first_day) if monthly else first_day
    while day <= last_day:
        text = day.strftime(pattern)
        buckets.append(Bucket(day, *found.get(text, (0, 0))))
        day = _next_month(day) if monthly else day + timedelta(days=1)
    return buckets


def _first_paid_day():
    first = db.session.scalar(select(func.min(Pledge.paid_at)).where(Pledge.status == PledgeStatus.PAID))
    return first.astimezone(zone()).date() if first else None


def _top_category():
    return func.coalesce(Category.parent_id, Category.id)


def _by_category(since, until, states=LAUNCHED):
    """Per first-level category: projects launched in the window, raised in it, and campaigns decided in it."""
    top = _top_category().label("top")
    launched = Project.status.in_(states)
    ended = Project.end_at < until
    if since is not None:
        launched = and_(launched, Project.launch_at >= since)
        ended = and_(ended, Project.end_at >= since)
    launched = and_(launched, Project.launch_at < until)
    projects = db.session.execute(
        select(top, func.sum(case((launched, 1), else_=0)),
               func.sum(case((and_(ended, Project.status.in_(SUCCEEDED)), 1), else_=0)),
               func.sum(case((and_(ended, Project.status == S.FAILED), 1), else_=0)))
        .select_from(Project).outerjoin(Category, Category.id == Project.category_id).group_by(top)).all()
    paid = Pledge.status == PledgeStatus.PAID
    if since is not None:
        paid = and_(paid, Pledge.paid_at >= since)
    raised = dict(db.session.execute(
        select(top, func.sum(Pledge.amount_fen)).select_from(Pledge).join(Project, Project.id == Pledge.project_id)
        .outerjoin(Category, Category.id == Project.category_id)
        .where(paid, Pledge.paid_at < until).group_by(top)).all())
    counts = {top_id: (int(n or 0), int(s or 0), int(f or 0)) for top_id, n, s, f in projects}
    categories = db.session.scalars(select(Category).where(Category.parent_id.is_(None))
                                    .order_by(Category.position, Category.id)).all()
    rows = []
    for category in [*categories, None]:
        key = category.id if category else None
        launched_count, succeeded, failed = counts.get(key, (0, 0, 0))
        raised_fen = int(raised.get(key) or 0)
        if category is None and not (launched_count or raised_fen or succeeded or failed):
            continue
        rows.append(CategoryFigures(category, launched_count, raised_fen, succeeded, failed))
    return rows


def _active_users(now):
    """Distinct people signed in (a login session seen) within 7 and within 30 days."""
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    row = db.session.execute(
        select(func.count(func.distinct(case((LoginSession.last_seen_at >= week, LoginSession.user_id)))),
               func.count(func.distinct(LoginSession.user_id)))
        .where(LoginSession.last_seen_at >= month)).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True)
class Dashboard:
    """What the staff dashboard shows for one period."""

    period: Period
    first_day: date
    last_day: date
    raised_fen: int  # all time
    backers: int  # all time
    period_raised_fen: int
    period_pledges: int
    by_status: dict
    active_7: int
    active_30: int
    new_users: int
    buckets: list = field(default_factory=list)
    categories: list = field(default_factory=list)

    @property
    def succeeded(self):
        return sum(row.succeeded for row in self.categories)

    @property
    def failed(self):
        return sum(row.failed for row in self.categories)

    @property
    def success_percent(self):
        return percent(self.succeeded, self.succeeded + self.failed)


def dashboard(period=DEFAULT_PERIOD, now=None):
    """The staff dashboard's figures for `period`, ending today (nine queries at most, whatever the data)."""
    now = now or utcnow()
    today = local_day(now)
    if period.days is None:
        first_day = _first_paid_day() or today
        since = None
    else:
        first_day = today - timedelta(days=period.days - 1)
        since, _ = day_bounds(first_day, None, zone())
    _, until = day_bounds(None, today, zone())
    raised, backers, period_raised, period_pledges = _paid_totals(since, until)
    joined = User.created_at < until if since is None else and_(User.created_at >= since, User.created_at < until)
    new_users = db.session.scalar(select(func.count(User.id)).where(joined))
    active_7, active_30 = _active_users(now)
    return Dashboard(period, first_day, today, raised, backers, period_raised, period_pledges, _status_counts(),
                     active_7, active_30, int(new_users), _buckets(first_day, today, period.monthly),
                     _by_category(since, until))


@dataclass(frozen=True)
class PublicFigures:
    """The non-sensitive figures anyone may see: no person, no single pledge."""

    raised_fen: int
    backers: int
    funded: int  # successful campaigns, including those now delivering or completed
    failed: int
    months: list
    categories: list

    @property
    def success_percent(self):
        return percent(self.funded, self.funded + self.failed)


def public_figures(now=None):
    """All-time totals, projects per category and raised per month over the last twelve months (five queries)."""
    now = now or utcnow()
    today = local_day(now)
    by_status = _status_counts()
    _, until = day_bounds(None, today, zone())
    raised, backers, _, _ = _paid_totals(None, until)
    first = _month_start(today)
    for _ in range(PUBLIC_MONTHS - 1):
        first = _month_start(first - timedelta(days=1))
    return PublicFigures(raised, backers, sum(by_status[s] for s in SUCCEEDED), by_status[S.FAILED],
                         _buckets(first, today, monthly=True), _by_category(None, until, states=PUBLIC_STATES))


def next_month_start(now):
    """When the public page's months move on by themselves (the start of next month, Beijing time)."""
    since, _ = day_bounds(_next_month(local_day(now)), None, zone())
    return since


def _yuan(fen):
    return fen / 100


def raised_chart(buckets, monthly):
    """Line: money raised per day (or month), in yuan."""
    from flask_babel import gettext as _

    from crowdfund import charts

    title = _("Raised per month (yuan)") if monthly else _("Raised per day (yuan)")
    return charts.line_chart(title, [charts.Series(_("Raised"), [(b.start, _yuan(b.amount_fen)) for b in buckets])])


def category_chart(rows, locale, count=False):
    """Bars: raised (or, with `count`, projects) per first-level category."""
    from flask_babel import gettext as _

    from crowdfund import charts

    title = _("Projects per category") if count else _("Raised per category (yuan)")
    return charts.bar_chart(title, [(category_name(row.category, locale),
                                     row.projects if count else _yuan(row.raised_fen)) for row in rows])


def category_name(category, locale):
    from flask_babel import gettext as _

    return category.name(locale) if category is not None else _("No category")
