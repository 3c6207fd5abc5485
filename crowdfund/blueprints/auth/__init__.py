"""Sign-up, login and logout."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from crowdfund.blueprints.auth import routes  # noqa: E402,F401
from crowdfund.blueprints.auth import phone  # noqa: E402,F401
from crowdfund.blueprints.auth import reset  # noqa: E402,F401
