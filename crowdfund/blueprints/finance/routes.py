"""Views for finance admins."""
from flask import abort, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from crowdfund import ledger, projects, refunds, settlement
from crowdfund.payments import reconciliation as reconciliation_runs
from crowdfund.blueprints.finance import bp
from crowdfund.extensions import db
from crowdfund.htmx import redirect_after_post, render
from crowdfund.models import Refund, Role, Withdrawal
from crowdfund.security import role_required
from crowdfund.inputs import db_int


@bp.route("/withdrawals")
@role_required(Role.FINANCE)
def withdrawals():
    """Withdrawals to approve, reject or mark paid."""
    return render("finance/withdrawals.html", items=settlement.queue())


@bp.route("/withdrawals/<int:withdrawal_id>", methods=["POST"])
@role_required(Role.FINANCE)
def decide(withdrawal_id):
    """Approve, reject (with a reason) or mark paid (with the bank reference)."""
    withdrawal = db.get_or_404(Withdrawal, withdrawal_id)
    action = request.form.get("action")
    try:
        if action == "approve":
            settlement.approve(withdrawal, current_user)
        elif action == "reject":
            settlement.reject(withdrawal, current_user, request.form.get("reason", ""))
        elif action == "paid":
            settlement.mark_paid(withdrawal, current_user, request.form.get("reference", ""))
        else:
            return redirect_after_post(url_for("finance.withdrawals"), _("Unknown action."), "error")
    except settlement.SettlementError as error:
        message = {"reason": _("Give a reason when you reject."),
                   "reference": _("Enter the payout's bank reference.")}.get(error.code, _("That is no longer possible."))
        return redirect_after_post(url_for("finance.withdrawals"), message, "error")
    return redirect_after_post(url_for("finance.withdrawals"), _("Saved."))


@bp.route("/refunds")
@role_required(Role.FINANCE)
def refunds_page():
    """Refunds still pending or failed, with attempts and the provider's last error."""
    items = db.session.scalars(select(Refund).where(Refund.status.in_(["pending", "failed"]))
                               .order_by(Refund.status.desc(), Refund.id)).all()
    return render("finance/refunds.html", items=items)


@bp.route("/refunds/<int:refund_id>/retry", methods=["POST"])
@role_required(Role.FINANCE)
def retry_refund(refund_id):
    """Try a failed refund again (same out_request_no, so it can never pay twice)."""
    refund = db.get_or_404(Refund, refund_id)
    refunds.retry(refund, current_user)
    return redirect_after_post(url_for("finance.refunds_page"), _("Refund queued again."))


@bp.route("/projects/<slug>/fee-rate", methods=["POST"])
@role_required(Role.ADMIN)
def fee_rate(slug):
    """Admins set a project's platform fee between 5% and 10%."""
    project = projects.get_by_slug(slug) or abort(404)
    try:
        settlement.set_fee_rate(project, current_user, request.form.get("rate_bp", type=db_int) or 0)
    except settlement.SettlementError:
        return redirect_after_post(url_for("projects.funds", slug=slug), _("Choose a rate between 5% and 10%."),
                                   "error")
    return redirect_after_post(url_for("projects.funds", slug=slug), _("Fee rate saved."))


@bp.route("/ledger.csv")
@role_required(Role.FINANCE)
def ledger_csv():
    """Every ledger entry as CSV (one row per entry, with its transaction's hash)."""
    import csv
    import io

    from flask import Response

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["seq", "created_at", "kind", "idempotency_key", "project_id", "account", "amount_fen", "hash"])
    for row in ledger.export_rows():
        writer.writerow(row)
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=ledger.csv"
    return response


@bp.route("/reconciliation", methods=["GET", "POST"])
@role_required(Role.FINANCE)
def reconciliation():
    """The latest comparison of what the ledger says was paid with the provider's records (POST starts one now)."""
    if request.method == "POST":
        try:
            reconciliation_runs.start()
        except reconciliation_runs.ReconciliationError as error:
            if error.code == "running":
                return redirect_after_post(url_for("finance.reconciliation"),
                                           _("A reconciliation is already running; its progress is shown here."),
                                           "info")
            return redirect_after_post(url_for("finance.reconciliation"),
                                       _("The reconciliation could not be started. Try again in a minute."), "error")
        return redirect_after_post(url_for("finance.reconciliation"),
                                   _("Reconciliation started; the result appears here when it is done."))
    run = reconciliation_runs.latest_run()
    return render("finance/reconciliation.html", "reconciliation_status", report=run,
                  run_status=reconciliation_runs.shown_status(run), shown=50,
                  timeout_minutes=reconciliation_runs.timeout_seconds() // 60)
