"""The sandbox "Alipay": a local gateway speaking Alipay's protocol with locally generated keys.

The app reaches it through exactly the same AlipayProvider as production; only the gateway URL
and keys differ. It exists only when PAYMENT_SANDBOX=1 (never in production).
"""
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

import rsa
from alipay.aop.api.util.SignatureUtils import fill_public_key_marker, get_sign_content, sign_with_rsa2
from flask import current_app
from sqlalchemy import select

from crowdfund.extensions import db
from crowdfund.models import SandboxRefund, SandboxTrade
from crowdfund.models.base import utcnow
from crowdfund.payments.alipay import to_fen, yuan
from crowdfund.payments.keys import sandbox_keys

log = logging.getLogger(__name__)
BEIJING = ZoneInfo("Asia/Shanghai")
# Alipay retries notifications after 4m, 10m, 10m, 1h, 2h, 6h, 15h; the sandbox compresses minutes to seconds.
RETRY_SECONDS = [4, 10, 10, 60, 120, 360, 900]


class SandboxError(Exception):
    """A request the real gateway would refuse; `code`/`sub_code` as Alipay would answer."""

    def __init__(self, code, sub_code, message):
        super().__init__(message)
        self.code, self.sub_code, self.message = code, sub_code, message


class DeliveryFailed(Exception):
    """The merchant did not answer "success"; RQ retries on Alipay's (compressed) schedule."""


def _keys():
    return sandbox_keys(current_app.instance_path)


def beijing_now():
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def sign(params):
    """Sign like Alipay signs notifications and return URLs (sign and sign_type left out of the content)."""
    content = get_sign_content({k: v for k, v in params.items() if v not in (None, "") and k not in ("sign", "sign_type")})
    return {**params, "sign_type": "RSA2", "sign": sign_with_rsa2(_keys()["alipay_private"], content, "utf-8")}


def verify_merchant(params):
    """Check a merchant request's signature (everything but `sign`, as the SDK signs it) with the app's public key."""
    params = dict(params)
    signature = params.pop("sign", "")
    if params.get("sign_type") != "RSA2" or not signature:
        raise SandboxError("40002", "isv.invalid-signature-type", "RSA2 signature required")
    if params.get("app_id") != current_app.config["ALIPAY_APP_ID"]:
        raise SandboxError("40002", "isv.invalid-app-id", "unknown app_id")
    import base64

    public = rsa.PublicKey.load_pkcs1_openssl_pem(fill_public_key_marker(_keys()["app_public"]).encode())
    try:
        method = rsa.verify(get_sign_content(params).encode("utf-8"), base64.b64decode(signature), public)
    except (rsa.VerificationError, ValueError):
        raise SandboxError("40002", "isv.invalid-signature", "signature does not verify") from None
    if method != "SHA-256":
        raise SandboxError("40002", "isv.invalid-signature", "RSA2 must use SHA-256")
    return params


def api_reply(method, body):
    """A signed JSON reply in the exact shape the SDK parses."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    signature = sign_with_rsa2(_keys()["alipay_private"], content, "utf-8")
    return '{"%s_response":%s,"sign":"%s"}' % (method.replace(".", "_"), content, signature)


def _trade(out_trade_no):
    return db.session.scalar(select(SandboxTrade).where(SandboxTrade.out_trade_no == out_trade_no,
                                                        SandboxTrade.provider == "alipay"))


def open_trade(params, channel):
    """Create (or find again) the trade a page/wap/precreate request describes."""
    biz = json.loads(params.get("biz_content") or "{}")
    out_trade_no = biz.get("out_trade_no")
    if not out_trade_no or not biz.get("total_amount"):
        raise SandboxError("40004", "ACQ.INVALID_PARAMETER", "out_trade_no and total_amount are required")
    trade = _trade(out_trade_no)
    if trade is None:
        trade = SandboxTrade(out_trade_no=out_trade_no, trade_no=f"2026{secrets.token_hex(10)}",
                             app_id=params["app_id"], total_fen=to_fen(biz["total_amount"]),
                             subject=biz.get("subject", ""), channel=channel, notify_url=params.get("notify_url"),
                             return_url=params.get("return_url"))
        db.session.add(trade)
    elif trade.total_fen != to_fen(biz["total_amount"]):
        raise SandboxError("40004", "ACQ.CONTEXT_INCONSISTENT", "same out_trade_no with a different amount")
    elif trade.status == "TRADE_CLOSED":
        raise SandboxError("40004", "ACQ.TRADE_HAS_CLOSE", "trade closed")
    db.session.commit()
    return trade


def pay(trade, deliver=True):
    """The buyer pays: the trade succeeds, a signed notification is sent (unless "lost"); returns the return URL."""
    if trade.status == "WAIT_BUYER_PAY":
        trade.status, trade.paid_at = "TRADE_SUCCESS", utcnow()
        db.session.commit()
    if deliver and trade.notify_url:
        from crowdfund.queueing import enqueue

        enqueue(deliver_notification, trade.id, queue="notifications", retries=len(RETRY_SECONDS),
                retry_intervals=RETRY_SECONDS)
    return return_url(trade)


def return_url(trade):
    """The merchant's return URL with Alipay's signed parameters."""
    if not trade.return_url:
        return None
    params = sign({"app_id": trade.app_id, "method": "alipay.trade.page.pay.return", "charset": "utf-8",
                   "version": "1.0", "timestamp": beijing_now(), "out_trade_no": trade.out_trade_no,
                   "trade_no": trade.trade_no, "total_amount": yuan(trade.total_fen),
                   "seller_id": current_app.config["ALIPAY_SELLER_ID"]})
    separator = "&" if "?" in trade.return_url else "?"
    return trade.return_url + separator + urllib.parse.urlencode(params)


def notification_params(trade):
    """The signed TRADE_SUCCESS (or current status) notification for a trade."""
    return sign({
        "notify_time": beijing_now(), "notify_type": "trade_status_sync", "notify_id": secrets.token_hex(16),
        "app_id": trade.app_id, "charset": "utf-8", "version": "1.0", "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no, "trade_status": trade.status, "total_amount": yuan(trade.total_fen),
        "receipt_amount": yuan(trade.total_fen), "buyer_pay_amount": yuan(trade.total_fen),
        "seller_id": current_app.config["ALIPAY_SELLER_ID"], "buyer_id": "2088102000000001",
        "subject": trade.subject, "gmt_payment": beijing_now(),
    })


def deliver_notification(trade_id):
    """Job: POST the signed notification to the merchant; anything but "success" is retried."""
    trade = db.session.get(SandboxTrade, trade_id)
    body = urllib.parse.urlencode(notification_params(trade)).encode()
    request = urllib.request.Request(trade.notify_url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            answer = reply.read().decode().strip()
    except (urllib.error.URLError, OSError) as error:
        raise DeliveryFailed(f"notify_url unreachable: {error}") from None
    trade.notifications_sent += 1
    db.session.commit()
    if answer != "success":
        raise DeliveryFailed(f"merchant answered {answer!r}")
    return answer


def handle_api(params):
    """Answer a server-to-server API call (query / refund / close / precreate) with a signed reply."""
    method = params.get("method", "")
    try:
        verify_merchant(params)
        biz = json.loads(params.get("biz_content") or "{}")
        if method == "alipay.trade.precreate":
            trade = open_trade(params, "qr")
            from flask import url_for

            body = {"out_trade_no": trade.out_trade_no,
                    "qr_code": current_app.config["SITE_URL"] + url_for("sandbox.cashier", trade_no=trade.trade_no)}
        else:
            # A slow answer: SANDBOX_QUERY_HOLD(out_trade_no) may wait, so tests can watch a job mid-run.
            hold = current_app.config.get("SANDBOX_QUERY_HOLD")
            if method == "alipay.trade.query" and hold is not None:
                hold(biz.get("out_trade_no", ""))
            trade = _trade(biz.get("out_trade_no", ""))
            if trade is None:
                raise SandboxError("40004", "ACQ.TRADE_NOT_EXIST", "trade does not exist")
            body = {"out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}
            if method == "alipay.trade.query":
                body.update(trade_status=trade.status, total_amount=yuan(trade.total_fen))
            elif method == "alipay.trade.close":
                if trade.status != "WAIT_BUYER_PAY":
                    raise SandboxError("40004", "ACQ.TRADE_STATUS_ERROR", "only unpaid trades can be closed")
                trade.status = "TRADE_CLOSED"
                db.session.commit()
            elif method == "alipay.trade.refund":
                body.update(refund(trade, biz))
                # A slow answer (SANDBOX_REFUND_DELAY seconds) lets tests kill a worker mid-refund.
                time.sleep(current_app.config.get("SANDBOX_REFUND_DELAY", 0))
            else:
                raise SandboxError("40004", "isv.invalid-method", f"unsupported method {method}")
        body = {"code": "10000", "msg": "Success", **body}
    except SandboxError as error:
        db.session.rollback()
        body = {"code": error.code, "msg": "Business Failed", "sub_code": error.sub_code, "sub_msg": error.message}
    return api_reply(method or "error", body)


def refund(trade, biz):
    """Refund once per out_request_no; a retry with the same number answers the same, refunding nothing more."""
    out_request_no = biz.get("out_request_no") or trade.out_trade_no
    existing = db.session.scalar(select(SandboxRefund).where(SandboxRefund.out_request_no == out_request_no))
    amount = to_fen(biz.get("refund_amount", "0"))
    if existing is None:
        if trade.status not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            raise SandboxError("40004", "ACQ.TRADE_STATUS_ERROR", "trade is not paid")
        if amount <= 0 or trade.refunded_fen + amount > trade.total_fen:
            raise SandboxError("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "refund exceeds what was paid")
        db.session.add(SandboxRefund(trade_id=trade.id, out_request_no=out_request_no, amount_fen=amount))
        trade.refunded_fen += amount
        db.session.commit()
    return {"refund_fee": yuan(trade.refunded_fen), "fund_change": "Y" if existing is None else "N"}


def refunds_for(out_trade_no):
    """How many refunds the sandbox has made for a trade (tests count by out_request_no)."""
    trade = _trade(out_trade_no)
    return [] if trade is None else db.session.scalars(select(SandboxRefund).where(SandboxRefund.trade_id == trade.id)).all()
