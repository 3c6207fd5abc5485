"""Views for finance admins."""
from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import settlement
from crowdfund.blueprints.finance import bp
from crowdfund.extensions import db
from crowdfund.htmx import redirect_after_post, render
from crowdfund.models import Role, Withdrawal
from crowdfund.security import role_required


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
