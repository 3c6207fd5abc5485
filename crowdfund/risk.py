"""Risk rules and the moderators' alert queue (SPEC 4.3).

Each rule is a small function over the database that returns findings: a project, the rule, an optional
subject (a backer, an address) and its evidence (numbers, ids, the window looked at). `run_rules()` runs every
rule over every project (a periodic job); `check_project()` runs them over one project after the events that
matter (a paid pledge, a report, a refund claim), through a job so no payment transaction waits on it.

A finding opens an alert unless the same condition already has an unresolved one, whose evidence and last-seen
time are refreshed instead (`RiskAlert.open_key` is unique among unresolved alerts). A condition a moderator
resolved is raised again only when something new happened after the resolution (a newer pledge, report, claim,
a longer silence): the finding's `observed_at` says when its newest fact is from. Thresholds are settings
(crowdfund/config.py, RISK_*).
"""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from flask import current_app
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from crowdfund import audit, lifecycle
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import (Pledge, PledgeStatus, Project, ProjectStatus, ProjectUpdate, Refund, Report,
                              RewardTier, RiskAlert, Role)
from crowdfund.models.base import utcnow

S = ProjectStatus
FUNDING = (S.LIVE, S.SUCCESSFUL)  # money raised and still in escrow
DELIVERING = (S.SUCCESSFUL, S.DELIVERING)  # funded: the rewards are owed
STATUSES = ("open", "acknowledged", "resolved")
CLAIM_REASONS = ("late", "cancelled")  # a backer takes money back: a late reward's claim, a withdrawn pledge


class RiskError(RuleError):
    """A moderator action that is not possible; `code` says why."""


@dataclass(frozen=True)
class Finding:
    """What one rule found on one project; `observed_at` is when its newest fact is from."""

    rule: str
    project_id: int
    observed_at: datetime
    evidence: dict = field(default_factory=dict)
    subject: str = ""

    @property
    def key(self):
        return open_key(self.rule, self.project_id, self.subject)


def open_key(rule, project_id, subject=""):
    """The key one condition's unresolved alert holds."""
    return f"{rule}:{project_id}:{subject}"


def _iso(moment):
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds") if moment else None


def _aware(moment):
    # SQLite hands aggregates back as naive datetimes (or strings); everything here is UTC.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _scoped(query, column, project_ids):
    return query if project_ids is None else query.where(column.in_(project_ids))


def _config(name):
    return current_app.config[name]


def funding_surge(now, project_ids=None):
    """A live project raised more in 24 h than RISK_SURGE_FACTOR × its own trailing daily average (and at least
    RISK_SURGE_FLOOR_FEN); a project without a full day of history before the window has no trend to compare."""
    factor, floor, days = (_config("RISK_SURGE_FACTOR"), _config("RISK_SURGE_FLOOR_FEN"),
                           _config("RISK_SURGE_TRAILING_DAYS"))
    window_start = now - timedelta(hours=24)
    trailing_start = window_start - timedelta(days=days)
    recent = Pledge.paid_at >= window_start
    query = (select(Pledge.project_id, Project.launch_at,
                    func.sum(case((recent, Pledge.amount_fen), else_=0)),
                    func.sum(case((recent, 0), else_=Pledge.amount_fen)),
                    func.count(case((recent, Pledge.id))), func.max(Pledge.paid_at))
             .join(Project, Project.id == Pledge.project_id)
             .where(Project.status == S.LIVE, Pledge.status == PledgeStatus.PAID, Pledge.paid_at >= trailing_start,
                    Pledge.paid_at <= now)
             .group_by(Pledge.project_id, Project.launch_at))
    findings = []
    for project_id, launch_at, last_day, before, pledges, newest in db.session.execute(
            _scoped(query, Pledge.project_id, project_ids)):
        launch_at = _aware(launch_at)
        if launch_at is None or not last_day:
            continue
        history_days = min(days, (window_start - launch_at).total_seconds() / 86400)
        if history_days < 1:
            continue
        average = before / history_days
        if last_day >= floor and last_day > factor * average:
            findings.append(Finding("funding_surge", project_id, _aware(newest), {
                "last_24h_fen": int(last_day), "pledges_24h": int(pledges),
                "trailing_daily_average_fen": round(average), "trailing_days": round(history_days, 1),
                "factor": factor, "floor_fen": floor, "window_from": _iso(window_start), "window_to": _iso(now)}))
    return findings


def backer_share(now, project_ids=None):
    """One backer holds more than RISK_BACKER_SHARE percent of what a funding project raised (once it raised
    RISK_BACKER_SHARE_FLOOR_FEN)."""
    share, floor = _config("RISK_BACKER_SHARE"), _config("RISK_BACKER_SHARE_FLOOR_FEN")
    query = (select(Pledge.project_id, Pledge.backer_id, func.sum(Pledge.amount_fen), func.count(Pledge.id),
                    func.max(Pledge.paid_at))
             .join(Project, Project.id == Pledge.project_id)
             .where(Project.status.in_(FUNDING), Pledge.status == PledgeStatus.PAID, Pledge.paid_at <= now)
             .group_by(Pledge.project_id, Pledge.backer_id))
    by_project = defaultdict(list)
    for project_id, backer_id, amount, pledges, newest in db.session.execute(
            _scoped(query, Pledge.project_id, project_ids)):
        by_project[project_id].append((backer_id, int(amount), int(pledges), _aware(newest)))
    findings = []
    for project_id, rows in by_project.items():
        total = sum(amount for _, amount, _, _ in rows)
        if total < floor:
            continue
        for backer_id, amount, pledges, newest in rows:
            if amount * 100 > share * total:
                findings.append(Finding("backer_share", project_id, newest, {
                    "backer_id": backer_id, "backer_fen": amount, "backer_pledges": pledges, "total_fen": total,
                    "backers": len(rows), "share_percent": round(amount * 100 / total, 1),
                    "threshold_percent": share}, subject=f"backer:{backer_id}"))
    return findings


def _densest(times, width):
    """(count, first, last) of the window of `width` holding the most of these sorted times."""
    best, start = (0, None, None), 0
    for end, moment in enumerate(times):
        while moment - times[start] > width:
            start += 1
        if end - start + 1 > best[0]:
            best = (end - start + 1, times[start], moment)
    return best


def pledge_burst(now, project_ids=None):
    """RISK_PLEDGES_PER_WINDOW pledges or more on one project within RISK_PLEDGES_WINDOW_MINUTES from one account
    or from one hashed address (paid or not: repeated attempts count). Looks back an hour beyond one window, so
    a periodic run every few minutes misses no burst."""
    width, limit = timedelta(minutes=_config("RISK_PLEDGES_WINDOW_MINUTES")), _config("RISK_PLEDGES_PER_WINDOW")
    query = (select(Pledge.project_id, Pledge.id, Pledge.backer_id, Pledge.client_hash, Pledge.created_at)
             .where(Pledge.created_at >= now - width - timedelta(hours=1), Pledge.created_at <= now)
             .order_by(Pledge.created_at, Pledge.id))
    groups = defaultdict(list)
    for project_id, pledge_id, backer_id, client_hash, created_at in db.session.execute(
            _scoped(query, Pledge.project_id, project_ids)):
        row = (_aware(created_at), pledge_id, backer_id)
        groups[(project_id, f"backer:{backer_id}")].append(row)
        if client_hash:
            groups[(project_id, f"ip:{client_hash[:16]}")].append(row)
    findings = []
    for (project_id, subject), rows in groups.items():
        count, first, last = _densest([moment for moment, _, _ in rows], width)
        if count < limit:
            continue
        inside = [row for row in rows if first <= row[0] <= last]
        findings.append(Finding("pledge_burst", project_id, last, {
            "source": subject.partition(":")[0], "pledges": count, "window_minutes": int(width.total_seconds() // 60),
            "threshold": limit, "from": _iso(first), "to": _iso(last),
            "pledge_ids": [pledge_id for _, pledge_id, _ in inside][:50],
            "backer_ids": sorted({backer_id for _, _, backer_id in inside})}, subject=subject))
    return findings


def complaints(now, project_ids=None):
    """RISK_COMPLAINTS_24H different people reported a project in the last 24 h (reports not yet settled)."""
    limit, since = _config("RISK_COMPLAINTS_24H"), now - timedelta(hours=24)
    query = (select(Report.target_id, Report.id, Report.reporter_id, Report.category, Report.created_at)
             .where(Report.target_kind == "project", Report.resolved_at.is_(None), Report.created_at >= since,
                    Report.created_at <= now)
             .order_by(Report.created_at, Report.id))
    by_project = defaultdict(list)
    for project_id, report_id, reporter_id, category, created_at in db.session.execute(
            _scoped(query, Report.target_id, project_ids)):
        by_project[project_id].append((report_id, reporter_id, category, _aware(created_at)))
    findings = []
    for project_id, rows in by_project.items():
        reporters = {reporter_id for _, reporter_id, _, _ in rows}
        if len(reporters) < limit:
            continue
        categories = defaultdict(int)
        for _, _, category, _ in rows:
            categories[category or "other"] += 1
        findings.append(Finding("complaints", project_id, rows[-1][3], {
            "reporters": len(reporters), "threshold": limit, "report_ids": [row[0] for row in rows],
            "categories": dict(categories), "window_from": _iso(since), "window_to": _iso(now)}))
    return findings


def no_update(now, project_ids=None):
    """A funded project owing rewards posted no update for more than RISK_NO_UPDATE_DAYS (counted from its
    latest update, or from the campaign's end if it never posted one since)."""
    days = _config("RISK_NO_UPDATE_DAYS")
    latest = (select(ProjectUpdate.project_id, func.max(ProjectUpdate.created_at).label("at"))
              .group_by(ProjectUpdate.project_id).subquery())
    query = (select(Project.id, Project.end_at, latest.c.at).outerjoin(latest, latest.c.project_id == Project.id)
             .where(Project.status.in_(DELIVERING)))
    findings = []
    for project_id, end_at, updated_at in db.session.execute(_scoped(query, Project.id, project_ids)):
        end_at, updated_at = _aware(end_at), _aware(updated_at)
        since = max(moment for moment in (end_at, updated_at) if moment) if (end_at or updated_at) else None
        if since is None or now - since <= timedelta(days=days):
            continue
        findings.append(Finding("no_update", project_id, since + timedelta(days=days), {
            "last_update_at": _iso(updated_at), "silent_since": _iso(since), "days_silent": (now - since).days,
            "threshold_days": days}))
    return findings


def refund_claims(now, project_ids=None):
    """RISK_REFUND_CLAIMS backers or more took their money back (late-reward claims, withdrawn pledges) within
    RISK_REFUND_CLAIMS_DAYS."""
    limit, days = _config("RISK_REFUND_CLAIMS"), _config("RISK_REFUND_CLAIMS_DAYS")
    since = now - timedelta(days=days)
    query = (select(Pledge.project_id, Refund.id, Refund.reason, Refund.amount_fen, Refund.created_at)
             .join(Pledge, Pledge.id == Refund.pledge_id)
             .where(Refund.reason.in_(CLAIM_REASONS), Refund.created_at >= since, Refund.created_at <= now)
             .order_by(Refund.created_at, Refund.id))
    by_project = defaultdict(list)
    for project_id, refund_id, reason, amount, created_at in db.session.execute(
            _scoped(query, Pledge.project_id, project_ids)):
        by_project[project_id].append((refund_id, reason, int(amount), _aware(created_at)))
    findings = []
    for project_id, rows in by_project.items():
        if len(rows) < limit:
            continue
        reasons = defaultdict(int)
        for _, reason, _, _ in rows:
            reasons[reason] += 1
        findings.append(Finding("refund_claims", project_id, rows[-1][3], {
            "claims": len(rows), "threshold": limit, "days": days, "amount_fen": sum(row[2] for row in rows),
            "by_reason": dict(reasons), "refund_ids": [row[0] for row in rows][:50], "window_from": _iso(since),
            "window_to": _iso(now)}))
    return findings


def delivery_overdue(now, project_ids=None):
    """Paid rewards of a funded project not shipped by their promised month plus LATE_GRACE_DAYS."""
    from crowdfund.delivery import promised_by

    query = (select(Pledge.project_id, RewardTier.delivery_month, func.count(Pledge.id))
             .join(RewardTier, RewardTier.id == Pledge.tier_id).join(Project, Project.id == Pledge.project_id)
             .where(Project.status.in_(DELIVERING), Pledge.status == PledgeStatus.PAID, Pledge.shipped_at.is_(None))
             .group_by(Pledge.project_id, RewardTier.delivery_month))
    today = now.date()
    late = defaultdict(dict)
    for project_id, month, count in db.session.execute(_scoped(query, Pledge.project_id, project_ids)):
        due = promised_by(month)
        if today > due:
            late[project_id][month] = (int(count), due)
    findings = []
    for project_id, months in late.items():
        newest_due = max(due for _, due in months.values())
        findings.append(Finding("delivery_overdue", project_id,
                                datetime.combine(newest_due + timedelta(days=1), time(), timezone.utc), {
            "overdue_pledges": sum(count for count, _ in months.values()),
            "by_month": {month: count for month, (count, _) in sorted(months.items())},
            "earliest_promised_by": min(due for _, due in months.values()).isoformat(),
            "grace_days": _config("LATE_GRACE_DAYS")}))
    return findings


RULES = {rule.__name__: rule for rule in (funding_surge, backer_share, pledge_burst, complaints, no_update,
                                          refund_claims, delivery_overdue)}


def find(now=None, project_ids=None):
    """What every rule finds now (over these projects, or all)."""
    now = now or utcnow()
    return [finding for rule in RULES.values() for finding in rule(now, project_ids)]


def record(findings, now=None):
    """Open an alert per new condition and refresh the open ones; commits; returns the alerts opened."""
    now = now or utcnow()
    if not findings:
        return []
    found = {finding.key: finding for finding in findings}
    current = {alert.open_key: alert for alert in db.session.scalars(
        select(RiskAlert).where(RiskAlert.open_key.in_(list(found))))}
    settled = {(rule, project_id, subject): _aware(at) for rule, project_id, subject, at in db.session.execute(
        select(RiskAlert.rule, RiskAlert.project_id, RiskAlert.subject, func.max(RiskAlert.resolved_at))
        .where(RiskAlert.status == "resolved",
               RiskAlert.project_id.in_({finding.project_id for finding in findings}))
        .group_by(RiskAlert.rule, RiskAlert.project_id, RiskAlert.subject))}
    opened = []
    for key, finding in found.items():
        alert = current.get(key)
        if alert is None:
            resolved_at = settled.get((finding.rule, finding.project_id, finding.subject))
            if resolved_at is not None and finding.observed_at <= resolved_at:
                continue  # a moderator settled it and nothing new happened since
            alert = RiskAlert(project_id=finding.project_id, rule=finding.rule, subject=finding.subject,
                              open_key=key, status="open", evidence=finding.evidence, first_seen_at=now,
                              last_seen_at=now, resolution_note="")
            try:
                with db.session.begin_nested():
                    db.session.add(alert)
                opened.append(alert)
                continue
            except IntegrityError:  # another run opened it a moment ago: refresh that one
                alert = db.session.scalar(select(RiskAlert).where(RiskAlert.open_key == key))
                if alert is None:
                    continue
        alert.evidence, alert.last_seen_at = finding.evidence, now
    db.session.commit()
    return opened


def run_rules(now=None):
    """Every rule over every project (the periodic job); returns how many alerts were opened."""
    now = now or utcnow()
    return len(record(find(now), now))


def check_project(project, now=None):
    """Every rule over one project, after an event that may have changed its risk; returns the alerts opened."""
    now = now or utcnow()
    return record(find(now, [project.id]), now)


def queue_check(project_id):
    """Check one project in a job (after its transaction committed), never inside a payment's transaction."""
    from crowdfund.jobs import check_project_risk
    from crowdfund.queueing import enqueue

    enqueue(check_project_risk, project_id, queue="default", retries=1)


def alerts(status="open", limit=100):
    """Alerts in one state with their projects: oldest unsettled first, newest resolved first."""
    if status not in STATUSES:
        status = "open"
    order = (RiskAlert.resolved_at.desc(),) if status == "resolved" else (RiskAlert.first_seen_at,)
    return db.session.scalars(select(RiskAlert).where(RiskAlert.status == status)
                              .options(joinedload(RiskAlert.project)).order_by(*order, RiskAlert.id)
                              .limit(limit)).all()


def counts():
    """{status: number of alerts}, every status present."""
    found = dict(db.session.execute(select(RiskAlert.status, func.count(RiskAlert.id))
                                    .group_by(RiskAlert.status)).all())
    return {status: found.get(status, 0) for status in STATUSES}


def open_count():
    """Alerts nobody has looked at yet (the moderators' nav shows it)."""
    return db.session.scalar(select(func.count(RiskAlert.id)).where(RiskAlert.status == "open"))


def project_reports(alert):
    """The open reports on the alert's project with their reporters, oldest first (the alert links to them)."""
    from crowdfund.models import User

    return db.session.execute(select(Report, User).join(User, User.id == Report.reporter_id)
                              .where(Report.target_kind == "project", Report.target_id == alert.project_id,
                                     Report.resolved_at.is_(None))
                              .order_by(Report.created_at, Report.id)).all()


def _check(alert, moderator):
    if not moderator.has_role(Role.MODERATOR):
        raise RiskError("moderator")
    if alert.status == "resolved":
        raise RiskError("resolved")


def acknowledge(alert, moderator, now=None):
    """A moderator has seen the alert and is looking into it."""
    _check(alert, moderator)
    if alert.status != "open":
        raise RiskError("acknowledged")
    alert.status, alert.acknowledged_by_id, alert.acknowledged_at = "acknowledged", moderator.id, now or utcnow()
    audit.record(moderator, "risk_alert.acknowledge", alert, rule=alert.rule, project_id=alert.project_id)
    db.session.commit()


def can_suspend(alert):
    """The alert is unsettled and the lifecycle lets its project be suspended (only a live campaign)."""
    return alert.status != "resolved" and lifecycle.can_transition(alert.project, S.SUSPENDED)


def suspend_project(alert, moderator, now=None):
    """Suspend the alert's project through the lifecycle (which says when that is possible); acknowledges it."""
    now = now or utcnow()
    _check(alert, moderator)
    if not can_suspend(alert):
        raise RiskError("not_suspendable")
    lifecycle.transition(alert.project, S.SUSPENDED, actor=moderator, reason=f"risk alert {alert.id}: {alert.rule}",
                         now=now, commit=False)
    if alert.status == "open":
        alert.status, alert.acknowledged_by_id, alert.acknowledged_at = "acknowledged", moderator.id, now
    audit.record(moderator, "risk_alert.suspend", alert, rule=alert.rule, project_id=alert.project_id)
    db.session.commit()


def resolve(alert, moderator, note, now=None):
    """Settle the alert with a note; a complaints alert also settles the project's open reports."""
    now, note = now or utcnow(), (note or "").strip()
    _check(alert, moderator)
    if not note:
        raise RiskError("note")
    alert.status, alert.open_key = "resolved", None
    alert.resolved_by_id, alert.resolved_at, alert.resolution_note = moderator.id, now, note[:2000]
    closed = 0
    if alert.rule == "complaints":
        closed = db.session.execute(update(Report).where(
            Report.target_kind == "project", Report.target_id == alert.project_id, Report.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by_id=moderator.id)).rowcount
    audit.record(moderator, "risk_alert.resolve", alert, rule=alert.rule, project_id=alert.project_id,
                 note=note[:500], reports_closed=closed)
    db.session.commit()
