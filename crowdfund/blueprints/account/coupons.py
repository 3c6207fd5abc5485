"""The account's coupons: points balance, the coupons on offer (bought with points) and the ones held."""
from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crowdfund import coupons, points
from crowdfund.blueprints.account import bp
from crowdfund.blueprints.account.forms import RedeemForm
from crowdfund.htmx import is_htmx, redirect_after_post, render
from crowdfund.i18n import format_money
from crowdfund.security import login_required


def _wallet(status=200, message=None, category="success"):
    """The coupons page, or its `coupon_wallet` block for htmx."""
    return render("account/coupons.html", "coupon_wallet", status=status, message=message, category=category,
                  balance=points.balance(current_user.id), options=coupons.options(), form=RedeemForm(),
                  items=coupons.coupons_of(current_user), shown_status=coupons.shown_status)


@bp.route("/coupons", methods=["GET", "POST"])
@login_required
def coupons_page():
    """Redeem points for a coupon (the same points can buy one only once); list the coupons held."""
    if request.method == "GET":
        return _wallet()
    form = RedeemForm()
    if not form.validate_on_submit():
        return _wallet(422, _("Choose one of the coupons on offer."), "error")
    try:
        coupon = coupons.redeem(current_user, form.points.data)
    except coupons.UnknownOption:
        return _wallet(422, _("Choose one of the coupons on offer."), "error")
    except coupons.ShortOfPoints as short:
        return _wallet(409, _("This coupon costs %(cost)d points; you have %(balance)d.", cost=short.cost,
                              balance=short.balance), "error")
    done = _("You have a coupon worth %(value)s for your next pledge.", value=format_money(coupon.value_fen))
    if is_htmx():
        return _wallet(message=done)
    return redirect_after_post(url_for("account.coupons_page"), done)
