"""Sharing a project: the share page (link to copy, Weibo, WeChat QR) and the QR image."""
from flask import Blueprint

bp = Blueprint("sharing", __name__)

from crowdfund.blueprints.sharing import routes  # noqa: E402,F401
