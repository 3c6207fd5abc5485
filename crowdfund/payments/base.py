"""The PaymentProvider interface every provider (Alipay, WeChat Pay, UnionPay) implements.

Trade states are spoken in one vocabulary whatever the provider: TRADE_SUCCESS / TRADE_FINISHED (paid),
TRADE_CLOSED (closed unpaid), anything else (waiting). Each provider maps its own states onto these.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal

CHANNELS = ("pc", "wap", "qr")


class PaymentError(Exception):
    """The provider refused or failed; the message is for logs, not for users."""


class ProviderUnavailable(PaymentError):
    """The provider could not be reached or answered nonsense (retry later)."""


class InvalidNotification(PaymentError):
    """A notification that is forged, tampered with, or does not match our records; `reason` says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class NothingToApply(PaymentError):
    """A genuine notification that asks nothing of a pledge (UnionPay's result of a refund we made): acknowledged
    so the provider stops sending it, kept as evidence, never applied."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PaymentRedirect:
    """Where to send the backer to pay: a URL to redirect to, a QR code to show, or (with `form`) fields the
    browser POSTs to `url` (UnionPay's front-end form)."""

    url: str | None = None
    qr_code: str | None = None
    form: dict | None = None


@dataclass(frozen=True)
class Notification:
    """A verified notification, reduced to what applying it needs."""

    out_trade_no: str
    trade_no: str
    trade_status: str
    total_amount: Decimal
    app_id: str
    seller_id: str | None
    notify_id: str | None
    params: dict = field(default_factory=dict)

    @property
    def paid(self):
        return self.trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED")

    @property
    def closed(self):
        return self.trade_status == "TRADE_CLOSED"


@dataclass(frozen=True)
class TradeStatus:
    """What a query says about a trade (None from query() when the provider has no such trade)."""

    out_trade_no: str
    trade_no: str | None
    trade_status: str
    total_amount: Decimal | None

    @property
    def paid(self):
        return self.trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED")

    @property
    def closed(self):
        return self.trade_status == "TRADE_CLOSED"


@dataclass(frozen=True)
class RefundResult:
    out_request_no: str
    refund_fen: int
    trade_no: str | None = None


class PaymentProvider(ABC):
    """Create, verify, query, refund and close payments with one provider."""

    name = "abstract"
    ack_success = "success"
    ack_failure = "fail"
    signed_return = True  # False: the browser comes back with nothing the provider signed (we add a token)
    # The channel each of ours becomes with this provider ("qr" shows our QR page); override where it differs.
    channels = {"pc": "pc", "wap": "wap", "qr": "qr"}

    @classmethod
    def page_addresses(cls, config):
        """Addresses of the provider's own pages a form of ours may post or be redirected to (for the CSP)."""
        return []

    @classmethod
    def channel_for(cls, channel):
        """The channel this provider uses for what the backer chose (pc / wap / qr)."""
        return cls.channels.get(channel, cls.channels["pc"])

    def notification_params(self, request):
        """What verify_notification() needs from the notify request (form fields; headers and body for some)."""
        return request.form.to_dict()

    def acknowledge(self, accepted, reason=""):
        """The answer the provider expects: (body, status, content type)."""
        return (self.ack_success if accepted else self.ack_failure), 200, "text/plain"

    def return_params(self, request):
        """The signed parameters the browser brings back from the provider (query string, or a POSTed form)."""
        return request.values.to_dict()

    def returned_trade(self, params):
        """The out_trade_no the browser came back for, when the parameters carry the provider's valid signature."""
        return params.get("out_trade_no") if self.verify_return(params) else None

    @abstractmethod
    def create_payment(self, *, out_trade_no, amount_fen, subject, channel, notify_url, return_url):
        """A PaymentRedirect for this pledge on this channel (pc / wap / qr)."""

    @abstractmethod
    def verify_notification(self, params):
        """A verified Notification from the provider's raw parameters, or InvalidNotification."""

    @abstractmethod
    def verify_return(self, params):
        """Whether the parameters on the return URL carry the provider's valid signature."""

    @abstractmethod
    def query(self, out_trade_no, timeout=None):
        """The trade's TradeStatus, or None if the provider has no such trade (`timeout` seconds, else the default)."""

    @abstractmethod
    def refund(self, *, out_trade_no, amount_fen, out_request_no, reason=""):
        """Refund (idempotent by out_request_no); a RefundResult, or PaymentError."""

    @abstractmethod
    def close(self, out_trade_no):
        """Close an unpaid trade so it can no longer be paid; True if closed (or unknown)."""


def channel_for(user_agent, chosen=None):
    """The channel the device wants (mobile → wap), unless the backer chose one."""
    if chosen in CHANNELS:
        return chosen
    agent = (user_agent or "").lower()
    return "wap" if any(w in agent for w in ("mobile", "android", "iphone", "micromessenger")) else "pc"
