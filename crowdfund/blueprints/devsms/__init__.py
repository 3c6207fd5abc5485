"""/dev/sms: the codes the development SMS provider "sent", for trying phone sign-in locally."""
from flask import Blueprint

bp = Blueprint("devsms", __name__, url_prefix="/dev")

from crowdfund.blueprints.devsms import routes  # noqa: E402,F401
