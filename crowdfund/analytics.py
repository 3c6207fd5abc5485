"""Creator analytics per project (SPEC 4.2): visits, conversion, the funding curve and breakdowns, as figures.

`figures(project, start, end)` answers with a fixed number of aggregate queries, whatever the number of
visits, pledges or days: visits per day (with share-link visits), referrers, paid pledges grouped by
day × tier × province × amount band. Days are calendar days in the display time zone (Beijing), zeros
filled in. Only pledges that are paid now count (a refunded pledge drops out), so "raised" here is the
project page's "raised" (crowdfund.discovery.progress_for). Money stays integer fen; charts get yuan.
"""
import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, func, select, text
from sqlalchemy.orm import joinedload

from crowdfund import charts, visits
from crowdfund.delivery import _cell as csv_cell
from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, RewardTier, Visit

TOP_REFERRERS = 8
EXPORTED = (PledgeStatus.PAID, PledgeStatus.REFUND_DUE, PledgeStatus.REFUNDED)  # pledges that were paid


class RangeError(ValueError):
    """The date range cannot be shown; `field` is the form field to blame."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


@dataclass
class Day:
    """One day's figures."""

    day: date
    visits: int = 0
    visitors: int = 0
    backers: int = 0
    amount_fen: int = 0
    cumulative_fen: int = 0


@dataclass
class Figures:
    """A project's analytics over a date range."""

    start: date
    end: date
    goal_fen: int
    raised_fen: int = 0  # all paid pledges so far, whatever the range
    days: list = field(default_factory=list)
    tiers: list = field(default_factory=list)  # (label, count, amount_fen)
    provinces: list = field(default_factory=list)  # (label, count, amount_fen)
    bands: list = field(default_factory=list)  # (label, count, amount_fen)
    referrers: list = field(default_factory=list)  # (label, visits)
    shared_visits: int = 0  # visits through share links (?ref=)

    @property
    def visits(self):
        return sum(d.visits for d in self.days)

    @property
    def visitors(self):
        """Unique visitors: a person counts once a day (the visitor hash changes daily), so the days add up."""
        return sum(d.visitors for d in self.days)

    @property
    def backers(self):
        return sum(d.backers for d in self.days)

    @property
    def amount_fen(self):
        return sum(d.amount_fen for d in self.days)

    @property
    def conversion(self):
        """Paid pledges ÷ unique visitors over the range, in per cent (None without visitors)."""
        return round(self.backers * 100 / self.visitors, 1) if self.visitors else None

    @property
    def goal_percent(self):
        return int(self.raised_fen * 100 // self.goal_fen) if self.goal_fen else 0


def amount_bands():
    """The amount bands as (low_fen, high_fen or None, label), from the ANALYTICS_AMOUNT_BANDS setting (yuan)."""
    edges = current_app.config["ANALYTICS_AMOUNT_BANDS"]
    bands = [(0, edges[0] * 100, f"<¥{edges[0]}")]
    bands += [(low * 100, high * 100, f"¥{low}–{high - 1}") for low, high in zip(edges, edges[1:])]
    return bands + [(edges[-1] * 100, None, f"≥¥{edges[-1]}")]


def _band_of(column):
    bands = amount_bands()
    return case(*[(column < high, index) for index, (_low, high, _label) in enumerate(bands) if high],
                else_=len(bands) - 1)


def _local_date(column):
    """The calendar day of a UTC timestamp column in the display time zone, in SQL."""
    zone = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    if db.engine.dialect.name == "postgresql":
        return func.date(func.timezone(zone, column))
    offset = datetime.now(ZoneInfo(zone)).utcoffset()  # SQLite knows no zones: the offset of today (no DST in China)
    if db.engine.dialect.name == "mysql":  # nor does MySQL/MariaDB without its time-zone tables loaded
        return func.date(func.date_add(column, text(f"INTERVAL {int(offset.total_seconds()):d} SECOND")))
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _as_date(value):
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def max_days():
    return current_app.config["ANALYTICS_MAX_DAYS"]


def default_range(project, today=None):
    """The whole campaign: from the launch day to today (at most ANALYTICS_MAX_DAYS days)."""
    today = today or visits.local_day()
    start = visits.local_day(project.launch_at) if project.launch_at else None
    if start is None:
        first = db.session.scalar(select(func.min(Visit.day)).where(Visit.project_id == project.id))
        start = _as_date(first) if first else today
    start = min(start, today)
    return max(start, today - timedelta(days=max_days() - 1)), today


def preset_range(project, days, today=None):
    """The last `days` days up to today, or the whole campaign when `days` is None."""
    today = today or visits.local_day()
    if days is None:
        return default_range(project, today)
    return today - timedelta(days=days - 1), today


def check_range(start, end):
    """Refuse a range that ends before it starts or is longer than ANALYTICS_MAX_DAYS."""
    if end < start:
        raise RangeError("to", _("The end date must not be before the start date."))
    if (end - start).days + 1 > max_days():
        raise RangeError("to", _("Choose at most %(days)d days.", days=max_days()))


def figures(project, start, end):
    """Visits, paid pledges, the funding curve and the breakdowns of one project from `start` to `end` (days)."""
    check_range(start, end)
    result = Figures(start=start, end=end, goal_fen=project.goal_fen or 0)
    by_day = {start + timedelta(days=n): Day(start + timedelta(days=n)) for n in range((end - start).days + 1)}
    in_range = (Visit.project_id == project.id) & Visit.day.between(start, end)
    for day, count, visitors, shared in db.session.execute(
            select(Visit.day, func.count(), func.count(func.distinct(Visit.visitor)),
                   func.sum(case((Visit.ref != "", 1), else_=0)))
            .where(in_range).group_by(Visit.day)):
        row = by_day[_as_date(day)]
        row.visits, row.visitors = count, visitors
        result.shared_visits += int(shared or 0)
    referrers = db.session.execute(
        select(Visit.referrer, func.count().label("n")).where(in_range).group_by(Visit.referrer)
        .order_by(func.count().desc(), Visit.referrer).limit(TOP_REFERRERS)).all()
    result.referrers = [(referrer_label(referrer), count) for referrer, count in referrers]

    day = _local_date(Pledge.paid_at).label("day")
    band = _band_of(Pledge.amount_fen).label("band")
    rows = db.session.execute(
        select(day, Pledge.tier_id, Pledge.ship_province, band, func.count(), func.sum(Pledge.amount_fen))
        .where(Pledge.project_id == project.id, Pledge.status == PledgeStatus.PAID)
        .group_by(day, Pledge.tier_id, Pledge.ship_province, band)).all()
    tiers, provinces, bands = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    before = 0
    for paid_day, tier_id, province, band_index, count, amount in rows:
        paid_day, amount = _as_date(paid_day), int(amount or 0)
        result.raised_fen += amount
        if paid_day < start:
            before += amount
        if paid_day not in by_day:
            continue
        by_day[paid_day].backers += count
        by_day[paid_day].amount_fen += amount
        for breakdown, key in ((tiers, tier_id), (provinces, province or ""), (bands, band_index)):
            breakdown[key][0] += count
            breakdown[key][1] += amount
    running = before
    for row in by_day.values():
        running += row.amount_fen
        row.cumulative_fen = running
    result.days = list(by_day.values())
    titles = {tier.id: tier.title for tier in project.tiers}
    order = {tier.id: n for n, tier in enumerate(project.tiers)}
    result.tiers = [(titles.get(key, "") if key else _("Support without reward"), *tiers[key])
                    for key in sorted(tiers, key=lambda k: (k is None, order.get(k, 0)))]
    result.provinces = [(key or _("No address (digital / no reward)"), *provinces[key])
                        for key in sorted(provinces, key=lambda k: (not k, -provinces[k][0], k))]
    labels = amount_bands()
    result.bands = [(labels[index][2], *bands.get(index, (0, 0))) for index in range(len(labels))]
    return result


def referrer_label(referrer):
    """A referrer host as the creator reads it: this site, direct, or the host."""
    if referrer == visits.SELF:
        return _("This site")
    return referrer or _("Direct (no referrer)")


def yuan(fen):
    return round(fen / 100, 2)


PHONE = {"width": 400}  # drawn for a phone's width, so the labels stay legible when the SVG fills the screen


def chart_set(result):
    """The page's charts as SVG (None when there is nothing to draw)."""
    days = result.days
    lines = {**PHONE, "height": 240}
    return {
        "visits": charts.line_chart(_("Visits per day"), [
            charts.Series(_("Visits"), [(d.day, d.visits) for d in days]),
            charts.Series(_("Unique visitors"), [(d.day, d.visitors) for d in days], dashed=True)], **lines),
        "backers": charts.line_chart(_("Paid pledges per day"),
                                     [charts.Series(_("Paid pledges"), [(d.day, d.backers) for d in days])], **lines),
        "funding": charts.line_chart(_("Raised so far (¥)"),
                                     [charts.Series(_("Raised"), [(d.day, yuan(d.cumulative_fen)) for d in days])],
                                     goal=yuan(result.goal_fen), goal_label=_("Goal"), **lines),
        "tiers": charts.bar_chart(_("Paid pledges by reward"), [(label, n) for label, n, _a in result.tiers], **PHONE),
        "provinces": charts.bar_chart(_("Paid pledges by province"),
                                      [(label, n) for label, n, _a in result.provinces], **PHONE),
        "bands": charts.bar_chart(_("Paid pledges by amount"), [(label, n) for label, n, _a in result.bands], **PHONE),
        "referrers": charts.bar_chart(_("Visits by referrer"), result.referrers, **PHONE),
    }


def _csv():
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 with BOM: spreadsheet programs read the Chinese right
    return out, csv.writer(out)


def figures_csv(result):
    """The figures per day as CSV: date, visits, unique visitors, paid pledges, amount, cumulative (yuan)."""
    out, writer = _csv()
    writer.writerow(["date", "visits", "unique_visitors", "paid_pledges", "amount_yuan", "cumulative_yuan"])
    for d in result.days:
        writer.writerow([d.day.isoformat(), d.visits, d.visitors, d.backers, _money(d.amount_fen),
                         _money(d.cumulative_fen)])
    return out.getvalue()


def _money(fen):
    return f"{fen // 100}.{fen % 100:02d}"


def backers_csv(project):
    """Every pledge that was paid: id, day, reward, amount, status, province, and the backer's name unless anonymous.

    No e-mail, phone or street address: those are in the shipping list, for shipping only.
    """
    out, writer = _csv()
    writer.writerow(["pledge", "date", "reward", "amount_yuan", "status", "province", "backer"])
    pledges = db.session.scalars(
        select(Pledge).where(Pledge.project_id == project.id, Pledge.status.in_(EXPORTED), Pledge.paid_at.is_not(None))
        .options(joinedload(Pledge.tier).load_only(RewardTier.title), joinedload(Pledge.backer))
        .order_by(Pledge.paid_at, Pledge.id)).all()
    anonymous = _("Anonymous")
    for pledge in pledges:
        writer.writerow([pledge.id, visits.local_day(pledge.paid_at).isoformat()] + [csv_cell(value) for value in (
            pledge.tier.title if pledge.tier else _("Support without reward"), _money(pledge.amount_fen),
            pledge.status.value, pledge.ship_province or "",
            anonymous if pledge.anonymous else pledge.backer.public_name)])
    return out.getvalue()
