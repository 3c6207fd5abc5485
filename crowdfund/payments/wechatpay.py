"""WeChat Pay API v3 (Native QR on PC, H5 on phones), spoken directly with pycryptodome.

Why not the `wechatpayv3` SDK: it pulls in `requests` and `cryptography` for what is four primitives
(RSA-SHA256 sign and verify, AES-256-GCM open, a JSON request), and its notification callback does not
check the timestamp at all (a validly signed notification from 2001 passes). pycryptodome is already a
dependency (the Alipay keys), so the protocol lives here, in full view:

- Requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,signature=..,timestamp=..,
  serial_no=..`, the signature over "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n" with the merchant key.
- Replies and notifications are signed by WeChat over "TIMESTAMP\\nNONCE\\nBODY\\n" (Wechatpay-* headers) with
  the platform key, named by Wechatpay-Serial: we check the serial, the signature, and that the timestamp is
  within five minutes of our clock (a replayed old message is refused even though its signature is good).
- A notification's `resource` is AEAD_AES_256_GCM with the APIv3 key; only the decrypted resource says
  which trade was paid and how much (integer fen, which is what we keep anyway).
- WeChat's trade states become the one vocabulary of `base` (TRADE_SUCCESS / TRADE_CLOSED / waiting).
"""
import base64
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15

from crowdfund.payments.base import (InvalidNotification, Notification, PaymentError, PaymentProvider,
                                     PaymentRedirect, ProviderUnavailable, RefundResult, TradeStatus)
from crowdfund.payments.keys import _create_once, generate_keypair, load_pem

PRODUCTION_GATEWAY = "https://api.mch.weixin.qq.com"
H5_PAGES = "https://wx.tenpay.com"  # where an H5 payment's h5_url leads the phone's browser
SCHEME = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_SECONDS = 300  # WeChat's own rule for signed messages: five minutes either way
# The Wechatpay-* headers of a signed reply or notification, as check_signed() names them.
SIGNED_HEADERS = (("timestamp", "Timestamp"), ("nonce", "Nonce"), ("signature", "Signature"), ("serial", "Serial"),
                  ("signature_type", "Signature-Type"))
# WeChat's trade_state → ours. Only a trade that can never be paid any more may release the reward:
# CLOSED (closed by us or expired) and REVOKED (cancelled). PAYERROR is left waiting: the buyer may still pay
# the same order, and reconciliation closes it at WeChat before expiring the pledge. REFUND means the money
# was taken (and some or all of it given back): paid, as the ledger check needs to hear.
TRADE_STATES = {"SUCCESS": "TRADE_SUCCESS", "REFUND": "TRADE_SUCCESS", "CLOSED": "TRADE_CLOSED",
                "REVOKED": "TRADE_CLOSED"}


def sign_message(private_pem, message):
    """RSA-SHA256 (PKCS#1 v1.5) over the UTF-8 message, base64, as WeChat signs and verifies."""
    key = RSA.import_key(private_pem)
    return base64.b64encode(pkcs1_15.new(key).sign(SHA256.new(message.encode("utf-8")))).decode()


def verify_message(public_pem, message, signature):
    """Whether `signature` (base64) is the key's RSA-SHA256 signature of `message`."""
    try:
        pkcs1_15.new(RSA.import_key(public_pem)).verify(SHA256.new(message.encode("utf-8")),
                                                         base64.b64decode(signature, validate=True))
    except (ValueError, TypeError):  # wrong signature, not base64, not a key
        return False
    return True


def aead_decrypt(apiv3_key, nonce, ciphertext, associated_data):
    """Open an AEAD_AES_256_GCM resource (base64 ciphertext with its 16-byte tag at the end); ValueError if forged."""
    data = base64.b64decode(ciphertext, validate=True)
    if len(data) <= 16:
        raise ValueError("ciphertext too short")
    cipher = AES.new(apiv3_key.encode("utf-8"), AES.MODE_GCM, nonce=nonce.encode("utf-8"))
    cipher.update(associated_data.encode("utf-8"))
    return cipher.decrypt_and_verify(data[:-16], data[-16:]).decode("utf-8")


def aead_encrypt(apiv3_key, nonce, plaintext, associated_data):
    """Seal like WeChat seals a notification's resource (the sandbox uses it)."""
    cipher = AES.new(apiv3_key.encode("utf-8"), AES.MODE_GCM, nonce=nonce.encode("utf-8"))
    cipher.update(associated_data.encode("utf-8"))
    data, tag = cipher.encrypt_and_digest(plaintext.encode("utf-8"))
    return base64.b64encode(data + tag).decode()


def check_signed(headers, body, public_pem, key_id, now=None):
    """Check a message WeChat signed (a reply or a notification); InvalidNotification says why it is refused.

    `headers` maps the Wechatpay-* names in lower case without the prefix: timestamp, nonce, signature, serial,
    signature_type. The signature is checked before the clock, so a "stale" verdict is only given to a message
    that was genuinely signed.
    """
    for name in ("timestamp", "nonce", "signature", "serial"):
        if not headers.get(name):
            raise InvalidNotification(f"Wechatpay-{name.capitalize()} missing")
    if headers.get("signature_type") not in (None, "", SCHEME):
        raise InvalidNotification(f"Wechatpay-Signature-Type must be {SCHEME}")
    if headers["serial"] != key_id:
        raise InvalidNotification("Wechatpay-Serial is not our platform public key")
    if not verify_message(public_pem, f"{headers['timestamp']}\n{headers['nonce']}\n{body}\n", headers["signature"]):
        raise InvalidNotification("bad signature")
    try:
        timestamp = int(headers["timestamp"])
    except ValueError:
        raise InvalidNotification("Wechatpay-Timestamp is not a number") from None
    if abs((now or time.time()) - timestamp) > MAX_SKEW_SECONDS:
        raise InvalidNotification("timestamp more than 5 minutes from our clock")


def description(subject):
    """WeChat's description is at most 127 bytes of UTF-8: cut on a character boundary, never mid-character."""
    encoded = (subject or "-").encode("utf-8")[:127]
    return encoded.decode("utf-8", errors="ignore") or "-"


def sandbox_keys(instance_path):
    """The sandbox's platform key pair, a development merchant key pair, and an APIv3 key, created once under
    instance/payments/ (safely when several processes start at once, as `keys.sandbox_keys` explains).

    The merchant certificate serial and the platform public key id are derived from the keys, so every process
    names them alike."""
    folder = Path(instance_path) / "payments"
    folder.mkdir(parents=True, exist_ok=True)
    keys = {}
    for owner in ("wechatpay_platform", "wechatpay_merchant"):
        private = folder / f"{owner}_private.pem"
        if not private.exists():
            _create_once(private, generate_keypair()[0], 0o600)
        keys[f"{owner}_private"] = private.read_text()
        keys[f"{owner}_public"] = RSA.import_key(keys[f"{owner}_private"]).publickey().export_key("PEM").decode()
    apiv3 = folder / "wechatpay_apiv3.key"
    if not apiv3.exists():
        _create_once(apiv3, secrets.token_hex(16), 0o600)  # 32 characters, like the key set in WeChat's console
    platform, merchant = keys["wechatpay_platform_public"], keys["wechatpay_merchant_public"]
    digest = hashlib.sha256(platform.encode()).hexdigest()
    return {"platform_private": keys["wechatpay_platform_private"], "platform_public": platform,
            "merchant_private": keys["wechatpay_merchant_private"], "merchant_public": merchant,
            "apiv3_key": apiv3.read_text().strip(), "platform_key_id": "PUB_KEY_ID_" + str(int(digest[:20], 16))[:24],
            "merchant_serial": hashlib.sha1(merchant.encode()).hexdigest().upper()}


class WechatPayProvider(PaymentProvider):
    name = "wechatpay"
    signed_return = False  # H5's redirect_url brings nothing signed back; the core adds our own token
    channels = {"pc": "qr", "qr": "qr", "wap": "wap"}  # a PC shows the Native QR on our page; a phone goes to H5

    def __init__(self, *, mch_id, app_id, private_key, cert_serial, apiv3_key, platform_public_key,
                 platform_key_id, gateway, timeout=15):
        if len(apiv3_key.encode("utf-8")) != 32:
            raise PaymentError("WECHATPAY_APIV3_KEY must be 32 bytes")
        self.mch_id, self.app_id, self.private_key, self.cert_serial = mch_id, app_id, private_key, cert_serial
        self.apiv3_key, self.platform_public_key, self.platform_key_id = apiv3_key, platform_public_key, platform_key_id
        self.gateway, self.timeout = gateway.rstrip("/"), timeout

    @classmethod
    def from_config(cls, config, instance_path):
        """Built from the app config; in sandbox mode the keys not configured are the sandbox's own."""
        names = ("WECHATPAY_MCH_PRIVATE_KEY", "WECHATPAY_MCH_CERT_SERIAL", "WECHATPAY_APIV3_KEY",
                 "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_ID")
        given = {name: config.get(name) for name in names}
        if config.get("PAYMENT_SANDBOX"):
            keys = sandbox_keys(instance_path)
            defaults = dict(zip(names, (keys["merchant_private"], keys["merchant_serial"], keys["apiv3_key"],
                                        keys["platform_public"], keys["platform_key_id"])))
            given = {name: value or defaults[name] for name, value in given.items()}
            gateway = config.get("WECHATPAY_GATEWAY") or config["SITE_URL"] + "/sandbox/wechatpay"
        else:
            missing = [name for name, value in given.items() if not value]
            if missing:
                raise PaymentError(f"{', '.join(missing)} must be configured")
            gateway = config.get("WECHATPAY_GATEWAY") or PRODUCTION_GATEWAY
        return cls(mch_id=config["WECHATPAY_MCH_ID"], app_id=config["WECHATPAY_APP_ID"],
                   private_key=load_pem(given["WECHATPAY_MCH_PRIVATE_KEY"]),
                   cert_serial=given["WECHATPAY_MCH_CERT_SERIAL"], apiv3_key=given["WECHATPAY_APIV3_KEY"],
                   platform_public_key=load_pem(given["WECHATPAY_PUBLIC_KEY"]),
                   platform_key_id=given["WECHATPAY_PUBLIC_KEY_ID"], gateway=gateway)

    @classmethod
    def page_addresses(cls, config):
        return [] if config.get("PAYMENT_SANDBOX") else [H5_PAGES]

    # -- paying ------------------------------------------------------------------------------------------------

    def create_payment(self, *, out_trade_no, amount_fen, subject, channel, notify_url, return_url):
        if int(amount_fen) <= 0:
            raise ValueError("amounts sent to WeChat Pay must be positive")
        order = {"appid": self.app_id, "mchid": self.mch_id, "description": description(subject),
                 "out_trade_no": out_trade_no, "notify_url": notify_url,
                 "amount": {"total": int(amount_fen), "currency": "CNY"}}
        if channel == "wap":
            order["scene_info"] = {"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}}
            reply = self._call("POST", "/v3/pay/transactions/h5", order)
            return PaymentRedirect(url=reply["h5_url"] + "&redirect_url=" + urllib.parse.quote(return_url, safe=""))
        reply = self._call("POST", "/v3/pay/transactions/native", order, paid_ok=True)
        # An order placed again after the backer paid (the QR page reloaded before the notification came) is
        # answered ORDERPAID: there is nothing to scan, and the notification or a query will say so.
        return PaymentRedirect(qr_code=reply["code_url"] if reply else None)

    def notification_params(self, request):
        """The Wechatpay-* headers and the raw JSON body: the signature covers the body byte for byte."""
        params = {name: request.headers.get(f"Wechatpay-{header}", "") for name, header in SIGNED_HEADERS}
        params["body"] = request.get_data(cache=True, as_text=True)
        return params

    def acknowledge(self, accepted, reason=""):
        """204 with no body when taken; WeChat's documented failure shape (400, code FAIL) makes it send again."""
        if accepted:
            return "", 204, "application/json"
        return json.dumps({"code": "FAIL", "message": reason or "refused"}), 400, "application/json"

    def verify_notification(self, params, now=None):
        check_signed(params, params.get("body", ""), self.platform_public_key, self.platform_key_id, now)
        try:
            event = json.loads(params["body"])
            resource = event["resource"]
        except (ValueError, KeyError, TypeError):
            raise InvalidNotification("body is not a WeChat Pay notification") from None
        if not isinstance(resource, dict) or event.get("event_type") != "TRANSACTION.SUCCESS":
            raise InvalidNotification(f"event_type {event.get('event_type')!r} is not TRANSACTION.SUCCESS")
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise InvalidNotification("resource algorithm must be AEAD_AES_256_GCM")
        try:
            trade = json.loads(aead_decrypt(self.apiv3_key, resource.get("nonce", ""), resource.get("ciphertext", ""),
                                            resource.get("associated_data", "")))
        except (ValueError, TypeError, KeyError):
            raise InvalidNotification("resource does not decrypt with our APIv3 key") from None
        if trade.get("mchid") != self.mch_id:
            raise InvalidNotification("mchid does not match")
        if trade.get("appid") != self.app_id:
            raise InvalidNotification("appid does not match")
        for name in ("out_trade_no", "trade_state"):
            if not trade.get(name):
                raise InvalidNotification(f"{name} missing")
        amount = _fen(trade.get("amount"))
        if not amount:
            raise InvalidNotification("amount.total is not a positive number of fen in CNY")
        return Notification(out_trade_no=trade["out_trade_no"], trade_no=trade.get("transaction_id", ""),
                            trade_status=TRADE_STATES.get(trade["trade_state"], trade["trade_state"]),
                            total_amount=Decimal(amount).scaleb(-2), app_id=trade["appid"], seller_id=trade["mchid"],
                            notify_id=str(event.get("id") or "") or None,
                            params={"id": event.get("id"), "event_type": event["event_type"],
                                    "create_time": event.get("create_time"), **trade})

    def verify_return(self, params):
        """H5's redirect_url carries nothing WeChat signed: the browser is only believed with our own token."""
        return False

    # -- asking ------------------------------------------------------------------------------------------------

    def query(self, out_trade_no, timeout=None):
        path = f"/v3/pay/transactions/out-trade-no/{urllib.parse.quote(out_trade_no, safe='')}"
        reply = self._call("GET", path + "?" + urllib.parse.urlencode({"mchid": self.mch_id}),
                           not_found_ok=True, timeout=timeout)
        if reply is None:
            return None
        state = reply.get("trade_state", "")
        amount = _fen(reply.get("amount"))
        return TradeStatus(out_trade_no=out_trade_no, trade_no=reply.get("transaction_id"),
                           trade_status=TRADE_STATES.get(state, state),
                           total_amount=Decimal(amount).scaleb(-2) if amount else None)

    def close(self, out_trade_no):
        path = f"/v3/pay/transactions/out-trade-no/{urllib.parse.quote(out_trade_no, safe='')}/close"
        self._call("POST", path, {"mchid": self.mch_id}, not_found_ok=True)
        return True

    def refund(self, *, out_trade_no, amount_fen, out_request_no, reason=""):
        """WeChat wants the trade's total with every refund: asked from WeChat itself, so it is never our guess.
        The same out_refund_no again is the same refund to WeChat (answered, not repeated)."""
        status = self.query(out_trade_no)
        if status is None or status.total_amount is None:
            raise PaymentError(f"wechatpay has no paid trade {out_trade_no}")
        body = {"out_trade_no": out_trade_no, "out_refund_no": out_request_no,
                "amount": {"refund": int(amount_fen), "total": int(status.total_amount * 100), "currency": "CNY"}}
        if reason:
            body["reason"] = reason[:80]
        reply = self._call("POST", "/v3/refund/domestic/refunds", body)
        if reply.get("status") not in ("SUCCESS", "PROCESSING"):
            raise PaymentError(f"wechatpay refund {out_request_no} is {reply.get('status')}")
        refunded = (reply.get("amount") or {}).get("refund")
        if not isinstance(refunded, int):
            raise PaymentError(f"wechatpay refund answered amount {reply.get('amount')!r}")
        return RefundResult(out_request_no=out_request_no, refund_fen=refunded, trade_no=reply.get("transaction_id"))

    def _call(self, method, path, body=None, not_found_ok=False, paid_ok=False, timeout=None):
        """Sign, send, check WeChat's signature on the reply; the JSON reply, or None for a 404 (ORDER_NOT_EXIST)
        or an order paid already (ORDERPAID) when the caller allows it."""
        url = self.gateway + path
        payload = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        split = urllib.parse.urlsplit(url)
        signed_path = split.path + (f"?{split.query}" if split.query else "")
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = sign_message(self.private_key, f"{method}\n{signed_path}\n{timestamp}\n{nonce}\n{payload}\n")
        headers = {"Accept": "application/json", "User-Agent": "crowdfund-wechatpay/1",
                   "Wechatpay-Serial": self.platform_key_id,
                   "Authorization": f'{SCHEME} mchid="{self.mch_id}",nonce_str="{nonce}",signature="{signature}",'
                                    f'timestamp="{timestamp}",serial_no="{self.cert_serial}"'}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=payload.encode("utf-8") if body is not None else None,
                                         method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as reply:
                status, reply_headers, raw = reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as error:
            status, reply_headers, raw = error.code, error.headers, error.read()
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise ProviderUnavailable(f"wechatpay unreachable: {error}") from None
        if status >= 500 or status == 429:
            raise ProviderUnavailable(f"wechatpay answered HTTP {status}")
        text = raw.decode("utf-8", errors="replace")
        try:
            check_signed({name: reply_headers.get(f"Wechatpay-{header}") for name, header in SIGNED_HEADERS}, text,
                         self.platform_public_key, self.platform_key_id)
            answer = json.loads(text) if text else {}
        except (InvalidNotification, ValueError) as error:
            raise ProviderUnavailable(f"wechatpay reply rejected: {error}") from None
        if 200 <= status < 300:
            return answer
        if not_found_ok and status == 404 and answer.get("code") in ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS"):
            return None
        if paid_ok and answer.get("code") == "ORDERPAID":
            return None
        raise PaymentError(f"wechatpay HTTP {status} {answer.get('code')}: {answer.get('message')}")


def _fen(amount):
    """amount.total of a WeChat trade: a positive int of fen in CNY, else None."""
    if not isinstance(amount, dict) or amount.get("currency", "CNY") != "CNY":
        return None
    total = amount.get("total")
    return total if isinstance(total, int) and not isinstance(total, bool) and 0 < total <= 10_000_000_000 else None
