"""Alipay through alipay-sdk-python (3.7.x), with the SDK's sharp edges handled here.

- Notifications: the SDK has no helper. We build the content with its `get_sign_content` after
  dropping `sign`, `sign_type` and empty values, and verify with `rsa.verify` ourselves so we can
  insist on SHA-256 (RSA2); the SDK's `verify_with_rsa` returns only a bool and accepts SHA-1 too.
- Amounts go to the SDK as strings like "88.00" (a Decimal raises, a float prints 88.0, 0 vanishes).
- `execute()` ignores an explicit port in `server_url` and raises TypeError on it, and raises on a
  non-200 reply. We sign with the SDK (`page_execute(..., "GET")`), send the request ourselves, and
  verify the reply with the SDK's own response check.
- Success means `code == "10000"`; `is_success()` is not enough.
- The SDK logs signed URLs at INFO: it gets a logger that only passes warnings.
- The gateway URL is always configured explicitly (`sandbox_debug=True` points at a retired sandbox).
- Timestamps are Beijing time, whatever the server's time zone.
"""
import base64
import logging
import urllib.error
import urllib.request
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import rsa
from alipay.aop.api import DefaultAlipayClient as sdk_client_module
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradeCloseModel import AlipayTradeCloseModel
from alipay.aop.api.domain.AlipayTradePagePayModel import AlipayTradePagePayModel
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.domain.AlipayTradeWapPayModel import AlipayTradeWapPayModel
from alipay.aop.api.request.AlipayTradeCloseRequest import AlipayTradeCloseRequest
from alipay.aop.api.request.AlipayTradePagePayRequest import AlipayTradePagePayRequest
from alipay.aop.api.request.AlipayTradePrecreateRequest import AlipayTradePrecreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.request.AlipayTradeWapPayRequest import AlipayTradeWapPayRequest
from alipay.aop.api.response.AlipayTradeCloseResponse import AlipayTradeCloseResponse
from alipay.aop.api.response.AlipayTradePrecreateResponse import AlipayTradePrecreateResponse
from alipay.aop.api.response.AlipayTradeQueryResponse import AlipayTradeQueryResponse
from alipay.aop.api.response.AlipayTradeRefundResponse import AlipayTradeRefundResponse
from alipay.aop.api.util.SignatureUtils import fill_public_key_marker, get_sign_content

from crowdfund.payments.base import (InvalidNotification, Notification, PaymentError, PaymentProvider,
                                     PaymentRedirect, ProviderUnavailable, RefundResult, TradeStatus)
from crowdfund.payments.keys import load_pem, sandbox_keys

BEIJING = ZoneInfo("Asia/Shanghai")
PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
log = logging.getLogger(__name__)


class _BeijingClock:
    """Stands in for the `datetime` module inside the SDK so its timestamps are Beijing time."""

    class datetime:  # noqa: N801 - mirrors the module attribute the SDK calls
        @staticmethod
        def now():
            return datetime.now(BEIJING).replace(tzinfo=None)


sdk_client_module.datetime = _BeijingClock

_sdk_logger = logging.getLogger("crowdfund.payments.alipay.sdk")
_sdk_logger.setLevel(logging.WARNING)  # INFO lines carry signed URLs


def yuan(fen):
    """Integer fen as the string Alipay expects: 8800 → "88.00"."""
    fen = int(fen)
    if fen <= 0:
        raise ValueError("amounts sent to Alipay must be positive")
    return f"{fen // 100}.{fen % 100:02d}"


def to_fen(text):
    """ "88.00" → 8800, exactly; InvalidOperation for anything that is not an amount of whole fen ("sNaN", "1e9")."""
    amount = Decimal(text)
    if not amount.is_finite() or amount < 0 or amount > 100_000_000 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidOperation(text)
    return int(amount * 100)


def verify_params(params, public_key):
    """Check an Alipay-signed parameter set (notification or return URL); returns the unsigned params or raises."""
    params = dict(params)
    sign = params.pop("sign", None)
    sign_type = params.pop("sign_type", None)
    if not sign:
        raise InvalidNotification("sign missing")
    if sign_type != "RSA2":
        raise InvalidNotification(f"sign_type must be RSA2, got {sign_type!r}")
    content = get_sign_content({k: v for k, v in params.items() if v not in (None, "")})
    try:
        method = rsa.verify(content.encode("utf-8"), base64.b64decode(sign),
                            rsa.PublicKey.load_pkcs1_openssl_pem(fill_public_key_marker(public_key).encode()))
    except (rsa.VerificationError, ValueError, TypeError):
        raise InvalidNotification("bad signature") from None
    if method != "SHA-256":
        raise InvalidNotification(f"signature uses {method}, not SHA-256")
    return params


class AlipayProvider(PaymentProvider):
    name = "alipay"

    def __init__(self, *, app_id, app_private_key, alipay_public_key, gateway, seller_id=None, timeout=15):
        self.app_id, self.seller_id, self.gateway, self.timeout = app_id, seller_id, gateway, timeout
        self.alipay_public_key = alipay_public_key
        config = AlipayClientConfig()
        config.server_url = gateway
        config.app_id = app_id
        config.app_private_key = app_private_key
        config.alipay_public_key = alipay_public_key
        config.sign_type = "RSA2"
        config.timeout = timeout
        self.client = DefaultAlipayClient(config, _sdk_logger)

    @classmethod
    def from_config(cls, config, instance_path):
        """Built from the app config; in sandbox mode keys and gateway are the local ones."""
        if config.get("PAYMENT_SANDBOX"):
            keys = sandbox_keys(instance_path)
            private = load_pem(config.get("ALIPAY_APP_PRIVATE_KEY")) or keys["app_private"]
            public = load_pem(config.get("ALIPAY_PUBLIC_KEY")) or keys["alipay_public"]
            gateway = config.get("ALIPAY_GATEWAY") or config["SITE_URL"] + "/sandbox/alipay/gateway.do"
        else:
            private, public = load_pem(config.get("ALIPAY_APP_PRIVATE_KEY")), load_pem(config.get("ALIPAY_PUBLIC_KEY"))
            if not private or not public:
                raise PaymentError("ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY must be configured")
            gateway = config.get("ALIPAY_GATEWAY") or PRODUCTION_GATEWAY
        return cls(app_id=config["ALIPAY_APP_ID"], app_private_key=private, alipay_public_key=public,
                   gateway=gateway, seller_id=config.get("ALIPAY_SELLER_ID"))

    @classmethod
    def page_addresses(cls, config):
        return [config.get("ALIPAY_GATEWAY") or ("" if config.get("PAYMENT_SANDBOX") else PRODUCTION_GATEWAY)]

    def create_payment(self, *, out_trade_no, amount_fen, subject, channel, notify_url, return_url):
        if channel == "qr":
            model = AlipayTradePrecreateModel()
            model.out_trade_no, model.total_amount, model.subject = out_trade_no, yuan(amount_fen), subject[:128]
            request = AlipayTradePrecreateRequest(biz_model=model)
            request.notify_url = notify_url
            response = self._call(request, AlipayTradePrecreateResponse)
            return PaymentRedirect(qr_code=response.qr_code)
        if channel == "wap":
            model = AlipayTradeWapPayModel()
            model.product_code = "QUICK_WAP_WAY"
            request = AlipayTradeWapPayRequest(biz_model=model)
        else:
            model = AlipayTradePagePayModel()
            model.product_code = "FAST_INSTANT_TRADE_PAY"
            request = AlipayTradePagePayRequest(biz_model=model)
        model.out_trade_no, model.total_amount, model.subject = out_trade_no, yuan(amount_fen), subject[:128]
        request.notify_url, request.return_url = notify_url, return_url
        return PaymentRedirect(url=self.client.page_execute(request, http_method="GET"))

    def verify_notification(self, params):
        unsigned = verify_params(params, self.alipay_public_key)
        if unsigned.get("app_id") != self.app_id:
            raise InvalidNotification("app_id does not match")
        if self.seller_id and unsigned.get("seller_id") not in (None, "", self.seller_id):
            raise InvalidNotification("seller_id does not match")
        try:
            amount = Decimal(to_fen(unsigned.get("total_amount", ""))) / 100
            if amount <= 0:
                raise InvalidOperation("not positive")
        except (InvalidOperation, ValueError, OverflowError):  # "abc", "sNaN", "Infinity", "1.001"
            raise InvalidNotification("total_amount is not an amount in yuan") from None
        for name in ("out_trade_no", "trade_status"):
            if not unsigned.get(name):
                raise InvalidNotification(f"{name} missing")
        return Notification(out_trade_no=unsigned["out_trade_no"], trade_no=unsigned.get("trade_no", ""),
                            trade_status=unsigned["trade_status"], total_amount=amount, app_id=unsigned["app_id"],
                            seller_id=unsigned.get("seller_id"), notify_id=unsigned.get("notify_id"), params=unsigned)

    def verify_return(self, params):
        try:
            unsigned = verify_params(params, self.alipay_public_key)
        except InvalidNotification:
            return False
        return unsigned.get("app_id") == self.app_id

    def query(self, out_trade_no, timeout=None):
        model = AlipayTradeQueryModel()
        model.out_trade_no = out_trade_no
        response = self._call(AlipayTradeQueryRequest(biz_model=model), AlipayTradeQueryResponse,
                              not_found_ok=True, timeout=timeout)
        if response is None:
            return None
        try:
            amount = Decimal(to_fen(response.total_amount)) / 100 if response.total_amount else None
        except (InvalidOperation, ValueError):
            raise PaymentError(f"trade query answered total_amount {response.total_amount!r}") from None
        return TradeStatus(out_trade_no=out_trade_no, trade_no=response.trade_no,
                           trade_status=response.trade_status, total_amount=amount)

    def refund(self, *, out_trade_no, amount_fen, out_request_no, reason=""):
        model = AlipayTradeRefundModel()
        model.out_trade_no, model.refund_amount, model.out_request_no = out_trade_no, yuan(amount_fen), out_request_no
        model.refund_reason = reason[:100]
        response = self._call(AlipayTradeRefundRequest(biz_model=model), AlipayTradeRefundResponse)
        return RefundResult(out_request_no=out_request_no, refund_fen=to_fen(response.refund_fee or "0"),
                            trade_no=response.trade_no)

    def close(self, out_trade_no):
        model = AlipayTradeCloseModel()
        model.out_trade_no = out_trade_no
        self._call(AlipayTradeCloseRequest(biz_model=model), AlipayTradeCloseResponse, not_found_ok=True)
        return True

    def _call(self, request, response_class, not_found_ok=False, timeout=None):
        """Sign with the SDK, send it ourselves (any port, any status handled), verify the reply with the SDK."""
        signed = self.client.page_execute(request, http_method="GET")
        url, _, body = signed.partition("?")
        http_request = urllib.request.Request(url, data=body.encode("utf-8"), method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})
        try:
            with urllib.request.urlopen(http_request, timeout=timeout or self.timeout) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as error:
            raise ProviderUnavailable(f"alipay answered HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise ProviderUnavailable(f"alipay unreachable: {error}") from None
        try:
            content = self.client._DefaultAlipayClient__parse_response(raw)  # the SDK's signature check
        except Exception as error:  # the SDK raises its own exception types, or TypeError on odd replies
            raise ProviderUnavailable(f"alipay reply rejected: {error}") from None
        response = response_class()
        response.parse_response_content(content)
        if response.code == "10000":
            return response
        if not_found_ok and response.sub_code == "ACQ.TRADE_NOT_EXIST":
            return None
        raise PaymentError(f"alipay {response.code} {response.sub_code}: {response.sub_msg or response.msg}")
