"""The sandbox "WeChat Pay": a local gateway speaking API v3 with locally generated keys.

The app reaches it through exactly the same WechatPayProvider as production; only the gateway URL and the
keys differ. It checks the merchant's Authorization signature (and its clock), answers JSON signed with the
platform key, seals notifications with the APIv3 key and sends them by a job with WeChat's retry cadence.
Trades are kept as SandboxTrade rows (provider "wechatpay") in WeChat's own words: NOTPAY, SUCCESS, CLOSED,
REFUND. It exists only when PAYMENT_SANDBOX=1 (never in production).
"""
import json
import re
import secrets
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, make_response, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crowdfund.extensions import db
from crowdfund.models import SandboxRefund, SandboxTrade
from crowdfund.models.base import utcnow
from crowdfund.payments.wechatpay import (MAX_SKEW_SECONDS, SCHEME, aead_encrypt, sandbox_keys, sign_message,
                                          verify_message)

BEIJING = ZoneInfo("Asia/Shanghai")
# WeChat sends again after 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h; compressed, a minute becomes a
# second (and the first three a second each).
RETRY_SECONDS = [1, 1, 1, 3, 10, 20, 30, 30, 30, 60, 180, 180, 180, 360, 360]
STATE_NAMES = {"NOTPAY": _l("Waiting for payment"), "SUCCESS": _l("Paid"), "CLOSED": _l("Closed, not paid"),
               "REFUND": _l("Refunded")}
TRADE_TYPES = {"qr": "NATIVE", "wap": "MWEB"}
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')


class SandboxError(Exception):
    """A request the real gateway would refuse: HTTP status, WeChat's error code, and its message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class DeliveryFailed(Exception):
    """The merchant did not answer 200/204; RQ retries on WeChat's (compressed) schedule."""


def _keys():
    return sandbox_keys(current_app.instance_path)


def rfc3339(moment=None):
    """WeChat's time format, Beijing time: 2026-12-04T20:00:00+08:00."""
    return (moment or datetime.now(BEIJING)).astimezone(BEIJING).isoformat(timespec="seconds")


def signed_headers(body, timestamp=None, private_key=None, serial=None):
    """The Wechatpay-* headers WeChat puts on a reply or a notification (tests pass another key, clock or serial)."""
    keys = _keys()
    timestamp, nonce = str(int(time.time() if timestamp is None else timestamp)), secrets.token_hex(16)
    signature = sign_message(private_key or keys["platform_private"], f"{timestamp}\n{nonce}\n{body}\n")
    return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or keys["platform_key_id"], "Wechatpay-Signature-Type": SCHEME}


def reply(status, body=None):
    """A signed JSON reply (204 and the like carry an empty, still signed, body)."""
    text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    response = make_response(text, status)
    response.headers.update(signed_headers(text))
    response.headers["Request-ID"] = secrets.token_hex(16)
    response.mimetype = "application/json"
    return response


def verify_merchant(request):
    """Check the merchant's Authorization header: scheme, mchid, certificate serial, clock and signature."""
    scheme, _, fields = (request.headers.get("Authorization") or "").partition(" ")
    auth = dict(_AUTH_FIELD.findall(fields))
    keys, config = _keys(), current_app.config
    if scheme != SCHEME or not all(auth.get(name) for name in ("mchid", "nonce_str", "signature", "timestamp",
                                                                "serial_no")):
        raise SandboxError(401, "SIGN_ERROR", "Authorization missing or not WECHATPAY2-SHA256-RSA2048")
    if auth["mchid"] != config["WECHATPAY_MCH_ID"]:
        raise SandboxError(401, "SIGN_ERROR", "unknown mchid")
    if auth["serial_no"] != (config.get("WECHATPAY_MCH_CERT_SERIAL") or keys["merchant_serial"]):
        raise SandboxError(401, "SIGN_ERROR", "unknown merchant certificate serial_no")
    if not auth["timestamp"].isdigit() or abs(time.time() - int(auth["timestamp"])) > MAX_SKEW_SECONDS:
        raise SandboxError(401, "SIGN_ERROR", "timestamp is more than 5 minutes off")
    path = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    message = (f"{request.method}\n{path}\n{auth['timestamp']}\n{auth['nonce_str']}\n"
               f"{request.get_data(as_text=True)}\n")
    if not verify_message(keys["merchant_public"], message, auth["signature"]):
        raise SandboxError(401, "SIGN_ERROR", "signature does not verify")
    return auth["mchid"]


def _trade(out_trade_no):
    return db.session.scalar(select(SandboxTrade).where(SandboxTrade.out_trade_no == out_trade_no,
                                                        SandboxTrade.provider == "wechatpay"))


def by_trade_no(trade_no):
    return db.session.scalar(select(SandboxTrade).where(SandboxTrade.trade_no == trade_no,
                                                        SandboxTrade.provider == "wechatpay"))


def open_trade(order, channel):
    """Place (or place again, same amount) the order a native or h5 request describes."""
    config = current_app.config
    if order.get("mchid") != config["WECHATPAY_MCH_ID"] or order.get("appid") != config["WECHATPAY_APP_ID"]:
        raise SandboxError(400, "APPID_MCHID_NOT_MATCH", "appid and mchid do not match")
    amount = order.get("amount") or {}
    total, out_trade_no = amount.get("total"), order.get("out_trade_no") or ""
    if not isinstance(total, int) or total <= 0 or amount.get("currency", "CNY") != "CNY":
        raise SandboxError(400, "PARAM_ERROR", "amount.total must be a positive number of fen")
    if not re.fullmatch(r"[0-9A-Za-z_\-|*]{6,32}", out_trade_no):
        raise SandboxError(400, "PARAM_ERROR", "out_trade_no must be 6-32 letters, digits or _-|*")
    if not order.get("description") or len(order["description"].encode("utf-8")) > 127:
        raise SandboxError(400, "PARAM_ERROR", "description must be 1-127 bytes")
    if not (order.get("notify_url") or "").startswith(("https://", "http://")):
        raise SandboxError(400, "PARAM_ERROR", "notify_url must be an absolute URL")
    trade = _trade(out_trade_no)
    if trade is None:
        trade = SandboxTrade(provider="wechatpay", out_trade_no=out_trade_no, status="NOTPAY",
                             trade_no=f"4200{secrets.randbelow(10 ** 24):024d}", app_id=order["appid"],
                             total_fen=total, subject=order["description"], channel=channel,
                             notify_url=order["notify_url"])
        db.session.add(trade)
        db.session.commit()
    elif trade.total_fen != total:
        raise SandboxError(400, "INVALID_REQUEST", "201 商户订单号重复: same out_trade_no, different amount")
    elif trade.status == "CLOSED":
        raise SandboxError(400, "ORDERCLOSED", "order closed")
    elif trade.status != "NOTPAY":
        raise SandboxError(400, "ORDERPAID", "order paid")
    return trade


def cashier_url(trade, **args):
    return current_app.config["SITE_URL"] + url_for("sandbox_wechatpay.cashier", trade_no=trade.trade_no, **args)


def trade_body(trade):
    """A trade as the query API shows it."""
    body = {"appid": trade.app_id, "mchid": current_app.config["WECHATPAY_MCH_ID"], "out_trade_no": trade.out_trade_no,
            "trade_type": TRADE_TYPES.get(trade.channel, "NATIVE"), "trade_state": trade.status,
            "trade_state_desc": {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭",
                                 "REFUND": "转入退款"}.get(trade.status, ""),
            "amount": {"total": trade.total_fen, "currency": "CNY"}}
    if trade.status in ("SUCCESS", "REFUND"):
        body.update(transaction_id=trade.trade_no, bank_type="OTHERS", attach="",
                    success_time=rfc3339(trade.paid_at), payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
        body["amount"].update(payer_total=trade.total_fen, payer_currency="CNY")
    return body


def pay(trade, deliver=True):
    """The buyer pays: the trade succeeds and a sealed, signed notification is sent by a job (unless "lost")."""
    if trade.status == "NOTPAY":
        trade.status, trade.paid_at = "SUCCESS", utcnow()
        db.session.commit()
    if deliver and trade.notify_url:
        from crowdfund.queueing import enqueue

        enqueue(deliver_notification, trade.id, queue="notifications", retries=len(RETRY_SECONDS),
                retry_intervals=RETRY_SECONDS)


def notification_id(trade):
    """One id per trade's success, the same on every retry: that is what the merchant de-duplicates by."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"wechatpay-sandbox:{trade.trade_no}:SUCCESS"))


def notification(trade, resource=None, event=None, apiv3_key=None, **signing):
    """(headers, body) of the TRANSACTION.SUCCESS notification for a paid trade. Tests change the decrypted
    `resource` fields, the outer `event` fields, the key sealing it, or (through `signing`: timestamp,
    private_key, serial) how it is signed."""
    plain = json.dumps({**trade_body(trade), **(resource or {})}, ensure_ascii=False, separators=(",", ":"))
    nonce = secrets.token_hex(6)  # WeChat's resource nonce: 12 characters
    body = json.dumps({
        "id": notification_id(trade), "create_time": rfc3339(), "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "associated_data": "transaction",
                     "nonce": nonce, "ciphertext": aead_encrypt(apiv3_key or _keys()["apiv3_key"], nonce, plain,
                                                                "transaction")},
        **(event or {})}, ensure_ascii=False, separators=(",", ":"))
    return {"Content-Type": "application/json", **signed_headers(body, **signing)}, body


def deliver_notification(trade_id):
    """Job: POST the notification to the merchant; anything but 200/204 is sent again later."""
    trade = db.session.get(SandboxTrade, trade_id)
    headers, body = notification(trade)
    request = urllib.request.Request(trade.notify_url, data=body.encode("utf-8"), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        raise DeliveryFailed(f"notify_url unreachable: {error}") from None
    trade.notifications_sent += 1
    db.session.commit()
    if status not in (200, 204):
        raise DeliveryFailed(f"merchant answered HTTP {status}")
    return status


def handle(request, operation, out_trade_no=None):
    """Answer one API v3 call (native, h5, query, close, refund) as WeChat would, signed."""
    try:
        verify_merchant(request)
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            raise SandboxError(400, "PARAM_ERROR", "body is not JSON") from None
        if operation in ("native", "h5"):
            trade = open_trade(body, "qr" if operation == "native" else "wap")
            if operation == "native":
                return reply(200, {"code_url": cashier_url(trade)})
            return reply(200, {"h5_url": cashier_url(trade, prepay_id=f"wx{trade.trade_no[4:]}", package="2150")})
        if operation == "refund":
            return reply(200, refund(body))
        mchid = request.args.get("mchid") if operation == "query" else body.get("mchid")
        if mchid != current_app.config["WECHATPAY_MCH_ID"]:
            raise SandboxError(400, "PARAM_ERROR", "mchid does not match")
        hold = current_app.config.get("SANDBOX_QUERY_HOLD")  # lets tests watch a query mid-flight
        if operation == "query" and hold is not None:
            hold(out_trade_no)
        trade = _trade(out_trade_no)
        if trade is None:
            raise SandboxError(404, "ORDER_NOT_EXIST", "订单不存在")
        if operation == "query":
            return reply(200, trade_body(trade))
        if trade.status in ("SUCCESS", "REFUND"):
            raise SandboxError(400, "ORDERPAID", "order paid, it cannot be closed")
        trade.status = "CLOSED"
        db.session.commit()
        return reply(204)
    except SandboxError as error:
        db.session.rollback()
        return reply(error.status, {"code": error.code, "message": error.message})


def refund(body):
    """Refund once per out_refund_no: the same number again answers the same refund and moves no money."""
    trade = _trade(body.get("out_trade_no") or "")
    if trade is None:
        raise SandboxError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    out_refund_no, amount = body.get("out_refund_no") or "", body.get("amount") or {}
    refund_fen, total = amount.get("refund"), amount.get("total")
    if not out_refund_no or not isinstance(refund_fen, int) or refund_fen <= 0 or total != trade.total_fen:
        raise SandboxError(400, "PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
    existing = db.session.scalar(select(SandboxRefund).where(SandboxRefund.out_request_no == out_refund_no))
    if existing is None:
        if trade.status not in ("SUCCESS", "REFUND"):
            raise SandboxError(400, "INVALID_REQUEST", "订单未支付")
        if trade.refunded_fen + refund_fen > trade.total_fen:
            raise SandboxError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        existing = SandboxRefund(trade_id=trade.id, out_request_no=out_refund_no, amount_fen=refund_fen)
        db.session.add(existing)
        trade.refunded_fen += refund_fen
        trade.status = "REFUND"
        db.session.commit()
    elif existing.trade_id != trade.id or existing.amount_fen != refund_fen:
        raise SandboxError(400, "INVALID_REQUEST", "same out_refund_no, different refund")
    time.sleep(current_app.config.get("SANDBOX_REFUND_DELAY", 0))  # a slow answer, for tests that stop a worker
    return {"refund_id": f"50{existing.id:030d}", "out_refund_no": out_refund_no, "transaction_id": trade.trade_no,
            "out_trade_no": trade.out_trade_no, "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
            "create_time": rfc3339(existing.created_at), "status": "SUCCESS", "funds_account": "AVAILABLE",
            "amount": {"total": trade.total_fen, "refund": existing.amount_fen, "payer_total": trade.total_fen,
                       "payer_refund": existing.amount_fen, "settlement_total": trade.total_fen,
                       "settlement_refund": existing.amount_fen, "discount_refund": 0, "currency": "CNY",
                       "refund_fee": 0}}


def refunds_for(out_trade_no):
    """The refunds the sandbox made for a trade (tests count them by out_refund_no)."""
    trade = _trade(out_trade_no)
    if trade is None:
        return []
    return db.session.scalars(select(SandboxRefund).where(SandboxRefund.trade_id == trade.id)).all()


def safe_redirect(url):
    """H5's redirect_url, if it leads back to this site (WeChat only sends the browser to the merchant's domain)."""
    site = current_app.config["SITE_URL"]
    return url if url and (url == site or url.startswith(site + "/")) else None
