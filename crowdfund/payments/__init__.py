"""Payment providers behind one interface (SPEC 2.2); `get_provider()` returns the configured one."""
from crowdfund.payments.base import (Notification, PaymentError, PaymentRedirect, PaymentProvider,
                                     ProviderUnavailable, RefundResult, TradeStatus, InvalidNotification)


def get_provider(name="alipay"):
    """The provider for `name`, built from the app's configuration."""
    from flask import current_app

    providers = current_app.extensions.setdefault("crowdfund_payment_providers", {})
    if name not in providers:
        if name != "alipay":
            raise ValueError(f"unknown payment provider {name!r}")
        from crowdfund.payments.alipay import AlipayProvider

        providers[name] = AlipayProvider.from_config(current_app.config, current_app.instance_path)
    return providers[name]


__all__ = ["InvalidNotification", "Notification", "PaymentError", "PaymentProvider", "PaymentRedirect",
           "ProviderUnavailable", "RefundResult", "TradeStatus", "get_provider"]
