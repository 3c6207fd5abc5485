"""The sandbox "UnionPay": a local gateway speaking the 全渠道 5.1.0 protocol with locally made keys and certificates.

The app reaches it through exactly the same UnionPayProvider as production; only the gateway address, the
merchant key and the trusted root/middle certificates differ. It exists only when PAYMENT_SANDBOX=1.

Its trades live in SandboxTrade (provider "unionpay"), in UnionPay's own words: `trade_no` is the queryId,
`app_id` the merId, `status` the origRespCode a query answers ("05" still being paid, "00" paid).
"""
import os
import secrets
import shutil
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import current_app
from sqlalchemy import select

from crowdfund.extensions import db
from crowdfund.models import SandboxRefund, SandboxTrade
from crowdfund.models.base import utcnow
from crowdfund.payments.unionpay import (BEIJING, NO_SUCH_ORDER, PAID, TIME_FORMAT, UNIONPAY_NAME, beijing,
                                         format_reply, load_certificate, load_private_key, sign, signature_valid)

WAITING = "05"
# The sandbox retries an unanswered notification after 1, 2, 4, 8 and 16 seconds (a compressed schedule).
RETRY_SECONDS = [1, 2, 4, 8, 16]
FILES = ("root_key", "root_cert", "middle_key", "middle_cert", "sign_key", "sign_cert", "merchant_key",
         "merchant_cert")


class SandboxError(Exception):
    """A request the real gateway would refuse: `code` is the respCode UnionPay would answer."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class DeliveryFailed(Exception):
    """The merchant did not answer HTTP 200; RQ retries on the sandbox's schedule."""


def _name(common_name, unit):
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "China Financial Certification Authority"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(subject, key, issuer=None, issuer_key=None, *, ca=False, not_before=None, days=730):
    """A certificate for `key`'s public half, issued by `issuer`/`issuer_key` (self-signed without them)."""
    not_before = not_before or datetime.now(timezone.utc) - timedelta(days=1)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.subject if issuer is not None else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key or key, hashes.SHA256())


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(item):
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM).decode()
    return item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()


def _generate(folder):
    """A root, a middle CA under it, UnionPay's signing certificate and the merchant's, all under `folder`."""
    root_key, middle_key, sign_key, merchant_key = new_key(), new_key(), new_key(), new_key()
    root = issue(_name("CFCA TEST ROOT", "Sandbox"), root_key, ca=True, days=7300)
    middle = issue(_name("CFCA TEST OCA1", "Sandbox"), middle_key, root, root_key, ca=True, days=3650)
    signing = issue(_name(f"CFCA@{UNIONPAY_NAME}@00010000SHA2@0", "Sandbox"), sign_key, middle, middle_key)
    merchant = issue(_name("CFCA@Crowdfund sandbox merchant@777290058110048@0", "Sandbox"), merchant_key,
                     middle, middle_key)
    items = dict(zip(FILES, (root_key, root, middle_key, middle, sign_key, signing, merchant_key, merchant)))
    for name, item in items.items():
        path = folder / f"{name}.pem"
        path.write_text(pem(item))
        path.chmod(0o600 if name.endswith("_key") else 0o644)


def sandbox_credentials(instance_path):
    """The sandbox's certificates and keys (PEM text), made once under instance/payments/unionpay/.

    Gunicorn and RQ workers may all ask at once on a fresh instance folder: each makes a complete set in a
    folder of its own and renames it into place; a rename onto a folder that exists fails, and that process
    uses the set that was first.
    """
    folder = Path(instance_path) / "payments" / "unionpay"
    if not (folder / "merchant_cert.pem").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = folder.with_name(f".unionpay.{os.getpid()}.{secrets.token_hex(4)}")
        temporary.mkdir(mode=0o700)
        try:
            _generate(temporary)
            os.rename(temporary, folder)
        except OSError:
            if not (folder / "merchant_cert.pem").exists():
                raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    found = {name: (folder / f"{name}.pem").read_text() for name in FILES}
    found["merchant_cert_id"] = str(x509.load_pem_x509_certificate(found["merchant_cert"].encode()).serial_number)
    return found


def _credentials():
    return sandbox_credentials(current_app.instance_path)


def signed(fields):
    """Sign like UnionPay: its signing certificate goes along (signPubKeyCert) for the merchant to check, with
    CRLF line ends as UnionPay sends it: a browser posting the front notification turns every line end into CRLF,
    so a certificate with bare LFs would no longer match its signature."""
    credentials = _credentials()
    certificate = credentials["sign_cert"].replace("\r\n", "\n").replace("\n", "\r\n")
    fields = {**fields, "signMethod": "01", "signPubKeyCert": certificate}
    return {**fields, "signature": sign(fields, load_private_key(credentials["sign_key"]))}


def verify_merchant(params):
    """Check a merchant request: our merchant, the certificate it names (certId), and its signature."""
    credentials = _credentials()
    if params.get("version") != "5.1.0" or params.get("signMethod") != "01":
        raise SandboxError("11", "version 5.1.0 with signMethod 01 required")
    if params.get("merId") != current_app.config["UNIONPAY_MER_ID"]:
        raise SandboxError("11", "unknown merId")
    merchant = load_certificate(credentials["merchant_cert"])
    if params.get("certId") != str(merchant.serial_number):
        raise SandboxError("11", "unknown certId")
    if not signature_valid(params, merchant.public_key()):
        raise SandboxError("11", "signature does not verify")
    return params


def answer(fields):
    """A signed back-end answer in UnionPay's `k=v&…` form."""
    return format_reply(signed({"version": "5.1.0", "encoding": "UTF-8", **fields}))


def refused(params, error):
    return answer({"respCode": error.code, "respMsg": error.message, "merId": params.get("merId", ""),
                   "orderId": params.get("orderId", ""), "txnType": params.get("txnType", ""),
                   "txnTime": params.get("txnTime", "")})


def find_trade(order_id, txn_time=None):
    """The trade UnionPay names by orderId (and txnTime, when given: a query must name both)."""
    trade = db.session.scalar(select(SandboxTrade).where(SandboxTrade.out_trade_no == order_id,
                                                         SandboxTrade.provider == "unionpay"))
    if trade is None or (txn_time is not None and trade.txn_time != txn_time):
        return None
    return trade


def new_query_id():
    """A 21-digit queryId like UnionPay's: a timestamp and seven random digits."""
    return beijing(datetime.now(timezone.utc)) + f"{secrets.randbelow(10 ** 7):07d}"


def open_trade(params):
    """Create (or find again) the order a front-end payment form describes."""
    if params.get("txnType") != "01" or params.get("bizType") != "000201":
        raise SandboxError("11", "only consumption (txnType 01, bizType 000201) is supported")
    amount, order_id, txn_time = params.get("txnAmt", ""), params.get("orderId", ""), params.get("txnTime", "")
    if not (amount.isascii() and amount.isdigit() and int(amount) > 0) or not order_id or len(txn_time) != 14:
        raise SandboxError("11", "orderId, txnTime and txnAmt are required")
    trade = find_trade(order_id)
    if trade is None:
        trade = SandboxTrade(provider="unionpay", out_trade_no=order_id, trade_no=new_query_id(),
                             app_id=params["merId"], total_fen=int(amount), subject="", status=WAITING,
                             channel="wap" if params.get("channelType") == "08" else "pc",
                             notify_url=params.get("backUrl"), return_url=params.get("frontUrl"),
                             txn_time=txn_time, pay_timeout=params.get("payTimeOut") or None)
        db.session.add(trade)
    elif trade.txn_time != txn_time or trade.total_fen != int(amount):
        raise SandboxError("12", "orderId was used already with another txnTime or txnAmt")
    db.session.commit()
    return trade


def payable(trade, now=None):
    """Unpaid, and its payTimeOut (Beijing time) not passed."""
    if trade.status != WAITING:
        return False
    if not trade.pay_timeout:
        return True
    deadline = datetime.strptime(trade.pay_timeout, TIME_FORMAT).replace(tzinfo=BEIJING)
    return (now or datetime.now(timezone.utc)) < deadline


def pay(trade, deliver=True):
    """The buyer pays: the order succeeds and the back notification goes out (unless "lost")."""
    if payable(trade):
        trade.status, trade.paid_at = PAID, utcnow()
        db.session.commit()
    if deliver and trade.notify_url and trade.status == PAID:
        from crowdfund.queueing import enqueue

        enqueue(deliver_notification, trade.id, queue="notifications", retries=len(RETRY_SECONDS),
                retry_intervals=RETRY_SECONDS)


def notification_params(trade):
    """The signed notification for a paid order: the same queryId on every retry (the back and front ones alike)."""
    return signed({
        "version": "5.1.0", "encoding": "UTF-8", "bizType": "000201", "txnType": "01", "txnSubType": "01",
        "accessType": "0", "merId": trade.app_id, "orderId": trade.out_trade_no, "txnTime": trade.txn_time,
        "txnAmt": str(trade.total_fen), "currencyCode": "156", "queryId": trade.trade_no,
        "respCode": "00" if trade.status == PAID else trade.status, "respMsg": "success",
        "settleAmt": str(trade.total_fen), "settleCurrencyCode": "156",
        "settleDate": trade.txn_time[4:8], "traceNo": trade.trade_no[-6:], "traceTime": trade.txn_time[4:],
        "accNo": "6216****0018", "payCardType": "01", "payType": "0001",
    })


def deliver_notification(trade_id):
    """Job: POST the signed back notification to backUrl; anything but HTTP 200 is retried."""
    trade = db.session.get(SandboxTrade, trade_id)
    body = urllib.parse.urlencode(notification_params(trade)).encode()
    request = urllib.request.Request(trade.notify_url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    trade.notifications_sent += 1
    db.session.commit()
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"merchant answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise DeliveryFailed(f"backUrl unreachable: {error}") from None
    return "delivered"


def handle_query(params):
    """queryTrans.do: the order named by orderId and txnTime, its origRespCode; respCode 34 for no such order."""
    try:
        verify_merchant(params)
        trade = find_trade(params.get("orderId", ""), params.get("txnTime", ""))
        if trade is None:
            raise SandboxError(NO_SUCH_ORDER, "no such order")
        return answer({"respCode": "00", "respMsg": "success", "merId": trade.app_id, "orderId": trade.out_trade_no,
                       "txnTime": trade.txn_time, "txnType": "00", "txnSubType": "00", "queryId": trade.trade_no,
                       "txnAmt": str(trade.total_fen), "currencyCode": "156", "origRespCode": trade.status,
                       "origRespMsg": "success" if trade.status == PAID else "processing"})
    except SandboxError as error:
        db.session.rollback()
        return refused(params, error)


def handle_back(params):
    """backTransReq.do: refunds (txnType 04), each refund an order of its own named by its orderId."""
    try:
        verify_merchant(params)
        if params.get("txnType") != "04":
            raise SandboxError("11", "only refunds (txnType 04) are supported here")
        body = refund(params)
    except SandboxError as error:
        db.session.rollback()
        return refused(params, error)
    return answer({"respCode": "00", "respMsg": "success", "merId": params["merId"], "txnType": "04",
                   "txnSubType": "00", "txnTime": params.get("txnTime", ""), **body})


def refund(params):
    """Refund once per orderId; a retry with the same orderId answers the same, refunding nothing more."""
    order_id, amount = params.get("orderId", ""), params.get("txnAmt", "")
    if not order_id or not (amount.isascii() and amount.isdigit()) or int(amount) <= 0:
        raise SandboxError("11", "orderId and txnAmt are required")
    trade = db.session.scalar(select(SandboxTrade).where(SandboxTrade.trade_no == params.get("origQryId", ""),
                                                         SandboxTrade.provider == "unionpay"))
    if trade is None:
        raise SandboxError(NO_SUCH_ORDER, "no such original transaction")
    existing = db.session.scalar(select(SandboxRefund).where(SandboxRefund.out_request_no == order_id))
    if existing is not None:
        if existing.trade_id != trade.id or existing.amount_fen != int(amount):
            raise SandboxError("12", "orderId was used already for another refund")
    else:
        if trade.status != PAID:
            raise SandboxError("01", "the original transaction is not paid")
        if trade.refunded_fen + int(amount) > trade.total_fen:
            raise SandboxError("01", "refund exceeds what was paid")
        existing = SandboxRefund(trade_id=trade.id, out_request_no=order_id, amount_fen=int(amount))
        db.session.add(existing)
        trade.refunded_fen += int(amount)
        db.session.commit()
    return {"orderId": order_id, "origQryId": trade.trade_no, "txnAmt": str(existing.amount_fen),
            "queryId": f"{beijing(existing.created_at or utcnow())}{existing.id:07d}"}


def refunds_for(order_id):
    """The refunds the sandbox made for an order (tests count them by refund orderId)."""
    trade = find_trade(order_id)
    if trade is None:
        return []
    return db.session.scalars(select(SandboxRefund).where(SandboxRefund.trade_id == trade.id)).all()
