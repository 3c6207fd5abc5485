"""The sandbox Alipay gateway and cashier (registered only when PAYMENT_SANDBOX=1)."""
from flask import Blueprint

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox/alipay")

from crowdfund.blueprints.sandbox import routes  # noqa: E402,F401
