"""API v3 endpoints and the cashier page of the sandbox "WeChat Pay"."""
from flask import abort, redirect, request, url_for

from crowdfund.blueprints.sandbox_wechatpay import bp
from crowdfund.extensions import csrf
from crowdfund.htmx import render
from crowdfund.payments import sandbox_wechatpay as sandbox

ORDERS = "/v3/pay/transactions"
# The API v3 paths the sandbox answers, and the operation each one is.
OPERATIONS = {f"{ORDERS}/native": "native", f"{ORDERS}/h5": "h5", f"{ORDERS}/out-trade-no/<out_trade_no>": "query",
              f"{ORDERS}/out-trade-no/<out_trade_no>/close": "close", "/v3/refund/domestic/refunds": "refund"}


@bp.route(f"{ORDERS}/native", methods=["POST"])
@bp.route(f"{ORDERS}/h5", methods=["POST"])
@bp.route(f"{ORDERS}/out-trade-no/<out_trade_no>", methods=["GET"])
@bp.route(f"{ORDERS}/out-trade-no/<out_trade_no>/close", methods=["POST"])
@bp.route("/v3/refund/domestic/refunds", methods=["POST"])
@csrf.exempt  # server-to-server: each request proves itself by the merchant's signature instead
def api(out_trade_no=None):
    """A merchant's API v3 call: signed JSON back, as WeChat answers (errors too)."""
    operation = OPERATIONS[request.url_rule.rule.removeprefix(bp.url_prefix)]
    return sandbox.handle(request, operation, out_trade_no)


@bp.route("/cashier/<trade_no>", methods=["GET", "POST"])
def cashier(trade_no):
    """What scanning the code_url (or following the h5_url) opens: Pay, Cancel, or Pay but lose the
    notification (to exercise reconciliation). After an H5 payment the browser goes to redirect_url."""
    trade = sandbox.by_trade_no(trade_no) or abort(404)
    back = sandbox.safe_redirect(request.values.get("redirect_url"))
    if request.method == "GET":
        return render("sandbox/wechatpay_cashier.html", trade=trade, back=back, state_names=sandbox.STATE_NAMES)
    action = request.form.get("action")
    if action == "cancel":
        return redirect(back or url_for("pledges.mine"), code=303)
    if action not in ("pay", "pay_lose_notification"):
        abort(400)
    sandbox.pay(trade, deliver=action == "pay")
    return redirect(back or url_for("sandbox_wechatpay.cashier", trade_no=trade.trade_no), code=303)
