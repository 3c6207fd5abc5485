"""Comments, questions, official replies, FAQ and the moderators' question queue."""
from flask import Blueprint

bp = Blueprint("comments", __name__)

from crowdfund.blueprints.comments import routes  # noqa: E402,F401
