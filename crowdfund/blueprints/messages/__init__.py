"""Private messages: thread list, a thread, sending, blocking and reporting."""
from flask import Blueprint

bp = Blueprint("messages", __name__, url_prefix="/messages")

from crowdfund.blueprints.messages import routes  # noqa: E402,F401
