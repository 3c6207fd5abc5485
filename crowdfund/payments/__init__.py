"""Payment providers behind one interface (SPEC 2.2); `get_provider(name)` returns the configured one.

PAYMENT_PROVIDERS names the ones backers may choose, in the order the pledge form offers them; a pledge
remembers its provider, so its refunds, queries and reconciliation always go back to the one that took the money.
"""
from importlib import import_module

from crowdfund.payments.base import (NothingToApply, Notification, PaymentError, PaymentRedirect, PaymentProvider,
                                     ProviderUnavailable, RefundResult, TradeStatus, InvalidNotification)

# name → "module:class"; imported on first use (each pulls in its own SDK).
PROVIDERS = {
    "alipay": "crowdfund.payments.alipay:AlipayProvider",
    "wechatpay": "crowdfund.payments.wechatpay:WechatPayProvider",
    "unionpay": "crowdfund.payments.unionpay:UnionPayProvider",
}


def provider_class(name):
    """The class of provider `name` (ValueError for a name we do not know); nothing is built or asked."""
    if name not in PROVIDERS:
        raise ValueError(f"unknown payment provider {name!r}")
    module, _, cls = PROVIDERS[name].partition(":")
    return getattr(import_module(module), cls)


def get_provider(name="alipay"):
    """The provider for `name`, built from the app's configuration on first use (ValueError for an unknown name)."""
    from flask import current_app

    providers = current_app.extensions.setdefault("crowdfund_payment_providers", {})
    if name not in providers:
        providers[name] = provider_class(name).from_config(current_app.config, current_app.instance_path)
    return providers[name]


def enabled_providers():
    """The providers backers may choose now, in the configured order."""
    from flask import current_app

    return [name for name in current_app.config["PAYMENT_PROVIDERS"] if name in PROVIDERS]


__all__ = ["InvalidNotification", "NothingToApply", "Notification", "PaymentError", "PaymentProvider", "PaymentRedirect",
           "ProviderUnavailable", "RefundResult", "TradeStatus", "enabled_providers", "get_provider",
           "provider_class"]
