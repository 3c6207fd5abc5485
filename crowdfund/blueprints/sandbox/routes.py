"""Gateway and cashier pages of the sandbox "Alipay"."""
import json

from flask import abort, make_response, redirect, request, url_for
from sqlalchemy import select

from crowdfund.blueprints.sandbox import bp
from crowdfund.extensions import csrf, db
from crowdfund.htmx import render
from crowdfund.models import SandboxTrade
from crowdfund.payments import sandbox


@bp.route("/gateway.do", methods=["GET", "POST"])
@csrf.exempt
def gateway():
    """GET: a page/wap pay redirect → the cashier. POST: a server-to-server API call → signed JSON."""
    params = {**request.args.to_dict(), **request.form.to_dict()}
    method = params.get("method", "")
    if request.method == "POST" and method not in ("alipay.trade.page.pay", "alipay.trade.wap.pay"):
        response = make_response(sandbox.handle_api(params))
        response.headers["Content-Type"] = "application/json;charset=utf-8"
        return response
    if method not in ("alipay.trade.page.pay", "alipay.trade.wap.pay"):
        abort(400)
    try:
        sandbox.verify_merchant(params)
        trade = sandbox.open_trade(params, "wap" if method == "alipay.trade.wap.pay" else "pc")
    except sandbox.SandboxError as error:
        return render("sandbox/error.html", status=400, error=error)
    return redirect(url_for("sandbox.cashier", trade_no=trade.trade_no), code=303)


@bp.route("/cashier/<trade_no>", methods=["GET", "POST"])
def cashier(trade_no):
    """The cashier: Pay, Cancel, or Pay but lose the notification (to exercise reconciliation)."""
    trade = db.session.scalar(select(SandboxTrade).where(SandboxTrade.trade_no == trade_no)) or abort(404)
    if request.method == "GET":
        return render("sandbox/cashier.html", trade=trade, biz=json.dumps({}))
    action = request.form.get("action")
    if action == "cancel":
        return redirect(url_for("pledges.mine"), code=303)
    if action not in ("pay", "pay_lose_notification"):
        abort(400)
    target = sandbox.pay(trade, deliver=action == "pay")
    return redirect(target or url_for("pledges.mine"), code=303)
