"""Gateway and cashier pages of the sandbox "UnionPay". The three gateway endpoints are CSRF-exempt because they
prove themselves by the merchant's signature; the cashier keeps its CSRF token."""
from flask import abort, make_response, redirect, request, url_for
from sqlalchemy import select

from crowdfund.blueprints.sandbox_unionpay import bp
from crowdfund.extensions import csrf, db
from crowdfund.htmx import render
from crowdfund.inputs import KB, body_limit
from crowdfund.models import SandboxTrade
from crowdfund.payments import sandbox_unionpay as sandbox


def _reply(text):
    response = make_response(text)
    response.headers["Content-Type"] = "text/plain;charset=UTF-8"
    return response


@bp.route("/gateway/api/frontTransReq.do", methods=["POST"])
@body_limit(32 * KB)
@csrf.exempt
def front():
    """The browser posts the merchant's signed payment form here: open the order, show the cashier."""
    try:
        trade = sandbox.open_trade(sandbox.verify_merchant(request.form.to_dict()))
    except sandbox.SandboxError as error:
        return render("sandbox/unionpay_error.html", status=400, error=error)
    return redirect(url_for("sandbox_unionpay.cashier", query_id=trade.trade_no), code=303)


@bp.route("/gateway/api/queryTrans.do", methods=["POST"])
@body_limit(32 * KB)
@csrf.exempt
def query():
    return _reply(sandbox.handle_query(request.form.to_dict()))


@bp.route("/gateway/api/backTransReq.do", methods=["POST"])
@body_limit(32 * KB)
@csrf.exempt
def back():
    return _reply(sandbox.handle_back(request.form.to_dict()))


@bp.route("/cashier/<query_id>", methods=["GET", "POST"])
def cashier(query_id):
    """Pay, Cancel, or Pay but lose the notification (to exercise reconciliation). Paying shows the form that
    takes the browser back to the merchant with the signed front notification."""
    trade = db.session.scalar(select(SandboxTrade).where(SandboxTrade.trade_no == query_id,
                                                         SandboxTrade.provider == "unionpay")) or abort(404)
    if request.method == "GET":
        return render("sandbox/unionpay_cashier.html", trade=trade, payable=sandbox.payable(trade))
    action = request.form.get("action")
    if action == "cancel":
        return redirect(url_for("pledges.mine"), code=303)
    if action not in ("pay", "pay_lose_notification"):
        abort(400)
    if not sandbox.payable(trade) and trade.status != sandbox.PAID:
        return render("sandbox/unionpay_cashier.html", status=409, trade=trade, payable=False)
    sandbox.pay(trade, deliver=action == "pay")
    if not trade.return_url:
        return redirect(url_for("pledges.mine"), code=303)
    return render("sandbox/unionpay_return.html", trade=trade, fields=sandbox.notification_params(trade))
