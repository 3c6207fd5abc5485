"""Pages anyone can see: home, language switch, health check."""
from flask import Blueprint

bp = Blueprint("public", __name__)

from crowdfund.blueprints.public import routes  # noqa: E402,F401
