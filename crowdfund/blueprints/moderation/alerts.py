"""Moderators' risk alerts queue (SPEC 4.3): list, evidence, acknowledge, suspend the project, resolve."""
from flask import request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crowdfund import risk
from crowdfund.blueprints.moderation import bp
from crowdfund.blueprints.moderation.forms import ResolveAlertForm
from crowdfund.blueprints.projects.forms import REPORT_CATEGORY_NAMES
from crowdfund.extensions import db
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.models import RiskAlert, Role
from crowdfund.security import role_required

RULE_NAMES = {
    "funding_surge": _l("Funding surge in 24 hours"),
    "backer_share": _l("One backer holds an outsized share"),
    "pledge_burst": _l("Many pledges from one account or address"),
    "complaints": _l("Reports from many people"),
    "no_update": _l("No update for too long while delivering"),
    "refund_claims": _l("Refund claims piling up"),
    "delivery_overdue": _l("Rewards overdue"),
}
STATUS_NAMES = {"open": _l("Open"), "acknowledged": _l("Acknowledged"), "resolved": _l("Resolved")}
EVIDENCE_NAMES = {
    "last_24h_fen": _l("Raised in the last 24 hours"), "pledges_24h": _l("Pledges in the last 24 hours"),
    "trailing_daily_average_fen": _l("Daily average before"), "trailing_days": _l("Days averaged"),
    "factor": _l("Threshold factor"), "floor_fen": _l("Minimum amount"), "window_from": _l("From"),
    "window_to": _l("To"), "from": _l("From"), "to": _l("To"), "backer_id": _l("Backer (account id)"),
    "backer_fen": _l("This backer's pledges"), "backer_pledges": _l("This backer's pledge count"),
    "total_fen": _l("Raised in all"), "backers": _l("Backers"), "share_percent": _l("Share (%)"),
    "threshold_percent": _l("Threshold (%)"), "source": _l("Source"), "pledges": _l("Pledges"),
    "window_minutes": _l("Window (minutes)"), "threshold": _l("Threshold"), "pledge_ids": _l("Pledges (ids)"),
    "backer_ids": _l("Accounts (ids)"), "reporters": _l("People reporting"), "report_ids": _l("Reports (ids)"),
    "categories": _l("Reasons given"), "last_update_at": _l("Last update"), "silent_since": _l("Silent since"),
    "days_silent": _l("Days without an update"), "threshold_days": _l("Threshold (days)"),
    "claims": _l("Claims"), "days": _l("Window (days)"), "amount_fen": _l("Amount claimed"),
    "by_reason": _l("By reason"), "refund_ids": _l("Refunds (ids)"), "overdue_pledges": _l("Overdue rewards"),
    "by_month": _l("By promised month"), "earliest_promised_by": _l("Earliest due date"),
    "grace_days": _l("Grace period (days)"),
}
LABELS = dict(rule_names=RULE_NAMES, status_names=STATUS_NAMES, evidence_names=EVIDENCE_NAMES,
              category_names=REPORT_CATEGORY_NAMES)


def _alert_or_404(alert_id):
    return db.get_or_404(RiskAlert, alert_id)


@bp.route("/alerts")
@role_required(Role.MODERATOR)
def alerts():
    """Risk alerts in one state (open, acknowledged or resolved), with their projects."""
    status = request.args.get("status", "open")
    status = status if status in risk.STATUSES else "open"
    return render("moderation/alerts.html", "alert_list", items=risk.alerts(status), current=status,
                  counts=risk.counts(), **LABELS)


def _alert_page(alert, status=200, form=None, notice=None):
    return render("moderation/alert.html", "alert", status=status, alert=alert, reports=risk.project_reports(alert),
                  can_suspend=risk.can_suspend(alert), form=form or ResolveAlertForm(formdata=None), notice=notice,
                  **LABELS)


@bp.route("/alerts/<int:alert_id>")
@role_required(Role.MODERATOR)
def alert(alert_id):
    """One alert: its evidence, the project, the reports on it, and what a moderator may do."""
    return _alert_page(_alert_or_404(alert_id))


def _done(alert, message):
    if is_htmx():
        return _alert_page(alert, notice=message)
    return redirect_after_post(url_for("moderation.alert", alert_id=alert.id), message)


def _refused(alert, error):
    db.session.rollback()
    message = {"resolved": _("This alert is already resolved."),
               "acknowledged": _("This alert was already acknowledged."),
               "not_suspendable": _("Only a live campaign can be suspended.")}.get(error.code,
                                                                                    _("That is not possible."))
    if is_htmx():
        return _alert_page(alert, status=409, notice=message)
    return redirect_after_post(url_for("moderation.alert", alert_id=alert.id), message, "error")


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@role_required(Role.MODERATOR)
def acknowledge_alert(alert_id):
    """Say a moderator is looking into the alert."""
    alert = _alert_or_404(alert_id)
    try:
        risk.acknowledge(alert, current_user)
    except risk.RiskError as error:
        return _refused(alert, error)
    return _done(alert, _("Acknowledged."))


@bp.route("/alerts/<int:alert_id>/suspend", methods=["POST"])
@role_required(Role.MODERATOR)
def suspend_alert_project(alert_id):
    """Suspend the alert's project (a live campaign) while it is looked into."""
    alert = _alert_or_404(alert_id)
    try:
        risk.suspend_project(alert, current_user)
    except risk.RiskError as error:
        return _refused(alert, error)
    return _done(alert, _("The project is suspended."))


@bp.route("/alerts/<int:alert_id>/resolve", methods=["POST"])
@role_required(Role.MODERATOR)
def resolve_alert(alert_id):
    """Settle the alert with a note saying what was found and done."""
    alert = _alert_or_404(alert_id)
    form = ResolveAlertForm()
    if alert.status != "resolved" and not form.validate_on_submit():
        return _alert_page(alert, status=422, form=form)
    try:
        risk.resolve(alert, current_user, form.note.data)
    except risk.RiskError as error:
        return _refused(alert, error)
    return _done(alert, _("Resolved."))
