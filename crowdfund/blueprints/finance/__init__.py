"""Finance: the withdrawal queue."""
from flask import Blueprint

bp = Blueprint("finance", __name__, url_prefix="/finance")

from crowdfund.blueprints.finance import routes  # noqa: E402,F401
