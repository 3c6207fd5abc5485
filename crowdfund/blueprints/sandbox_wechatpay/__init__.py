"""The sandbox WeChat Pay gateway (API v3) and cashier (registered only when PAYMENT_SANDBOX=1)."""
from flask import Blueprint

bp = Blueprint("sandbox_wechatpay", __name__, url_prefix="/sandbox/wechatpay")

from crowdfund.blueprints.sandbox_wechatpay import routes  # noqa: E402,F401
