"""Project updates, the Atom feed, following and reminders."""
from flask import Blueprint

bp = Blueprint("updates", __name__)

from crowdfund.blueprints.updates import routes  # noqa: E402,F401
