"""Provider callbacks, one pair of routes for every provider. The notify endpoint is CSRF-exempt because it checks
the provider's signature instead."""
from flask import abort, current_app, make_response, redirect, request, session, url_for
from sqlalchemy import select

from crowdfund.blueprints.payments import bp
from crowdfund.extensions import csrf, db, limiter
from crowdfund.inputs import KB, body_limit
from crowdfund.models import Pledge
from crowdfund.payments import PROVIDERS, PaymentError, get_provider, waiting
from crowdfund.payments.callbacks import receive


def _provider(provider):
    """The provider named in the address; 404 for one we do not know or that is not configured here. (One no
    longer offered to backers still answers: its pledges' notifications must land.)"""
    if provider not in PROVIDERS:
        abort(404)
    try:
        return get_provider(provider)
    except PaymentError:
        abort(404)


@bp.route("/<provider>/notify", methods=["POST"])
@body_limit(32 * KB)  # a real notification is 1–3 KB; anything bigger is refused (413) before it is parsed
@limiter.limit(lambda: current_app.config["RATELIMIT_NOTIFY"])  # per source address
@csrf.exempt
def notify(provider):
    """A provider's asynchronous notification: verify, store, acknowledge the way it expects; a job applies it."""
    gateway = _provider(provider)
    raw = request.get_data(cache=True, as_text=True)  # read the body before the form parser consumes it
    accepted, row = receive(provider, gateway.notification_params(request), raw)
    body, status, mimetype = gateway.acknowledge(accepted, row.reason)
    response = make_response(body, status)
    response.mimetype = mimetype
    return response


@bp.route("/<provider>/return", methods=["GET", "POST"])
@csrf.exempt
def return_(provider):
    """Where the provider sends the browser back: check the signature, then show the pledge (never mark it paid
    here). A POST (UnionPay's front notification) comes from another site, so it carries no session: it only
    checks and turns into a GET of this same address with our own signed `back` token, which does. Providers
    whose return carries no signature of theirs (WeChat Pay's H5 redirect) are given that token up front.

    The moment is remembered: the pledge page asks the provider itself if the notification is still missing a
    few seconds later.
    """
    gateway = _provider(provider)
    if request.method == "GET" and request.args.get("back"):
        out_trade_no = waiting.trade_of_return_token(request.args["back"])  # our own signed address
    else:
        out_trade_no = gateway.returned_trade(gateway.return_params(request))
    if not out_trade_no:
        abort(400)
    pledge = db.session.scalar(select(Pledge).where(Pledge.out_trade_no == out_trade_no, Pledge.provider == provider))
    if pledge is None:
        abort(404)
    if request.method == "POST":
        return redirect(url_for("payments.return_", provider=provider, back=waiting.return_token(out_trade_no)),
                        code=303)
    waiting.note_return(session, pledge)
    return redirect(url_for("pledges.show", pledge_id=pledge.id), code=303)
