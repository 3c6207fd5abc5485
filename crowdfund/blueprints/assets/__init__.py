"""Fingerprinted static files."""
from flask import Blueprint

bp = Blueprint("assets", __name__)

from crowdfund.blueprints.assets import routes  # noqa: E402,F401
