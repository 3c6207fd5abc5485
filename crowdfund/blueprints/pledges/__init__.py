"""Backing a project, and the backer's own pledges."""
from flask import Blueprint

bp = Blueprint("pledges", __name__)

from crowdfund.blueprints.pledges import routes  # noqa: E402,F401
