"""UnionPay: signatures and certificates, back notifications (genuine, tampered, forged, stale, duplicated,
reordered), the signed front return, and query / refund / reconciliation through the sandbox over HTTP."""
import random
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from crowdfund import pledging
from crowdfund.extensions import db
from crowdfund.models import (PaymentNotification, Pledge, PledgeStatus, Project, Refund, RewardTier, SandboxTrade,
                              User)
from crowdfund.models.base import utcnow
from crowdfund.payments import PaymentError, get_provider, sandbox_unionpay
from crowdfund.payments.sandbox_unionpay import issue, new_key, pem, sandbox_credentials
from crowdfund.payments.unionpay import (UNIONPAY_NAME, UnionPayProvider, beijing, load_certificate,
                                         load_private_key, order_id_for_refund, parse_reply, sign)
from tests.conftest import csrf_from

ADDRESS = {"name": "张三", "phone": "13800000000", "province": "浙江省", "city": "杭州市", "district": "西湖区",
           "detail": "文三路 1 号"}


@pytest.fixture
def app(make_app):
    return make_app(PAYMENT_PROVIDERS=["alipay", "unionpay"])


@pytest.fixture
def shop(app, make_project, make_user):
    """A live project with a limited physical tier, and a backer; returns ids."""
    backer = make_user(email="backer@example.com")
    slug = make_project(status="live", tiers=[dict(title="早鸟", price_fen=100_00, quantity_limit=50,
                                                   shipping={"mainland": 10_00})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return {"slug": slug, "project": project.id, "tier": project.tiers[0].id, "backer": backer}


def new_pledge(app, shop, key="k1"):
    """A pending UnionPay pledge of 110.00 (another backer's for each key but "k1")."""
    from crowdfund import accounts

    with app.app_context():
        project = db.session.get(Project, shop["project"])
        tier = db.session.get(RewardTier, shop["tier"])
        backer = db.session.get(User, shop["backer"]) if key == "k1" else accounts.ensure_user(
            f"backer-{key}@example.com", "支持者", "correct horse 1")[0]
        pledge = pledging.start(backer, project, tier, 100_00, idempotency_key=key, region="mainland",
                                address=ADDRESS, risk_accepted=True, provider="unionpay")
        return pledge.id, pledge.out_trade_no


def paid_trade(app, out_trade_no, total_fen=110_00, status="00"):
    """The order as sandbox UnionPay holds it once the buyer paid (named by the pledge's txnTime)."""
    with app.app_context():
        pledge = db.session.scalar(db.select(Pledge).filter_by(out_trade_no=out_trade_no))
        trade = SandboxTrade(provider="unionpay", out_trade_no=out_trade_no, trade_no=sandbox_unionpay.new_query_id(),
                             app_id=app.config["UNIONPAY_MER_ID"], total_fen=total_fen, subject="", status=status,
                             channel="pc", txn_time=beijing(pledge.created_at) if pledge else beijing(utcnow()))
        db.session.add(trade)
        db.session.commit()
        return trade.id


def notification(app, trade_id):
    with app.test_request_context("/"):
        return sandbox_unionpay.notification_params(db.session.get(SandboxTrade, trade_id))


def resigned(app, params, key=None, cert=None, **changes):
    """The notification with `changes`, signed again (by the sandbox's UnionPay key unless `key`), carrying
    `cert` as its signPubKeyCert (the sandbox's signing certificate unless given)."""
    credentials = sandbox_credentials(app.instance_path)
    fields = {k: v for k, v in {**params, **changes}.items() if k != "signature"}
    fields["signPubKeyCert"] = cert or credentials["sign_cert"]
    return {**fields, "signature": sign(fields, key or load_private_key(credentials["sign_key"]))}


def notify(client, params):
    response = client.post("/payments/unionpay/notify", data=params)
    return response.status_code, response.get_data(as_text=True)


def status_of(app, pledge_id):
    with app.app_context():
        return db.session.get(Pledge, pledge_id).status


def reasons(app):
    with app.app_context():
        rows = db.session.scalars(db.select(PaymentNotification).order_by(PaymentNotification.id))
        return [row.reason for row in rows]


def test_a_genuine_back_notification_marks_the_pledge_paid(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = notification(app, paid_trade(app, out_trade_no))
    assert notify(client, params) == (200, "ok")
    assert status_of(app, pledge_id) == PledgeStatus.PAID
    with app.app_context():
        row = db.session.scalars(db.select(PaymentNotification)).one()
        assert row.accepted and row.outcome == "paid" and row.notify_id == params["queryId"]
        assert row.params["out_trade_no"] == out_trade_no and row.params["total_amount"] == "110.00"
        assert "signPubKeyCert" not in row.params and row.raw
        assert db.session.get(Pledge, pledge_id).trade_no == params["queryId"]


TAMPERINGS = [
    (lambda p: p.update(txnAmt="100"), "bad signature"),
    (lambda p: p.update(orderId=p["orderId"][:-1] + "0"), "bad signature"),
    (lambda p: p.pop("signature"), "signature missing"),
    (lambda p: p.update(signMethod="11"), "signMethod must be 01 (RSA-SHA256), got '11'"),
    (lambda p: p.pop("signPubKeyCert"), "signPubKeyCert is not a certificate"),
    (lambda p: p.update(signature=p["signature"][:-8] + "AAAAAAA="), "bad signature"),
]


def test_tampered_notifications_are_refused_and_stored(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    genuine = notification(app, paid_trade(app, out_trade_no))
    for tamper, _reason in TAMPERINGS:
        params = dict(genuine)
        tamper(params)
        assert notify(client, params) == (400, "fail")
    assert reasons(app) == [reason for _tamper, reason in TAMPERINGS]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    with app.app_context():
        assert not any(row.accepted or row.applied_at for row in db.session.scalars(db.select(PaymentNotification)))


def test_a_signature_by_another_key_is_refused(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = notification(app, paid_trade(app, out_trade_no))
    assert notify(client, resigned(app, params, key=new_key())) == (400, "fail")  # the genuine cert goes along
    assert reasons(app) == ["bad signature"]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING


def test_certificates_must_chain_to_the_root_be_valid_and_name_unionpay(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = notification(app, paid_trade(app, out_trade_no))
    credentials = sandbox_credentials(app.instance_path)
    middle, middle_key = load_certificate(credentials["middle_cert"]), load_private_key(credentials["middle_key"])
    subject = load_certificate(credentials["sign_cert"]).subject
    # A look-alike chain of the forger's own: same names, not issued by our root.
    fake_root_key, fake_middle_key, key = new_key(), new_key(), new_key()
    fake_root = issue(load_certificate(credentials["root_cert"]).subject, fake_root_key, ca=True)
    fake_middle = issue(middle.subject, fake_middle_key, fake_root, fake_root_key, ca=True)
    unchained = issue(subject, key, fake_middle, fake_middle_key)
    expired = issue(subject, key, middle, middle_key, not_before=utcnow() - timedelta(days=800), days=730)
    stranger = issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CFCA@某某科技有限公司@00010000SHA2@0")]),
                     key, middle, middle_key)
    for cert in (unchained, expired, stranger):
        assert notify(client, resigned(app, params, key=key, cert=pem(cert))) == (400, "fail")
    assert reasons(app) == ["certificate does not chain to the UnionPay root",
                            "signing certificate expired or not yet valid",
                            f"certificate CN 'CFCA@某某科技有限公司@00010000SHA2@0' does not name {UNIONPAY_NAME}"]
    # A new signing certificate UnionPay's middle CA issued is trusted without any change on our side.
    renewed = issue(subject, key, middle, middle_key)
    assert notify(client, resigned(app, params, key=key, cert=pem(renewed))) == (200, "ok")
    assert status_of(app, pledge_id) == PledgeStatus.PAID


def test_a_stale_notification_is_refused(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = notification(app, paid_trade(app, out_trade_no))
    old = beijing(utcnow() - timedelta(days=1, minutes=1))
    future = beijing(utcnow() + timedelta(minutes=20))
    assert notify(client, resigned(app, params, txnTime=old)) == (400, "fail")
    assert notify(client, resigned(app, params, txnTime=future)) == (400, "fail")
    assert notify(client, resigned(app, params, txnTime="2026-12-04")) == (400, "fail")
    assert reasons(app) == [f"stale notification: txnTime {old}", f"stale notification: txnTime {future}",
                            "txnTime is not YYYYMMDDhhmmss"]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING


MISMATCHES = [
    ({"txnAmt": "9900"}, "total_amount 99.00 does not match the pledge"),
    ({"txnAmt": "0"}, "txnAmt is not an amount in fen"),
    ({"txnAmt": "１１０００"}, "txnAmt is not an amount in fen"),
    ({"merId": "777290058110099"}, "merId does not match"),
    ({"orderId": "CF20990101NOSUCHTRADE0000"}, "unknown out_trade_no"),
    ({"txnType": "31"}, "txnType '31' is not a payment"),
    ({"currencyCode": "840"}, "currencyCode is not 156 (RMB)"),
]


def test_business_checks_refuse_validly_signed_mismatches(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    genuine = notification(app, paid_trade(app, out_trade_no))
    for change, _reason in MISMATCHES:
        assert notify(client, resigned(app, genuine, **change)) == (400, "fail")
    assert reasons(app) == [reason for _change, reason in MISMATCHES]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING


def test_a_failed_payment_notification_is_acknowledged_and_changes_nothing(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = resigned(app, notification(app, paid_trade(app, out_trade_no)), respCode="51", respMsg="余额不足")
    assert notify(client, params) == (200, "ok")
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    with app.app_context():
        assert db.session.scalars(db.select(PaymentNotification)).one().outcome == "ignored"


def test_a_refund_result_notification_is_acknowledged_and_never_applied(app, client, shop):
    """A refund we asked for names our notify URL as its backUrl, so UnionPay reports its result there too."""
    pledge_id, out_trade_no = new_pledge(app, shop)
    paid = notification(app, paid_trade(app, out_trade_no))
    refund = resigned(app, paid, txnType="04", orderId="00RF12F", origQryId=paid["queryId"])
    assert notify(client, refund) == (200, "ok"), "acknowledged, so UnionPay stops sending it"
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    with app.app_context():
        row = db.session.scalars(db.select(PaymentNotification)).one()
        assert not row.accepted and row.applied_at is None and row.reason.startswith("refund notification")
    forged = dict(refund, txnAmt="1")
    assert notify(client, forged) == (400, "fail"), "the signature is checked first"


def test_duplicates_shuffled_with_others_change_state_once(app, client, shop):
    pledges = [new_pledge(app, shop, key=f"k{i}") for i in range(3)]
    batches = []
    for _pledge_id, out_trade_no in pledges:
        trade = paid_trade(app, out_trade_no)
        batches += [notification(app, trade) for _ in range(8)]  # UnionPay's retries: the same queryId
    batches.append(resigned(app, batches[0], txnAmt="1"))  # forged amount, genuinely signed
    random.Random(14).shuffle(batches)
    answers = [notify(client, params) for params in batches]
    assert answers.count((200, "ok")) == 24 and answers.count((400, "fail")) == 1
    with app.app_context():
        rows = db.session.scalars(db.select(PaymentNotification)).all()
        assert sorted(r.outcome for r in rows if r.accepted) == ["paid"] * 3
        assert sum(r.reason == "duplicate notification id" for r in rows) == 21
        assert all(p.status == PledgeStatus.PAID for p in db.session.scalars(db.select(Pledge)))
        assert db.session.get(RewardTier, shop["tier"]).taken == 3


def test_the_front_return_checks_the_signature_and_sets_no_cookie(app, client, shop, forms):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = notification(app, paid_trade(app, out_trade_no))
    forms.login(email="backer@example.com")
    response = client.post("/payments/unionpay/return", data=params)
    assert response.status_code == 303 and "Set-Cookie" not in response.headers
    assert urlsplit(response.location).path == "/payments/unionpay/return" and "back=" in response.location
    back = client.get(response.location)
    assert back.status_code == 303 and back.location == f"/me/pledges/{pledge_id}"
    assert status_of(app, pledge_id) == PledgeStatus.PENDING, "the return never marks a pledge paid"
    assert client.post("/payments/unionpay/return", data=dict(params, txnAmt="1")).status_code == 400
    assert client.post("/payments/unionpay/return", data=resigned(app, params, key=new_key())).status_code == 400
    assert client.post("/payments/unionpay/return",
                       data=resigned(app, params, merId="777290058110099")).status_code == 400


def test_payment_form_and_query_and_refund_round_trip_over_http(app, client, shop, live_server):
    pledge_id, out_trade_no = new_pledge(app, shop)
    never_sent_id, never_sent_no = new_pledge(app, shop, key="k2")
    with app.test_request_context("/"):
        provider = get_provider("unionpay")
        pledge = db.session.get(Pledge, pledge_id)
        target = pledging.payment_redirect(pledge, "wap")
        assert target.url == live_server.url + "/sandbox/unionpay/gateway/api/frontTransReq.do"
        form = target.form
        assert {k: form[k] for k in ("version", "txnType", "txnSubType", "bizType", "channelType", "orderId",
                                     "txnAmt", "currencyCode", "signMethod", "accessType")} == {
            "version": "5.1.0", "txnType": "01", "txnSubType": "01", "bizType": "000201", "channelType": "08",
            "orderId": out_trade_no, "txnAmt": "11000", "currencyCode": "156", "signMethod": "01", "accessType": "0"}
        assert form["txnTime"] == beijing(pledge.created_at) and form["payTimeOut"] == beijing(pledge.expires_at)
        assert form["frontUrl"] == live_server.url + "/payments/unionpay/return"
        assert form["backUrl"] == live_server.url + "/payments/unionpay/notify"
        assert pledging.payment_redirect(pledge, "pc").form["channelType"] == "07"
        assert pledging.payment_redirect(pledge, "pc").form["txnTime"] == form["txnTime"], "stable across visits"
    opened = client.post(urlsplit(target.url).path, data=form)
    assert opened.status_code == 303 and "/sandbox/unionpay/cashier/" in opened.location
    page = client.get(opened.location).get_data(as_text=True)
    assert "¥110.00" in page and "银联收银台" in page and "待支付" in page
    assert client.post(urlsplit(target.url).path, data=dict(form, txnAmt="1")).status_code == 400
    with app.test_request_context("/"):
        provider = get_provider("unionpay")
        assert provider.query(out_trade_no).trade_status == "WAIT_BUYER_PAY"
        assert provider.query(never_sent_no) is None, "UnionPay answers 34: no such order"
        assert provider.query("CF20990101NOSUCHPLEDGE0000") is None
        with pytest.raises(PaymentError, match="not paid"):
            provider.refund(out_trade_no=out_trade_no, amount_fen=110_00, out_request_no="RF1F")
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        sandbox_unionpay.pay(trade, deliver=False)
        status = provider.query(out_trade_no)
        assert status.paid and status.trade_no == trade.trade_no and str(status.total_amount) == "110.00"
        first = provider.refund(out_trade_no=out_trade_no, amount_fen=60_00, out_request_no="RF1T1")
        again = provider.refund(out_trade_no=out_trade_no, amount_fen=60_00, out_request_no="RF1T1")
        assert first.refund_fen == again.refund_fen == 60_00
        with pytest.raises(PaymentError, match="refund 01"):
            provider.refund(out_trade_no=out_trade_no, amount_fen=60_00, out_request_no="RF1T2")  # 120 > 110
        assert [(r.out_request_no, r.amount_fen) for r in sandbox_unionpay.refunds_for(out_trade_no)] == [
            ("000RF1T1", 60_00)]


def test_a_refund_retried_after_a_crash_refunds_once(app, shop, live_server):
    """The worker died after UnionPay refunded but before we booked it: the retry sends the same refund number."""
    from crowdfund import ledger, refunds

    pledge_id, out_trade_no = new_pledge(app, shop)
    with app.test_request_context("/"):
        target = pledging.payment_redirect(db.session.get(Pledge, pledge_id), "pc")
    app.test_client().post(urlsplit(target.url).path, data=target.form)
    with app.test_request_context("/"):
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        sandbox_unionpay.pay(trade, deliver=False)
        status = get_provider("unionpay").query(out_trade_no)
        pledging.record_payment(out_trade_no, status.trade_no, 110_00)
        number = refunds.out_request_no(db.session.get(Pledge, pledge_id), "failed")
        get_provider("unionpay").refund(out_trade_no=out_trade_no, amount_fen=110_00, out_request_no=number)
        refund_id = refunds.request_refund(db.session.get(Pledge, pledge_id), "failed").id  # its job runs inline
    with app.app_context():
        assert db.session.get(Refund, refund_id).status == "succeeded"
        assert [r.out_request_no for r in sandbox_unionpay.refunds_for(out_trade_no)] == [order_id_for_refund(number)]
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.REFUNDED
        assert ledger.balance(ledger.clearing("unionpay")) == 0 and ledger.verify() == []


def test_a_late_payment_goes_back_through_unionpay(app, client, make_project, make_user, live_server):
    from crowdfund import ledger

    backer = make_user(email="late@example.com")
    slug = make_project(status="live", tiers=[dict(title="唯一", price_fen=50_00, quantity_limit=1, physical=False,
                                                   shipping={})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        pledge = pledging.start(db.session.get(User, backer), project, project.tiers[0], 50_00,
                                idempotency_key="a", risk_accepted=True, provider="unionpay")
        pledge_id, out_trade_no = pledge.id, pledge.out_trade_no
        pledge.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        pledging.start(db.session.get(User, backer), project, project.tiers[0], 50_00, idempotency_key="b",
                       risk_accepted=True, provider="unionpay")  # expires the first and takes its slot
    params = notification(app, paid_trade(app, out_trade_no, 50_00))
    assert notify(client, params) == (200, "ok") and notify(client, params) == (200, "ok")
    assert status_of(app, pledge_id) == PledgeStatus.REFUNDED
    with app.app_context():
        assert [r.out_request_no for r in sandbox_unionpay.refunds_for(out_trade_no)] == [
            order_id_for_refund(f"LATE{pledge_id}")]
        assert ledger.balance(ledger.clearing("unionpay")) == 0 and ledger.balance(ledger.REFUNDS_PAYABLE) == 0
        assert ledger.verify() == []


def test_reconciliation_finds_a_lost_notification_and_checks_the_books(app, shop, live_server):
    from crowdfund.payments import reconciliation
    from crowdfund.payments.callbacks import reconcile

    paid_id, paid_no = new_pledge(app, shop, key="paid")
    idle_id, idle_no = new_pledge(app, shop, key="idle")
    client = app.test_client()
    with app.test_request_context("/"):
        targets = [pledging.payment_redirect(db.session.get(Pledge, i), "pc") for i in (paid_id, idle_id)]
    for target in targets:
        assert client.post(urlsplit(target.url).path, data=target.form).status_code == 303
    with app.test_request_context("/"):
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=paid_no))
    cashier = client.get(f"/sandbox/unionpay/cashier/{trade.trade_no}")
    lost = client.post(f"/sandbox/unionpay/cashier/{trade.trade_no}",
                       data={"csrf_token": csrf_from(cashier), "action": "pay_lose_notification"})
    assert lost.status_code == 200 and "返回商户" in lost.get_data(as_text=True)
    with app.test_request_context("/"):
        assert reconcile()["paid"] == 0, "nothing is older than five minutes yet"
        result = reconcile(now=utcnow() + timedelta(minutes=31))
    assert result == {"paid": 1, "closed": 0, "expired": 1, "waiting": 0, "errors": 0}
    assert status_of(app, paid_id) == PledgeStatus.PAID and status_of(app, idle_id) == PledgeStatus.EXPIRED
    with app.test_request_context("/"):
        assert reconciliation.check() == {"checked": 1, "mismatches": []}
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=paid_no))
        trade.total_fen = 100_00  # UnionPay took something else than we booked
        db.session.commit()
        assert reconciliation.check()["mismatches"] == [(paid_no, "amount", "100.00 ≠ 110.00")]


def test_the_cashier_refuses_payment_after_pay_time_out(app, client, shop, live_server):
    pledge_id, out_trade_no = new_pledge(app, shop)
    with app.test_request_context("/"):
        target = pledging.payment_redirect(db.session.get(Pledge, pledge_id), "pc")
    opened = client.post(urlsplit(target.url).path, data=target.form)
    with app.app_context():
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        trade.pay_timeout = beijing(utcnow() - timedelta(seconds=1))
        db.session.commit()
    page = client.get(opened.location)
    assert "该交易已无法支付。" in page.get_data(as_text=True) and "支付时间已过" in page.get_data(as_text=True)
    paid = client.post(opened.location, data={"csrf_token": csrf_from(page), "action": "pay"})
    assert paid.status_code == 409
    with app.app_context():
        assert db.session.scalar(db.select(SandboxTrade.status).filter_by(out_trade_no=out_trade_no)) == "05"


def test_the_gateway_refuses_what_the_merchant_did_not_sign(client):
    assert client.post("/sandbox/unionpay/gateway/api/frontTransReq.do",
                       data={"version": "5.1.0", "signMethod": "01", "merId": "777290058110048",
                             "signature": "abc"}).status_code == 400
    answer = parse_reply(client.post("/sandbox/unionpay/gateway/api/queryTrans.do",
                                     data={"merId": "777290058110048"}).get_data(as_text=True))
    assert answer["respCode"] == "11" and answer["signPubKeyCert"].startswith("-----BEGIN CERTIFICATE-----")


def test_replies_keep_certificates_and_braced_values_whole():
    cert = "-----BEGIN CERTIFICATE-----\r\nAB+/c=\r\n-----END CERTIFICATE-----\r\n"
    assert parse_reply(f"a=1&cert={cert}&r={{x=1&y=2}}&z=") == {"a": "1", "cert": cert, "r": "{x=1&y=2}", "z": ""}


def test_production_needs_keys_and_certificates(app):
    config = {**app.config, "PAYMENT_SANDBOX": False, "UNIONPAY_SIGN_KEY": None}
    with pytest.raises(PaymentError, match="UNIONPAY_SIGN_KEY, UNIONPAY_SIGN_CERT_ID, UNIONPAY_ROOT_CERT"):
        UnionPayProvider.from_config(config, app.instance_path)
    credentials = sandbox_credentials(app.instance_path)
    built = UnionPayProvider.from_config({**config, "UNIONPAY_SIGN_KEY": credentials["merchant_key"],
                                          "UNIONPAY_SIGN_CERT_ID": "1", "UNIONPAY_ROOT_CERT": credentials["root_cert"],
                                          "UNIONPAY_MIDDLE_CERT": credentials["middle_cert"]}, app.instance_path)
    assert built.gateway == "https://gateway.95516.com"
    assert UnionPayProvider.page_addresses(config) == ["https://gateway.95516.com/gateway/api/frontTransReq.do"]
    from crowdfund.security import content_security_policy

    app.config["PAYMENT_SANDBOX"] = False
    with app.test_request_context("/"):
        assert "form-action 'self' https://openapi.alipay.com https://gateway.95516.com" in content_security_policy()


def test_txn_time_is_beijing_time():
    moment = datetime(2026, 12, 4, 16, 30, 5, tzinfo=timezone.utc)
    assert beijing(moment) == "20261205003005"
