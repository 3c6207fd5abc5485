"""The notification centre, e-mail preferences and one-click unsubscribe."""
from flask import Blueprint

bp = Blueprint("notices", __name__)

from crowdfund.blueprints.notices import routes  # noqa: E402,F401
