"""Provider callbacks. The notify endpoint is CSRF-exempt because it checks the provider's signature instead."""
from flask import abort, current_app, make_response, redirect, request, session, url_for
from sqlalchemy import select

from crowdfund.blueprints.payments import bp
from crowdfund.extensions import csrf, db, limiter
from crowdfund.inputs import KB, body_limit
from crowdfund.models import Pledge
from crowdfund.payments import get_provider, waiting
from crowdfund.payments.callbacks import receive


@bp.route("/alipay/notify", methods=["POST"])
@body_limit(32 * KB)  # a real notification is 1–3 KB; anything bigger is refused (413) before it is parsed
@limiter.limit(lambda: current_app.config["RATELIMIT_NOTIFY"])  # per source address
@csrf.exempt
def alipay_notify():
    """Alipay's asynchronous notification: verify, store, answer "success" (or "fail"); a job applies it."""
    provider = get_provider("alipay")
    raw = request.get_data(cache=True, as_text=True)  # read the body before the form parser consumes it
    accepted, _ = receive("alipay", request.form.to_dict(), raw)
    response = make_response(provider.ack_success if accepted else provider.ack_failure)
    response.mimetype = "text/plain"
    return response


@bp.route("/alipay/return")
def alipay_return():
    """Where Alipay sends the browser back: check the signature, then show the pledge (never mark it paid here).

    The moment is remembered: the pledge page asks Alipay itself if the notification is still missing a
    few seconds later.
    """
    if not get_provider("alipay").verify_return(request.args.to_dict()):
        abort(400)
    pledge = db.session.scalar(select(Pledge).where(Pledge.out_trade_no == request.args.get("out_trade_no")))
    if pledge is None:
        abort(404)
    waiting.note_return(session, pledge)
    return redirect(url_for("pledges.show", pledge_id=pledge.id), code=303)
