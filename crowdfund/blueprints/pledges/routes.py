"""Views for backing a project and following one's pledges."""
import uuid

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crowdfund import accounts, coupons, delivery, discovery, divisions, legal, lifecycle, pledging
from crowdfund.blueprints.legal.routes import require_consent
from crowdfund.blueprints.pledges import bp
from crowdfund.blueprints.pledges.forms import AddressForm, PledgeForm
from crowdfund.confirmation import Confirmation
from crowdfund.extensions import db, limiter
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.i18n import PROVIDER_NAMES, REGION_NAMES, format_money
from crowdfund.models import Pledge
from crowdfund.payments import PaymentError, enabled_providers, provider_class, waiting
from crowdfund.payments.base import CHANNELS, channel_for
from crowdfund.security import email_verified_required, login_required
from crowdfund.sessions import hash_ip
from crowdfund.inputs import db_int

ERROR_FIELDS = {"coupon": "coupon", "amount": "amount", "sold_out": "tier", "unpaid_hold": "tier", "unpaid_limit": "tier", "region": "region", "address": "name", "risk": "accept_risk",
                "provider": "provider"}
PARTS = ("division_picker", "shipping_address")  # blocks htmx swaps when a select of the address changes
BLANK_MESSAGES = {
    "name": _l("Enter the recipient's name."), "phone": _l("Enter a mobile number."),
    "detail": _l("Enter the street address."),
}
CHOOSE_MESSAGES = {"province": _l("Choose a province."), "city": _l("Choose a city."),
                   "district": _l("Choose a district.")}
TYPE_MESSAGES = {"province": _l("Enter the province or state."), "city": _l("Enter the city."),
                 "district": _l("Enter the district.")}


def _messages(error, region=None, address=None):
    if isinstance(error, pledging.AmountTooLow):
        return _("The amount must be at least %(minimum)s.", minimum=format_money(error.minimum_fen))
    if isinstance(error, pledging.AddressRequired) and error.field:
        listed = CHOOSE_MESSAGES if divisions.listed(region) else TYPE_MESSAGES
        return str(BLANK_MESSAGES.get(error.field) or listed[error.field])
    if isinstance(error, pledging.UnlistedDivision):
        address = address or {}
        if error.other_region:
            return _("%(province)s is in %(region)s: choose that under “Ship to” first.",
                     province=address.get("province"), region=REGION_NAMES[error.other_region])
        return {"province": _("Choose a province from the list."),
                "city": _("Choose a city of %(province)s from the list.", province=address.get("province")),
                "district": _("Choose a district of %(city)s from the list.", city=address.get("city")),
                }[error.field]
    return {
        "sold_out": _("Sorry, this reward is sold out. Choose another one."),
        "unpaid_hold": _("You already hold this reward in an unpaid pledge: pay for it or cancel it (in “My "
                         "pledges”) before taking another."),
        "unpaid_limit": ngettext("You have %(num)d unpaid pledge: pay for it or cancel it (in “My pledges”) before "
                                 "starting another.",
                                 "You have %(num)d unpaid pledges: pay for or cancel one of them (in “My pledges”) "
                                 "before starting another.", getattr(error, "limit", 0)),
        "region": _("This reward does not ship to that region."),
        "address": _("Fill in every line of the shipping address."),
        "risk": _("Please confirm you have read the risk disclosure."),
        "closed": _("This project is not accepting pledges."),
        "coupon": _("This coupon cannot be used on this pledge: choose another or none."),
        "provider": _("Choose one of the payment methods offered."),
        "couponed": _("A pledge paid partly with a coupon keeps its reward: to choose another, cancel this pledge "
                      "(the coupon comes back to you) and pledge again."),
    }.get(error.code, _("Please check your pledge."))


def pledge_form(project, counts, formdata=None):
    """The pledge form with this project's tiers (sold-out ones shown but refused) and the backer's addresses.

    The newest saved address is preselected; "A new address" shows the fields to type one.
    """
    tier_id = request.args.get("tier", 0, type=db_int)
    saved = accounts.addresses_of(current_user)
    form = PledgeForm(formdata=formdata, tier=tier_id, idempotency_key=uuid.uuid4().hex,
                      channel=channel_for(request.user_agent.string), address_id=saved[0].id if saved else 0)
    form.tier.choices = [(0, _("No reward, just support (from ¥1)"))] + [
        (t.id, f"{t.title} · {format_money(t.price_fen)}") for t in project.tiers]
    form.address_id.choices = [(a.id, a.one_line()) for a in saved] + [(0, _("A new address"))]
    offered = enabled_providers()
    form.provider.choices = [(name, PROVIDER_NAMES[name]) for name in offered]
    if formdata is None:
        form.provider.data = offered[0]
    form.saved_addresses = saved
    chosen = form.tier.data if formdata is not None else tier_id
    tier = next((t for t in project.tiers if t.id == chosen), None)
    typed = (form.amount.raw_data or [""])[0].strip()
    if form.amount.data is None and not typed and tier is not None:
        form.amount.data = tier.price_fen  # a reward chosen, no amount typed: the reward's price
        form.amount.raw_data = []
    return form


def _saved(form):
    """The saved address chosen in the form, if any."""
    return next((a for a in form.saved_addresses if a.id == form.address_id.data), None)


def _address(form):
    """The shipping address: a saved one, or the typed one."""
    saved = _saved(form)
    if saved is not None:
        return {f: getattr(saved, f) for f in pledging.ADDRESS_FIELDS}, saved.region
    return {f: getattr(form, f).data or "" for f in pledging.ADDRESS_FIELDS}, form.region.data


def _summary(project, counts, form, tier):
    """The quote (what `start` will charge) and what stops it, for the summary above the pay button."""
    if form.amount.errors:
        return None, list(form.amount.errors)
    try:
        region = _address(form)[1] if tier is not None and tier.physical else None
        quote = pledging.quote(project, tier, form.amount.data, region)
        if tier is not None and counts[tier.id].sold_out:
            raise pledging.TierSoldOut()
    except pledging.PledgeError as error:
        return None, [_messages(error)]
    return quote, []


def _coupon_choice(form, quote):
    """The backer's coupons usable on this quote's total and the one chosen among them (None: no coupon)."""
    usable = coupons.available_for(current_user, quote.total_fen) if quote else []
    return {"usable": usable, "chosen": next((c for c in usable if c.id == form.coupon.data), None)}


def _show_errors(form, problems):
    """Put each problem beside its field; a saved address's problems go beside the address choice."""
    address, region = _address(form)
    if _saved(form) is None:
        return _place_errors(form, problems, region, address)
    if any(error.code in ("address", "division") for error in problems):
        form.address_id.errors = [_("Please renew this saved address: choose “A new address” and fill it in "
                                    "from the lists.")]
    problems = [error for error in problems if error.code not in ("address", "division")]
    return _place_errors(form, problems, region, address, dict(ERROR_FIELDS, region="address_id"))


def _place_errors(form, problems, region, address, fields=ERROR_FIELDS):
    """Add each problem's message to its field (the first one only where WTForms already complained);
    returns a message that belongs to no field."""
    unplaced = None
    for error in problems:
        name = getattr(error, "field", None) or fields.get(error.code)
        message = _messages(error, region, address)
        if name is None:
            unplaced = message
        elif not getattr(form, name).errors:
            getattr(form, name).errors = [message]
    return unplaced


def _render_form(project, progress, counts, form, tier, status=200, error=None, block="pledge_form", judge=True,
                 unpaid=()):
    quote, messages = _summary(project, counts, form, tier)
    if not judge:
        messages = []  # a form just opened shows the total if it can, not a complaint about what is not typed yet
    return render("pledges/new.html", block, status=status, project=project, progress=progress, counts=counts,
                  form=form, quote=quote, messages=messages, error=error, part=block if block in PARTS else None,
                  unpaid=unpaid, **_coupon_choice(form, quote),
                  picker=divisions.picker(form.region.data, form.province.data, form.city.data))


PLEDGE_NEEDS = _l("Backing a project needs a confirmed e-mail address.")


@bp.route("/projects/<slug>/back", methods=["GET", "POST"])
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_PLEDGE"], methods=["POST"],
               exempt_when=lambda: bool(request.args.get("check") or request.form.get("refresh")))
@email_verified_required(PLEDGE_NEEDS)
def back(slug):
    """Choose a reward or an amount, an address for physical rewards, accept the risks, then pay.

    A second submit button ("update total", "choose city"...) or, with htmx, a change re-renders the
    form with the quote and the next list of the address picker; nothing is saved until "Confirm and pay".
    """
    project, progress, counts = discovery.project_page(slug)
    if project is None or not lifecycle.is_public(project):
        abort(404)
    if not lifecycle.accepts_pledges(project):
        flash(_("This project is not accepting pledges."), "error")
        return redirect(url_for("projects.show", slug=slug), code=303)
    due = require_consent(legal.PLEDGE, request.full_path.rstrip("?") if request.method == "GET"
                          else url_for("pledges.back", slug=slug))
    if due is not None:
        return due
    form = pledge_form(project, counts, formdata=None if request.method == "GET" else request.form)
    tier = next((t for t in project.tiers if t.id == form.tier.data), None)
    if request.method == "GET":
        return _render_form(project, progress, counts, form, tier, judge=False,
                            unpaid=pledging.awaiting_payment(current_user, project))
    if request.args.get("check"):
        form.validate()
        part = request.args.get("part")
        if part in PARTS:
            return _render_form(project, progress, counts, form, tier, block=part)
        quote, messages = _summary(project, counts, form, tier)
        return render("pledges/new.html", "pledge_summary", status=422 if messages else 200, project=project,
                      progress=progress, counts=counts, form=form, quote=quote, messages=messages,
                      **_coupon_choice(form, quote))
    if request.form.get("refresh"):
        form.validate()
        for field in form:
            field.errors = []  # a second submit prices and lists; it does not judge the form yet
        return _render_form(project, progress, counts, form, tier)
    valid = form.validate_on_submit()
    address, region = _address(form)
    problems = pledging.check(project, tier, form.amount.data, region=region, address=address,
                              risk_accepted=form.accept_risk.data)
    if not valid or problems:
        error = _show_errors(form, problems)
        return _render_form(project, progress, counts, form, tier, status=422, error=error)
    try:
        pledge = pledging.start(current_user, project, tier, form.amount.data,
                                idempotency_key=form.idempotency_key.data, region=region, address=address,
                                anonymous=form.anonymous.data, risk_accepted=form.accept_risk.data,
                                channel=form.channel.data, provider=form.provider.data, consent=True, client_hash=hash_ip(request.remote_addr),
                                coupon_id=form.coupon.data or None)
    except pledging.PledgeError as error:
        return _render_form(project, progress, counts, form, tier, status=422, error=_show_errors(form, [error]))
    if tier is not None and tier.physical and _saved(form) is None and form.save_address.data:
        accounts.add_address(current_user, region=region, **address)
    return _go_pay(pledge)


def _go_pay(pledge, channel=None):
    """Send the browser to the provider (our QR page, or a form it posts to the provider); a provider outage
    leaves the pledge payable."""
    channel = provider_class(pledge.provider).channel_for(channel or pledge.channel)
    if channel == "qr":
        return redirect(url_for("pledges.qr", pledge_id=pledge.id), code=303)
    try:
        target = pledging.payment_redirect(pledge, channel)
    except PaymentError:
        current_app.logger.exception("could not start payment for pledge %s", pledge.id)
        flash(_("%(provider)s is not reachable right now. Your reward is held for you; please try again shortly.",
                provider=PROVIDER_NAMES[pledge.provider]), "error")
        return redirect(url_for("pledges.show", pledge_id=pledge.id), code=303)
    if target.form is not None:
        return render("pledges/to_provider.html", pledge=pledge, target=target)
    return redirect(target.url, code=303)


def own_pledge(pledge_id):
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None or pledge.backer_id != current_user.id:
        abort(404)
    return pledge


@bp.route("/me/pledges")
@login_required
def mine():
    """My pledges: status, amount, reward, receipt."""
    items = pledging.pledges_of(current_user)
    return render("pledges/mine.html", items=items, payable={p.id for p in items if pledging.can_pay(p)})


@bp.route("/me/pledges/<int:pledge_id>")
@login_required
def show(pledge_id):
    """One pledge: "processing" until the provider's notification is applied, then the receipt (htmx polls).

    While it waits, Alipay is asked directly a few seconds after the backer came back (rate-limited per pledge).
    """
    pledge = own_pledge(pledge_id)
    returned = waiting.returned_at(session, pledge)
    answer = waiting.check(pledge, returned=returned)
    late = delivery.is_late(pledge)
    return render("pledges/show.html", "payment_status", pledge=pledge,
                  can_pay=pledging.can_pay(pledge) and answer not in ("paid", "closed"),
                  reload_after=waiting.reload_after(pledge, returned),
                  can_pledge_again=pledging.can_pledge_again(pledge),
                  can_cancel=pledging.can_cancel(pledge),
                  change_options=pledging.tier_change_options(pledge) if pledging.can_change_tier(pledge) else [],
                  late=late, claim=delivery.claim_split(pledge) if late else None,
                  promised_by=delivery.promised_by(pledge.tier.delivery_month) if pledge.tier else None,
                  change_key=uuid.uuid4().hex)


DELIVERY_MESSAGES = {
    "not_shipped": _l("This reward has not shipped yet."),
    "not_received": _l("Confirm receipt before rating."),
    "rated": _l("You already rated this reward."),
    "stars": _l("Choose from one to five stars."),
    "not_late": _l("This reward is not late, so there is nothing to claim."),
    "nothing": _l("Nothing is left in escrow to give back."),
}


def _delivery_action(pledge_id, action, done_message):
    pledge = own_pledge(pledge_id)
    try:
        action(pledge)
    except delivery.DeliveryError as error:
        db.session.rollback()
        return redirect_after_post(url_for("pledges.show", pledge_id=pledge_id),
                                   str(DELIVERY_MESSAGES.get(error.code, _("That is not possible."))), "error")
    return redirect_after_post(url_for("pledges.show", pledge_id=pledge_id), done_message)


@bp.route("/me/pledges/<int:pledge_id>/received", methods=["POST"])
@login_required
def received(pledge_id):
    """Confirm receipt of the reward (确认收货)."""
    return _delivery_action(pledge_id, lambda pledge: delivery.confirm_receipt(pledge, current_user),
                            _("Thank you for confirming. You can rate the reward now."))


@bp.route("/me/pledges/<int:pledge_id>/rating", methods=["POST"])
@login_required
def rating(pledge_id):
    """Rate a received reward from one to five stars, with an optional comment."""
    stars = request.form.get("stars", type=db_int)
    return _delivery_action(pledge_id, lambda pledge: delivery.rate(pledge, current_user, stars,
                                                                    request.form.get("comment", "")),
                            _("Thank you for your rating."))


@bp.route("/me/pledges/<int:pledge_id>/claim", methods=["POST"])
@login_required
def claim(pledge_id):
    """Claim the money back for a reward past its promised date plus the grace period."""
    return _delivery_action(pledge_id, lambda pledge: delivery.claim_late(pledge, current_user),
                            _("Your claim is accepted; the refund is on its way."))


@bp.route("/me/pledges/<int:pledge_id>/change", methods=["POST"])
@login_required
def change(pledge_id):
    """Move to another reward: a cheaper one refunds the difference; a dearer one is paid, then the old refunded."""
    pledge = own_pledge(pledge_id)
    tier = next((t for t in pledge.project.tiers if t.id == request.form.get("tier", type=db_int)), None)
    try:
        result = pledging.change_tier(pledge, current_user, tier, request.form.get("idempotency_key") or
                                      uuid.uuid4().hex)
    except pledging.PledgeError as error:
        message = _messages(error) if error.code != "invalid" else _("Choose another reward of this project.")
        if error.code == "address":
            message = _("This reward is shipped; to choose it, cancel this pledge and back the project again "
                        "with an address.")
        return redirect_after_post(url_for("pledges.show", pledge_id=pledge_id), message, "error")
    if result.id != pledge.id:
        return _go_pay(result)
    return redirect_after_post(url_for("pledges.show", pledge_id=pledge_id),
                               _("Reward changed. The difference is being refunded."))


@bp.route("/me/pledges/<int:pledge_id>/pay", methods=["POST"])
@login_required
def pay(pledge_id):
    """Pay (again) for a pending pledge, optionally on another channel; never for a trade its provider paid or
    closed."""
    pledge = own_pledge(pledge_id)
    answer = waiting.check(pledge, eager=True)
    name = PROVIDER_NAMES[pledge.provider]
    if answer == "paid":
        return redirect_after_post(url_for("pledges.show", pledge_id=pledge.id),
                                   _("%(provider)s has already received this payment; there is no need to pay "
                                     "again.", provider=name))
    if answer == "closed":
        return redirect_after_post(url_for("pledges.show", pledge_id=pledge.id),
                                   _("%(provider)s has closed this payment, so it can no longer be paid.",
                                     provider=name), "error")
    if not pledging.can_pay(pledge):
        return redirect_after_post(url_for("pledges.show", pledge_id=pledge.id),
                                   _("This pledge can no longer be paid."), "error")
    channel = request.form.get("channel")
    return _go_pay(pledge, channel if channel in CHANNELS else None)


@bp.route("/me/pledges/<int:pledge_id>/again", methods=["POST"])
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_PLEDGE"])
@email_verified_required(PLEDGE_NEEDS, back_to=lambda pledge_id: url_for("pledges.show", pledge_id=pledge_id))
def again(pledge_id):
    """Back again after Alipay closed the trade unpaid: a new pledge like this one (its slot held again), then pay."""
    pledge = own_pledge(pledge_id)
    try:
        new = pledging.pledge_again(pledge, current_user, client_hash=hash_ip(request.remote_addr))
    except pledging.PledgeError as error:
        return redirect_after_post(url_for("pledges.show", pledge_id=pledge_id), _messages(error), "error")
    if not pledging.can_pay(new):
        return redirect(url_for("pledges.show", pledge_id=new.id), code=303)
    return _go_pay(new)


@bp.route("/me/pledges/<int:pledge_id>/cancel", methods=["POST"])
@login_required
def cancel(pledge_id):
    """Cancel before the last 24 hours, after confirming; a paid pledge is refunded in full."""
    pledge = own_pledge(pledge_id)
    back = url_for("pledges.show", pledge_id=pledge_id)
    if not pledging.can_cancel(pledge):
        return redirect_after_post(back, _("This pledge can no longer be cancelled."), "error")
    paid = pledge.status.value == "paid"
    step = Confirmation(
        url_for("pledges.cancel", pledge_id=pledge_id), subject=pledge.project.title, back=back,
        title=_("Cancel this pledge?"), button=_("Yes, cancel the pledge"),
        consequences=[
            _("Once cancelled, the %(amount)s you paid is refunded the way you paid it.",
              amount=format_money(pledge.due_fen)) if paid else
            _("This pledge is not paid, so nothing is refunded."),
            _("The reward “%(title)s” is freed for other backers.", title=pledge.tier.title) if pledge.tier else None,
            _("This cannot be undone; to back the project again you make a new pledge."),
        ])
    if (response := step.ask()) is not None:
        return response
    try:
        pledging.cancel(pledge, current_user)
    except pledging.PledgeError:
        return redirect_after_post(back, _("This pledge can no longer be cancelled."), "error")
    return redirect_after_post(back, _("Pledge cancelled. Any payment is being refunded in full."))


@bp.route("/me/pledges/<int:pledge_id>/qr")
@login_required
def qr(pledge_id):
    """A QR code to scan with the provider's app (Alipay, WeChat); the status below updates by itself.

    The status block's polls do not place the order again: they show no code, and WeChat Pay answers
    ORDERPAID to an order placed again after the backer paid, which is not an outage to report."""
    import segno

    pledge = own_pledge(pledge_id)
    qr_svg_html = None
    if pledging.can_pay(pledge) and not is_htmx():
        try:
            code = pledging.payment_redirect(pledge, "qr").qr_code  # None: paid already, nothing to scan
            if code:
                qr_svg_html = segno.make(code, error="m").svg_inline(scale=5, dark="#1f2328", light="#ffffff")
        except PaymentError:
            flash(_("%(provider)s is not reachable right now. Your reward is held for you; please try again "
                    "shortly.", provider=PROVIDER_NAMES[pledge.provider]), "error")
    return render("pledges/qr.html", "payment_status", pledge=pledge, qr_svg_html=qr_svg_html,
                  can_pay=pledging.can_pay(pledge))


@bp.route("/account/addresses", methods=["GET", "POST"])
@login_required
def addresses():
    """The address book: add (province, city and district from the list) and remove shipping addresses."""
    form = AddressForm()
    part = request.args.get("part")
    status = 200
    if form.is_submitted() and (part == "division_picker" or request.form.get("refresh")):
        form.validate()
        for field in form:
            field.errors = []  # choosing from the lists, not saving yet
    elif form.validate_on_submit():
        values = {f: getattr(form, f).data or "" for f in pledging.ADDRESS_FIELDS}
        problems = pledging.address_problems(form.region.data, values)
        if not problems:
            created = accounts.add_address(current_user, region=form.region.data, **values)[1]
            return redirect_after_post(url_for("pledges.addresses"), _("Address saved.") if created
                                       else _("This address is already in your address book."))
        _place_errors(form, problems, form.region.data, values)
        status = 422
    elif form.is_submitted():
        status = 422
    return render("pledges/addresses.html", "division_picker" if part == "division_picker" else "address_form",
                  status=status, form=form, items=accounts.addresses_of(current_user),
                  picker=divisions.picker(form.region.data, form.province.data, form.city.data))


@bp.route("/account/addresses/<int:address_id>/delete", methods=["POST"])
@login_required
def delete_address(address_id):
    """Remove a saved address, after confirming."""
    address = next((a for a in accounts.addresses_of(current_user) if a.id == address_id), None)
    if address is None:
        abort(404)
    step = Confirmation(
        url_for("pledges.delete_address", address_id=address_id), subject=_("Address book"),
        back=url_for("pledges.addresses"), title=_("Remove this address?"), button=_("Yes, remove it"),
        consequences=[_("“%(address)s” is removed from your address book.", address=address.one_line()),
                      _("Pledges already made keep the address they were sent to.")])
    if (response := step.ask()) is not None:
        return response
    if not accounts.delete_address(current_user, address_id):
        abort(404)
    return redirect_after_post(url_for("pledges.addresses"), _("Address removed."))
