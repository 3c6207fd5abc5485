"""UnionPay online payment (银联在线支付, the 全渠道 protocol 5.1.0), written against the protocol with `cryptography`:
UnionPay publishes no maintained Python SDK.

- Signing (signMethod=01): the fields but `signature`, sorted by key, joined `k=v` with `&`; the lowercase SHA-256
  hex digest of that string is what RSA PKCS#1 v1.5 with SHA-256 signs (so the digest is hashed twice, as
  UnionPay's own SDKs do). Requests carry `certId`, the serial of the merchant's signing certificate.
- UnionPay's answers and notifications carry its signing certificate (`signPubKeyCert`). It is trusted only when
  it was issued by the configured middle certificate, which the configured root issued, all three valid now,
  and its CN names UnionPay ("CFCA@中国银联股份有限公司@…": the second @-part); its key then checks the signature.
- An order is named by orderId *and* txnTime together, and the query needs both. Our out_trade_no carries only
  the date, so txnTime is the pledge's created_at in Beijing time: the same however many times the backer opens
  the payment page, and known again when we query. payTimeOut is the pledge's expires_at, so an order whose hold
  ran out can no longer be paid at UnionPay (which has no "close" for an unpaid order).
- Back-end answers are `k=v&k=v` text whose values are not URL-encoded (a PEM certificate keeps its `+`, `/` and
  line breaks), with `{…}`/`[…]` around values that contain `&`; `parse_reply` reads that, not parse_qs.
"""
import base64
import hashlib
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from crowdfund.extensions import db
from crowdfund.models import Pledge
from crowdfund.payments.base import (InvalidNotification, NothingToApply, Notification, PaymentError, PaymentProvider,
                                     PaymentRedirect, ProviderUnavailable, RefundResult, TradeStatus)
from crowdfund.payments.keys import load_pem

BEIJING = ZoneInfo("Asia/Shanghai")
PRODUCTION_GATEWAY = "https://gateway.95516.com"
FRONT_PATH = "/gateway/api/frontTransReq.do"
BACK_PATH = "/gateway/api/backTransReq.do"
QUERY_PATH = "/gateway/api/queryTrans.do"
UNIONPAY_NAME = "中国银联股份有限公司"
CHANNEL_TYPES = {"pc": "07", "wap": "08"}
TIME_FORMAT = "%Y%m%d%H%M%S"
# A notification names its order's txnTime, which is when the pledge was made. The order can be paid only until
# payTimeOut (the pledge hold, PLEDGE_HOLD_MINUTES, 30 by default) and UnionPay then retries an unanswered
# notification for some hours; a day covers both with room to spare. Anything older is a replay of a captured
# notification (within the day a replay is harmless anyway: its queryId was applied already), and whatever was
# really lost is found by reconciliation, which asks UnionPay itself.
NOTIFICATION_MAX_AGE = timedelta(days=1)
CLOCK_SKEW = timedelta(minutes=10)  # an order "made" further in the future than this is not one of ours
CENT = Decimal("0.01")
ORDER_ID = re.compile(r"^[0-9A-Za-z]{8,40}$")
PAID = "00"
IN_PROGRESS = ("03", "04", "05")  # UnionPay is still working on it
NO_SUCH_ORDER = "34"


class CertificateRejected(Exception):
    """UnionPay's signing certificate is not one to trust; the message says why."""


def beijing(moment):
    """A UTC datetime as UnionPay's YYYYMMDDhhmmss in Beijing time."""
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def yuan(txn_amt):
    """UnionPay's txnAmt (fen, as digits) as Decimal yuan with two places: "11000" → Decimal("110.00")."""
    return (Decimal(int(txn_amt)) / 100).quantize(CENT)


def sign_content(fields):
    """The string UnionPay signs: every field but `signature`, sorted by key, `k=v` joined with `&`."""
    return "&".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "signature")


def _digest(fields):
    return hashlib.sha256(sign_content(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign(fields, private_key):
    """The base64 signature (signMethod 01) of `fields` with a `cryptography` RSA private key."""
    return base64.b64encode(private_key.sign(_digest(fields), padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def signature_valid(fields, public_key):
    """Whether `fields["signature"]` is the signMethod-01 signature of the other fields under `public_key`."""
    try:
        public_key.verify(base64.b64decode(fields.get("signature", ""), validate=True), _digest(fields),
                          padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def load_private_key(value):
    """A merchant private key from PEM text or a path to one (PKCS#1 or PKCS#8, unencrypted)."""
    pem = load_pem(value)
    return serialization.load_pem_private_key(pem.encode(), password=None) if pem else None


def load_certificate(value):
    """A certificate from PEM text or a path to one."""
    pem = load_pem(value)
    return x509.load_pem_x509_certificate(pem.encode()) if pem else None


def common_name(certificate):
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return names[0].value if names else ""


def parse_reply(text):
    """UnionPay's `k=v&k=v` answer as a dict: values are raw (not URL-encoded), and a value that starts with `{`
    or `[` runs to its matching bracket, `&` included."""
    fields, position, length = {}, 0, len(text)
    while position < length:
        equals = text.find("=", position)
        if equals < 0:
            break
        key, position = text[position:equals], equals + 1
        if position < length and text[position] in "{[":
            opening, closing = text[position], "}" if text[position] == "{" else "]"
            depth, end = 0, position
            while end < length:
                depth += {opening: 1, closing: -1}.get(text[end], 0)
                end += 1
                if depth == 0:
                    break
        else:
            end = text.find("&", position)
            end = length if end < 0 else end
        fields[key.strip("&")] = text[position:end]
        position = end + 1
    return fields


def format_reply(fields):
    """The inverse of parse_reply (the sandbox answers this way)."""
    return "&".join(f"{key}={value}" for key, value in fields.items())


def order_id_for_refund(out_request_no):
    """A refund is an order of its own at UnionPay: its orderId is our refund number, left-padded with zeros to
    UnionPay's minimum of 8 (ours start with letters, so the padding never makes two numbers alike)."""
    order_id = out_request_no.rjust(8, "0")
    if not ORDER_ID.match(order_id):
        raise PaymentError(f"refund number {out_request_no!r} is not a UnionPay orderId (8–40 letters/digits)")
    return order_id


def pledge_order_times(out_trade_no):
    """(txnTime, payTimeOut) of the order for the pledge with this out_trade_no, or None if we have no such pledge:
    the pledge's created_at and expires_at, in Beijing time, so the order is named the same way every time."""
    row = db.session.execute(select(Pledge.created_at, Pledge.expires_at)
                             .where(Pledge.out_trade_no == out_trade_no, Pledge.provider == "unionpay")).first()
    if row is None:
        return None
    return beijing(row.created_at), beijing(row.expires_at) if row.expires_at else None


class UnionPayProvider(PaymentProvider):
    name = "unionpay"
    signed_return = True  # the browser is POSTed back with a signed front notification
    channels = {"pc": "pc", "wap": "wap", "qr": "pc"}  # no QR of ours: the gateway page shows UnionPay's own

    def __init__(self, *, mer_id, sign_key, cert_id, root_cert, middle_cert, gateway, site_url,
                 cert_name=UNIONPAY_NAME, timeout=15, order_times=pledge_order_times):
        self.mer_id, self.cert_id, self.gateway, self.timeout = mer_id, cert_id, gateway.rstrip("/"), timeout
        self.sign_key, self.root_cert, self.middle_cert, self.cert_name = sign_key, root_cert, middle_cert, cert_name
        self.notify_url = f"{site_url}/payments/unionpay/notify"  # refunds' backUrl
        self.order_times = order_times  # out_trade_no → (txnTime, payTimeOut), see the module docstring

    @classmethod
    def from_config(cls, config, instance_path):
        """Built from the app config; in sandbox mode the keys, certificates and gateway default to the local ones."""
        values = {name: config.get(f"UNIONPAY_{name}") for name in
                  ("SIGN_KEY", "SIGN_CERT_ID", "ROOT_CERT", "MIDDLE_CERT", "GATEWAY")}
        if config.get("PAYMENT_SANDBOX"):
            from crowdfund.payments.sandbox_unionpay import sandbox_credentials

            local = sandbox_credentials(instance_path)
            defaults = {"SIGN_KEY": local["merchant_key"], "SIGN_CERT_ID": local["merchant_cert_id"],
                        "ROOT_CERT": local["root_cert"], "MIDDLE_CERT": local["middle_cert"],
                        "GATEWAY": config["SITE_URL"] + "/sandbox/unionpay"}
            values = {name: value or defaults[name] for name, value in values.items()}
        else:
            missing = [f"UNIONPAY_{name}" for name in ("SIGN_KEY", "SIGN_CERT_ID", "ROOT_CERT", "MIDDLE_CERT")
                       if not values[name]]
            if missing:
                raise PaymentError(f"{', '.join(missing)} must be configured")
            values["GATEWAY"] = values["GATEWAY"] or PRODUCTION_GATEWAY
        try:
            key, root, middle = (load_private_key(values["SIGN_KEY"]), load_certificate(values["ROOT_CERT"]),
                                 load_certificate(values["MIDDLE_CERT"]))
        except (ValueError, TypeError, OSError) as error:
            raise PaymentError(f"UnionPay keys or certificates cannot be read: {error}") from None
        return cls(mer_id=config["UNIONPAY_MER_ID"], sign_key=key, cert_id=str(values["SIGN_CERT_ID"]),
                   root_cert=root, middle_cert=middle, gateway=values["GATEWAY"], site_url=config["SITE_URL"],
                   cert_name=config.get("UNIONPAY_CERT_NAME") or UNIONPAY_NAME)

    @classmethod
    def page_addresses(cls, config):
        gateway = config.get("UNIONPAY_GATEWAY") or ("" if config.get("PAYMENT_SANDBOX") else PRODUCTION_GATEWAY)
        return [gateway.rstrip("/") + FRONT_PATH if gateway else ""]

    def _signed(self, fields):
        fields = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "certId": self.cert_id,
                  "merId": self.mer_id, "accessType": "0", **fields}
        return {**fields, "signature": sign(fields, self.sign_key)}

    def _times(self, out_trade_no):
        times = self.order_times(out_trade_no)
        if times is None:
            raise PaymentError(f"no pledge {out_trade_no} to name a UnionPay order by")
        return times

    def create_payment(self, *, out_trade_no, amount_fen, subject, channel, notify_url, return_url):
        """The signed front-end form the browser posts to UnionPay's gateway (our page renders it)."""
        if not ORDER_ID.match(out_trade_no):
            raise PaymentError(f"{out_trade_no!r} is not a UnionPay orderId")
        if int(amount_fen) <= 0:
            raise ValueError("amounts sent to UnionPay must be positive")
        txn_time, pay_timeout = self._times(out_trade_no)
        fields = {"txnType": "01", "txnSubType": "01", "bizType": "000201",
                  "channelType": CHANNEL_TYPES.get(channel, "07"), "orderId": out_trade_no, "txnTime": txn_time,
                  "txnAmt": str(int(amount_fen)), "currencyCode": "156", "frontUrl": return_url,
                  "backUrl": notify_url}
        if pay_timeout:
            fields["payTimeOut"] = pay_timeout
        return PaymentRedirect(url=self.gateway + FRONT_PATH, form=self._signed(fields))

    def _call(self, path, fields, timeout=None):
        """POST a signed back-end request; the answer, once its signature and certificate check out."""
        body = urllib.parse.urlencode(self._signed(fields)).encode("utf-8")
        request = urllib.request.Request(self.gateway + path, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as reply:
                text = reply.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            raise ProviderUnavailable(f"unionpay answered HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError, UnicodeDecodeError) as error:
            raise ProviderUnavailable(f"unionpay unreachable: {error}") from None
        answer = parse_reply(text)
        try:
            self.check_signature(answer)
        except InvalidNotification as error:
            raise ProviderUnavailable(f"unionpay reply rejected: {error.reason}") from None
        return answer

    def query(self, out_trade_no, timeout=None):
        """The order's status: origRespCode 00 paid, anything else still waiting; None when UnionPay has no such
        order (respCode 34) or we never made one."""
        times = self.order_times(out_trade_no)
        if times is None:
            return None
        answer = self._call(QUERY_PATH, {"txnType": "00", "txnSubType": "00", "bizType": "000201",
                                         "orderId": out_trade_no, "txnTime": times[0]}, timeout=timeout)
        code = answer.get("respCode")
        if code == NO_SUCH_ORDER:
            return None
        if code != "00":
            raise PaymentError(f"unionpay query {code}: {answer.get('respMsg', '')}")
        amount = answer.get("txnAmt", "")
        if amount and not (amount.isascii() and amount.isdigit()):
            raise PaymentError(f"unionpay query answered txnAmt {amount!r}")
        if answer.get("orderId") != out_trade_no:
            raise PaymentError(f"unionpay answered a query for {out_trade_no} about {answer.get('orderId')!r}")
        status = "TRADE_SUCCESS" if answer.get("origRespCode") == PAID else "WAIT_BUYER_PAY"
        return TradeStatus(out_trade_no=out_trade_no, trade_no=answer.get("queryId"), trade_status=status,
                           total_amount=yuan(amount) if amount else None)

    def refund(self, *, out_trade_no, amount_fen, out_request_no, reason=""):
        """Refund (txnType 04) against the paid order's queryId; the refund number is the refund's own orderId,
        which UnionPay (and our sandbox) take only once, so a retry refunds nothing more."""
        status = self.query(out_trade_no)
        if status is None or not status.paid:
            raise PaymentError(f"unionpay order {out_trade_no} is not paid; nothing to refund")
        answer = self._call(BACK_PATH, {
            "txnType": "04", "txnSubType": "00", "bizType": "000201", "channelType": "07",
            "orderId": order_id_for_refund(out_request_no), "origQryId": status.trade_no,
            "txnTime": beijing(datetime.now(timezone.utc)), "txnAmt": str(int(amount_fen)), "currencyCode": "156",
            "backUrl": self.notify_url})
        if answer.get("respCode") != "00":
            raise PaymentError(f"unionpay refund {answer.get('respCode')}: {answer.get('respMsg', '')}")
        refunded = answer.get("txnAmt", "")
        return RefundResult(out_request_no=out_request_no, trade_no=status.trade_no,
                            refund_fen=int(refunded) if refunded.isascii() and refunded.isdigit() else int(amount_fen))

    def close(self, out_trade_no):
        """UnionPay cannot close an unpaid order; payTimeOut (the pledge's expiry) already stops it being paid."""
        return True

    def trusted_certificate(self, pem):
        """UnionPay's signing certificate from `signPubKeyCert`, once it chains to our root through the middle
        certificate, all are valid now, and it names UnionPay; else CertificateRejected."""
        try:
            certificate = x509.load_pem_x509_certificate((pem or "").encode())
        except ValueError:
            raise CertificateRejected("signPubKeyCert is not a certificate") from None
        now = datetime.now(timezone.utc)
        for name, cert in (("signing", certificate), ("middle", self.middle_cert), ("root", self.root_cert)):
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise CertificateRejected(f"{name} certificate expired or not yet valid")
        try:
            certificate.verify_directly_issued_by(self.middle_cert)
            self.middle_cert.verify_directly_issued_by(self.root_cert)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateRejected("certificate does not chain to the UnionPay root") from None
        cn = common_name(certificate)
        parts = cn.split("@")
        if (parts[1] if len(parts) >= 3 else cn) != self.cert_name:
            raise CertificateRejected(f"certificate CN {cn!r} does not name {self.cert_name}")
        return certificate

    def check_signature(self, params):
        """Raise InvalidNotification unless the fields carry UnionPay's valid signature (signMethod 01)."""
        if not params.get("signature"):
            raise InvalidNotification("signature missing")
        if params.get("signMethod") != "01":
            raise InvalidNotification(f"signMethod must be 01 (RSA-SHA256), got {params.get('signMethod')!r}")
        try:
            certificate = self.trusted_certificate(params.get("signPubKeyCert"))
        except CertificateRejected as error:
            raise InvalidNotification(str(error)) from None
        if not signature_valid(params, certificate.public_key()):
            raise InvalidNotification("bad signature")

    def verify_notification(self, params):
        """The back notification: signature and certificate, our merId, a payment order (txnType 01) in yuan of
        RMB, not stale; respCode 00 means paid (any other code is acknowledged and changes nothing)."""
        params = dict(params)
        self.check_signature(params)
        if params.get("merId") != self.mer_id:
            raise InvalidNotification("merId does not match")
        if params.get("txnType") == "04":  # the result of a refund we asked for: the refund job already booked it
            raise NothingToApply(f"refund notification for {params.get('origQryId', '')[:40]}")
        if params.get("txnType") != "01":
            raise InvalidNotification(f"txnType {params.get('txnType')!r} is not a payment")
        if params.get("currencyCode", "156") != "156":
            raise InvalidNotification("currencyCode is not 156 (RMB)")
        amount = params.get("txnAmt", "")
        if not (amount.isascii() and amount.isdigit()) or not 0 < int(amount) <= 10_000_000_000:
            raise InvalidNotification("txnAmt is not an amount in fen")
        for name in ("orderId", "queryId", "txnTime", "respCode"):
            if not params.get(name):
                raise InvalidNotification(f"{name} missing")
        try:
            made = datetime.strptime(params["txnTime"], TIME_FORMAT).replace(tzinfo=BEIJING)
        except ValueError:
            raise InvalidNotification("txnTime is not YYYYMMDDhhmmss") from None
        now = datetime.now(timezone.utc)
        if made < now - NOTIFICATION_MAX_AGE or made > now + CLOCK_SKEW:
            raise InvalidNotification(f"stale notification: txnTime {params['txnTime']}")
        unsigned = {k: v for k, v in params.items() if k not in ("signature", "signPubKeyCert")}
        status = "TRADE_SUCCESS" if params["respCode"] == "00" else "WAIT_BUYER_PAY"
        return Notification(out_trade_no=params["orderId"], trade_no=params["queryId"], trade_status=status,
                            total_amount=yuan(amount), app_id=params["merId"], seller_id=None,
                            notify_id=params["queryId"], params=unsigned)

    def acknowledge(self, accepted, reason=""):
        """UnionPay takes HTTP 200 as delivered and retries anything else."""
        return ("ok", 200, "text/plain") if accepted else ("fail", 400, "text/plain")

    def return_params(self, request):
        return request.form.to_dict()

    def verify_return(self, params):
        try:
            self.check_signature(params)
        except InvalidNotification:
            return False
        return params.get("merId") == self.mer_id

    def returned_trade(self, params):
        return params.get("orderId") if self.verify_return(params) else None
