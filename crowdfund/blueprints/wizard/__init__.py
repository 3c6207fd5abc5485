"""The launch wizard: one URL per step, for the draft's owner."""
from flask import Blueprint

bp = Blueprint("wizard", __name__, url_prefix="/me/projects")

from crowdfund.blueprints.wizard import routes  # noqa: E402,F401
