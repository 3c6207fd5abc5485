"""A person's own account: profile and password."""
from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from crowdfund.blueprints.account import routes  # noqa: E402,F401
from crowdfund.blueprints.account import phone  # noqa: E402,F401
from crowdfund.blueprints.account import coupons, points  # noqa: E402,F401
