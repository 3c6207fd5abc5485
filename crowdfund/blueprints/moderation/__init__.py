"""Moderators: the review queue, decisions, creator verifications and the risk alerts queue."""
from flask import Blueprint

bp = Blueprint("moderation", __name__, url_prefix="/moderation")

from crowdfund.blueprints.moderation import alerts, routes  # noqa: E402,F401


@bp.app_template_global("open_risk_alerts")
def open_risk_alerts():
    """The number of risk alerts nobody has looked at yet, for the moderators' nav."""
    from crowdfund import risk

    return risk.open_count()
