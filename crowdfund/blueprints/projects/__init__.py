"""Public project pages, categories and search."""
from flask import Blueprint

bp = Blueprint("projects", __name__)

from crowdfund.blueprints.projects import routes  # noqa: E402,F401
