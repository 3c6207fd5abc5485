"""Sending SMS: one interface (`send(phone, template, params)`), chosen by `SMS_PROVIDER`.

`dev` (the default outside production) logs each message and keeps the latest ones for `/dev/sms`; `aliyun`
speaks Dysmsapi's signed RPC API (crowdfund/sms/aliyun.py). Codes are sent synchronously, not through a job:
the person waiting for the code must learn at once when the provider refused (e.g. Aliyun's per-number
flow control), and nothing is saved when it did.
"""
from flask import current_app
from flask_babel import lazy_gettext as _l

# Provider error codes people can act on; anything else is "try again later".
FRIENDLY_ERRORS = {
    "isv.BUSINESS_LIMIT_CONTROL": _l("This number has received too many codes recently. Please try again later."),
    "isv.DAY_LIMIT_CONTROL": _l("This number has received too many codes today. Please try again tomorrow."),
    "isv.MOBILE_NUMBER_ILLEGAL": _l("This mobile number cannot receive text messages."),
    "isv.BLACK_KEY_CONTROL_LIMIT": _l("This mobile number cannot receive text messages."),
}


class SmsError(Exception):
    """The message was not sent; `code` is the provider's error code (or ours), `str()` its own words."""

    def __init__(self, code, message=""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code

    @property
    def user_message(self):
        """What to tell the person waiting for the code."""
        return str(FRIENDLY_ERRORS.get(self.code) or _l("We could not send the text message just now. "
                                                        "Please try again in a few minutes."))


class SmsProvider:
    """Sends one templated text message; raises SmsError when it was not accepted."""

    def send(self, phone, template, params):  # pragma: no cover - the interface
        raise NotImplementedError


def provider(app=None):
    """The configured provider for this app (one instance per app)."""
    app = app or current_app
    instance = app.extensions.get("crowdfund_sms")
    if instance is None:
        name = app.config["SMS_PROVIDER"]
        if name == "dev":
            from crowdfund.sms.dev import DevProvider

            instance = DevProvider()
        elif name == "aliyun":
            from crowdfund.sms.aliyun import AliyunProvider

            config = app.config
            instance = AliyunProvider(config["ALIYUN_SMS_ACCESS_KEY_ID"], config["ALIYUN_SMS_ACCESS_KEY_SECRET"],
                                      config["ALIYUN_SMS_SIGN_NAME"], config["ALIYUN_SMS_TEMPLATE_CODE"],
                                      endpoint=config["ALIYUN_SMS_ENDPOINT"], timeout=config["SMS_TIMEOUT"])
        else:
            raise ValueError(f"unknown SMS_PROVIDER {name!r}")
        app.extensions["crowdfund_sms"] = instance
    return instance


def send(phone, template, params):
    """Send through the configured provider."""
    return provider().send(phone, template, params)
