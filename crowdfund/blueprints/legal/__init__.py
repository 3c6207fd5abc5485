"""Legal documents: reading every version, and accepting new versions before going on."""
from flask import Blueprint

bp = Blueprint("legal", __name__, url_prefix="/legal")

from crowdfund.blueprints.legal import routes  # noqa: E402,F401
