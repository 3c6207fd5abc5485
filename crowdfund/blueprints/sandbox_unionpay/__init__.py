"""The sandbox UnionPay gateway and cashier (registered only when PAYMENT_SANDBOX=1)."""
from flask import Blueprint

bp = Blueprint("sandbox_unionpay", __name__, url_prefix="/sandbox/unionpay")

from crowdfund.blueprints.sandbox_unionpay import routes  # noqa: E402,F401
