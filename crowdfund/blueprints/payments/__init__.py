"""Endpoints payment providers call: asynchronous notifications and the browser's return."""
from flask import Blueprint

bp = Blueprint("payments", __name__, url_prefix="/payments")

from crowdfund.blueprints.payments import routes  # noqa: E402,F401
