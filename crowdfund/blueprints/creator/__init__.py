"""A creator's own pages: my projects and verification."""
from flask import Blueprint

bp = Blueprint("creator", __name__, url_prefix="/me")

from crowdfund.blueprints.creator import routes  # noqa: E402,F401
