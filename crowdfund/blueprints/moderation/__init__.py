"""Moderators: the review queue, decisions and creator verifications."""
from flask import Blueprint

bp = Blueprint("moderation", __name__, url_prefix="/moderation")

from crowdfund.blueprints.moderation import routes  # noqa: E402,F401
