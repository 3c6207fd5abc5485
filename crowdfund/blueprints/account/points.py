"""The signed-in person's points: balance, how they are earned, and their history."""
from flask import url_for
from flask_login import current_user

from crowdfund import growth, points
from crowdfund.blueprints.account import bp
from crowdfund.htmx import render
from crowdfund.security import login_required


@bp.route("/points", endpoint="points")
@login_required
def points_page():
    """我的积分: the balance, the earning rules (from the configuration) and the latest entries."""
    return render("account/points.html", "points_history", balance=points.balance(current_user.id),
                  rules=growth.rules(), reasons=growth.reason_names(), history=growth.points_history(current_user),
                  coupons_url=url_for("account.coupons_page"))
