"""WeChat Pay API v3: notifications (genuine, tampered, wrong key or serial, stale, duplicated, forged), and query,
close and refund through the sandbox gateway over HTTP, all through the production WechatPayProvider."""
import json
import random
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from crowdfund import ledger, pledging
from crowdfund.extensions import db
from crowdfund.models import PaymentNotification, Pledge, PledgeStatus, Project, RewardTier, SandboxTrade, User
from crowdfund.models.base import utcnow
from crowdfund.payments import PaymentError, ProviderUnavailable, get_provider, reconciliation
from crowdfund.payments import sandbox_wechatpay as sandbox
from crowdfund.payments.keys import generate_keypair
from crowdfund.payments.wechatpay import WechatPayProvider, description, sandbox_keys
from tests.web.test_payments import new_pledge, shop, status_of, taken  # noqa: F401 - `shop` is a fixture

NOTIFY = "/payments/wechatpay/notify"


@pytest.fixture
def app(make_app):
    return make_app(PAYMENT_PROVIDERS=["alipay", "wechatpay"])


def wechat_pledge(app, shop, key="k1", **kwargs):
    return new_pledge(app, shop, key=key, provider="wechatpay", channel="qr", **kwargs)


def paid_trade(app, out_trade_no, total_fen=110_00, status="SUCCESS"):
    """The trade as sandbox WeChat Pay holds it once the buyer paid."""
    with app.app_context():
        trade = SandboxTrade(provider="wechatpay", out_trade_no=out_trade_no, trade_no=f"4200{out_trade_no}",
                             app_id=app.config["WECHATPAY_APP_ID"], total_fen=total_fen, subject="测试",
                             status=status, channel="qr", paid_at=utcnow())
        db.session.add(trade)
        db.session.commit()
        return trade.id


def notification(app, trade_id, **changes):
    """(headers, body) of the trade's notification, as sandbox WeChat Pay would send it (with `changes`)."""
    with app.test_request_context("/"):
        return sandbox.notification(db.session.get(SandboxTrade, trade_id), **changes)


def notify(client, headers, body):
    return client.post(NOTIFY, data=body, headers=headers)


def rows(app):
    with app.app_context():
        return [(r.accepted, r.reason, r.outcome) for r in
                db.session.scalars(db.select(PaymentNotification).order_by(PaymentNotification.id))]


def test_a_genuine_notification_marks_the_pledge_paid(app, client, shop):
    pledge_id, out_trade_no = wechat_pledge(app, shop)
    answer = notify(client, *notification(app, paid_trade(app, out_trade_no)))
    assert answer.status_code == 204 and answer.get_data() == b""
    assert status_of(app, pledge_id) == PledgeStatus.PAID
    with app.app_context():
        row = db.session.scalars(db.select(PaymentNotification)).one()
        assert row.accepted and row.outcome == "paid" and row.provider == "wechatpay" and row.notify_id
        assert row.params["trade_status"] == "TRADE_SUCCESS" and row.params["total_amount"] == "110.00"
        assert row.params["trade_state"] == "SUCCESS" and json.loads(row.raw)["event_type"] == "TRANSACTION.SUCCESS"
        pledge = db.session.get(Pledge, pledge_id)
        assert pledge.paid_fen == 110_00 and ledger.balance(ledger.clearing("wechatpay")) == 110_00


def _replace(headers, **values):
    return {**headers, **{f"Wechatpay-{name}": value for name, value in values.items()}}


@pytest.mark.parametrize("tamper, reason", [
    (lambda h, b: (h, b.replace('"summary":"支付成功"', '"summary":"x"')), "bad signature"),
    (lambda h, b: (_replace(h, Nonce="0" * 32), b), "bad signature"),
    (lambda h, b: (_replace(h, Timestamp=str(int(h["Wechatpay-Timestamp"]) - 1)), b), "bad signature"),
    (lambda h, b: (_replace(h, Signature=h["Wechatpay-Signature"][::-1]), b), "bad signature"),
    (lambda h, b: (_replace(h, Signature="not base64!"), b), "bad signature"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Signature"}, b), "Wechatpay-Signature missing"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Timestamp"}, b), "Wechatpay-Timestamp missing"),
    (lambda h, b: (_replace(h, **{"Signature-Type": "WECHATPAY2-SHA1"}), b), "Signature-Type must be"),
])
def test_tampered_notifications_are_refused_and_stored(app, client, shop, tamper, reason):
    pledge_id, out_trade_no = wechat_pledge(app, shop)
    answer = notify(client, *tamper(*notification(app, paid_trade(app, out_trade_no))))
    assert answer.status_code == 400 and answer.json["code"] == "FAIL" and reason in answer.json["message"]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    [(accepted, stored_reason, outcome)] = rows(app)
    assert not accepted and reason in stored_reason and outcome is None


def test_wrong_platform_key_and_wrong_serial_are_refused(app, client, shop):
    pledge_id, out_trade_no = wechat_pledge(app, shop)
    trade = paid_trade(app, out_trade_no)
    other_private, _ = generate_keypair(1024)
    assert notify(client, *notification(app, trade, private_key=other_private)).status_code == 400
    assert notify(client, *notification(app, trade, serial="PUB_KEY_ID_0000000000000000")).status_code == 400
    assert [reason for _, reason, _ in rows(app)] == ["bad signature",
                                                      "Wechatpay-Serial is not our platform public key"]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING


def test_validly_signed_but_stale_or_future_notifications_are_refused(app, client, shop):
    """The signature is genuine each time; only the clock says no (an SDK that does not look would accept)."""
    pledge_id, out_trade_no = wechat_pledge(app, shop)
    trade = paid_trade(app, out_trade_no)
    now = time.time()
    for moment in (978_307_200, now - 6 * 60, now + 6 * 60):  # 2001-01-01, six minutes ago, six minutes ahead
        answer = notify(client, *notification(app, trade, timestamp=moment))
        assert answer.status_code == 400 and "5 minutes" in answer.json["message"]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    assert notify(client, *notification(app, trade, timestamp=now - 4 * 60)).status_code == 204  # within the window
    assert status_of(app, pledge_id) == PledgeStatus.PAID


@pytest.mark.parametrize("changes, reason", [
    ({"apiv3_key": "0" * 32}, "does not decrypt"),
    ({"event": {"resource": {"algorithm": "AEAD_AES_256_GCM", "nonce": "abcdefabcdef", "ciphertext": "AAAA",
                             "associated_data": "transaction"}}}, "does not decrypt"),
    ({"event": {"resource": {"algorithm": "AEAD_AES_128_CBC", "nonce": "x", "ciphertext": "x"}}}, "algorithm"),
    ({"event": {"event_type": "REFUND.SUCCESS"}}, "is not TRANSACTION.SUCCESS"),
    ({"resource": {"amount": {"total": 1, "currency": "CNY"}}}, "does not match the pledge"),
    ({"resource": {"amount": {"total": "110.00", "currency": "CNY"}}}, "amount.total"),
    ({"resource": {"amount": {"total": 110_00, "currency": "USD"}}}, "amount.total"),
    ({"resource": {"mchid": "1900000999"}}, "mchid does not match"),
    ({"resource": {"appid": "wx0000000000000000"}}, "appid does not match"),
    ({"resource": {"out_trade_no": "CF20990101NOSUCHTRADE"}}, "unknown out_trade_no"),
])
def test_validly_signed_forgeries_and_mismatches_are_refused(app, client, shop, changes, reason):
    pledge_id, out_trade_no = wechat_pledge(app, shop)
    answer = notify(client, *notification(app, paid_trade(app, out_trade_no), **changes))
    assert answer.status_code == 400 and reason in answer.json["message"]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING


def test_duplicates_shuffled_with_others_change_state_once(app, client, shop):
    pledges = [wechat_pledge(app, shop, key=f"k{i}") for i in range(3)]
    batches = []
    for _pledge_id, out_trade_no in pledges:
        trade = paid_trade(app, out_trade_no)
        batches += [notification(app, trade) for _ in range(8)]  # WeChat's retries: one id, each freshly signed
    batches.append(notification(app, paid_trade(app, "CFFORGED0001", 1), resource={"out_trade_no": pledges[0][1]}))
    random.Random(14).shuffle(batches)
    answers = [notify(client, headers, body).status_code for headers, body in batches]
    assert answers.count(204) == 24 and answers.count(400) == 1
    stored = rows(app)
    assert sorted(outcome for accepted, _, outcome in stored if accepted) == ["paid"] * 3
    assert [reason for accepted, reason, _ in stored if not accepted].count("duplicate notification id") == 21
    with app.app_context():
        assert all(p.status == PledgeStatus.PAID for p in db.session.scalars(db.select(Pledge)))
        assert ledger.balance(ledger.clearing("wechatpay")) == 3 * 110_00 and ledger.verify() == []
    assert taken(app, shop["tier"]) == 3


def test_provider_round_trip_through_the_sandbox_over_http(app, client, shop, live_server):
    pledge_id, out_trade_no = wechat_pledge(app, shop)
    idle_id, idle_no = wechat_pledge(app, shop, key="idle")
    with app.test_request_context("/"):
        provider = get_provider("wechatpay")
        pledge = db.session.get(Pledge, pledge_id)
        qr = pledging.payment_redirect(pledge, "pc").qr_code  # a PC pays by Native QR
        assert qr.startswith(live_server.url + "/sandbox/wechatpay/cashier/4200")
        assert pledging.payment_redirect(pledge, "qr").qr_code == qr, "placing the same order again: same code"
        h5 = pledging.payment_redirect(pledge, "wap").url
        redirect_url = parse_qs(urlsplit(h5).query)["redirect_url"][0]
        assert redirect_url.startswith(live_server.url + "/payments/wechatpay/return?back=")
        status = provider.query(out_trade_no)
        assert (status.trade_status, status.paid, status.closed, status.total_amount) == ("NOTPAY", False, False, 110)
        assert provider.query("CF-NO-SUCH-TRADE") is None
        pledging.payment_redirect(db.session.get(Pledge, idle_id), "qr")
        assert provider.close(idle_no) and provider.query(idle_no).closed
        assert provider.close("CF-NO-SUCH-TRADE")
    cashier = client.get(urlsplit(qr).path).get_data(as_text=True)
    assert "¥110.00" in cashier and "微信支付收银台" in cashier and "待支付" in cashier and "NOTPAY" not in cashier
    with app.test_request_context("/"):
        sandbox.pay(sandbox._trade(out_trade_no), deliver=False)
        provider = get_provider("wechatpay")
        assert provider.query(out_trade_no).paid and provider.query(out_trade_no).trade_no.startswith("4200")
        assert pledging.payment_redirect(db.session.get(Pledge, pledge_id), "qr").qr_code is None, "ORDERPAID"
        with pytest.raises(PaymentError, match="ORDERPAID"):
            provider.close(out_trade_no)
        first = provider.refund(out_trade_no=out_trade_no, amount_fen=30_00, out_request_no="R1", reason="测试")
        again = provider.refund(out_trade_no=out_trade_no, amount_fen=30_00, out_request_no="R1", reason="测试")
        assert first.refund_fen == again.refund_fen == 30_00 and first.trade_no == again.trade_no
        assert [r.out_request_no for r in sandbox.refunds_for(out_trade_no)] == ["R1"]
        assert provider.query(out_trade_no).paid, "a refunded trade (REFUND) was still paid"
        with pytest.raises(PaymentError, match="INVALID_REQUEST"):
            provider.refund(out_trade_no=out_trade_no, amount_fen=80_01, out_request_no="R2")
        with pytest.raises(PaymentError, match="INVALID_REQUEST"):
            provider.refund(out_trade_no=idle_no, amount_fen=1_00, out_request_no="R3")  # never paid
        assert len(sandbox.refunds_for(out_trade_no)) == 1 and sandbox.refunds_for(idle_no) == []


def test_the_gateway_refuses_unsigned_requests_and_the_provider_refuses_unsigned_replies(app, client, shop,
                                                                                        live_server):
    answer = client.post("/sandbox/wechatpay/v3/pay/transactions/native", json={"mchid": "1900000109"})
    assert answer.status_code == 401 and answer.json["code"] == "SIGN_ERROR"
    assert answer.headers["Wechatpay-Serial"] == sandbox_keys(app.instance_path)["platform_key_id"]
    _, out_trade_no = wechat_pledge(app, shop)
    keys = sandbox_keys(app.instance_path)
    other_private, other_public = generate_keypair(1024)
    common = dict(mch_id=app.config["WECHATPAY_MCH_ID"], app_id=app.config["WECHATPAY_APP_ID"],
                  apiv3_key=keys["apiv3_key"], platform_key_id=keys["platform_key_id"],
                  gateway=live_server.url + "/sandbox/wechatpay")
    forger = WechatPayProvider(private_key=other_private, cert_serial=keys["merchant_serial"],
                               platform_public_key=keys["platform_public"], **common)
    with pytest.raises(PaymentError, match="SIGN_ERROR"):
        forger.query(out_trade_no)
    fooled = WechatPayProvider(private_key=keys["merchant_private"], cert_serial=keys["merchant_serial"],
                               platform_public_key=other_public, **common)
    with pytest.raises(ProviderUnavailable, match="reply rejected: bad signature"):
        fooled.query(out_trade_no)
    unreachable = WechatPayProvider(private_key=keys["merchant_private"], cert_serial=keys["merchant_serial"],
                                    platform_public_key=keys["platform_public"],
                                    **{**common, "gateway": "http://127.0.0.1:9"})
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        unreachable.query(out_trade_no)


def test_h5_on_a_phone_pays_and_comes_back_to_the_pledge(app, client, shop, forms, live_server):
    """Without JS: the pledge goes to the H5 cashier, paying there sends the notification (inline job, over HTTP)
    and the browser back to the pledge by our own token; the page then shows the receipt."""
    pledge_id, out_trade_no = new_pledge(app, shop, provider="wechatpay", channel="wap")
    forms.login(email="backer@example.com")
    with app.test_request_context("/"):
        h5 = pledging.payment_redirect(db.session.get(Pledge, pledge_id)).url
    cashier_path = urlsplit(h5).path + "?" + urlsplit(h5).query
    page = client.get(cashier_path)
    assert page.status_code == 200 and "微信支付收银台" in page.get_data(as_text=True)
    paid = forms.post(cashier_path, {"action": "pay", "redirect_url": parse_qs(urlsplit(h5).query)["redirect_url"][0]},
                      form_path=cashier_path)
    assert paid.status_code == 303 and paid.location.startswith(live_server.url + "/payments/wechatpay/return?back=")
    back = client.get(urlsplit(paid.location).path + "?" + urlsplit(paid.location).query)
    assert back.status_code == 303 and back.location == f"/me/pledges/{pledge_id}"
    assert status_of(app, pledge_id) == PledgeStatus.PAID
    receipt = client.get(back.location).get_data(as_text=True)
    assert "支付凭证" in receipt and "支付宝" not in receipt
    with app.app_context():
        assert sandbox._trade(out_trade_no).notifications_sent == 1
    assert client.get("/payments/wechatpay/return").status_code == 400, "nothing signed comes back without our token"


def test_the_qr_page_speaks_of_wechat(app, client, shop, forms, live_server):
    pledge_id, _ = wechat_pledge(app, shop)
    forms.login(email="backer@example.com")
    page = client.get(f"/me/pledges/{pledge_id}/qr").get_data(as_text=True)
    assert "<svg" in page and "打开微信" in page and "微信支付" in page and "支付宝" not in page


def test_a_late_payment_is_refunded_through_wechat_pay(app, client, make_project, make_user, live_server):
    backer = make_user(email="late@example.com")
    slug = make_project(status="live", tiers=[dict(title="唯一", price_fen=50_00, quantity_limit=1, physical=False,
                                                   shipping={})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        tier, user = project.tiers[0], db.session.get(User, backer)
        tier_id = tier.id
        late = pledging.start(user, project, tier, 50_00, idempotency_key="a", risk_accepted=True,
                              provider="wechatpay", channel="qr")
        late_id, late_no = late.id, late.out_trade_no
        late.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        pledging.start(user, project, tier, 50_00, idempotency_key="b", risk_accepted=True, provider="wechatpay")
        assert db.session.get(Pledge, late_id).status == PledgeStatus.EXPIRED
    headers, body = notification(app, paid_trade(app, late_no, 50_00))
    assert notify(client, headers, body).status_code == 204 and notify(client, headers, body).status_code == 204
    assert status_of(app, late_id) == PledgeStatus.REFUNDED
    with app.app_context():
        assert [r.out_request_no for r in sandbox.refunds_for(late_no)] == [f"LATE{late_id}"]
        assert sandbox._trade(late_no).status == "REFUND" and sandbox._trade(late_no).refunded_fen == 50_00
        assert db.session.get(RewardTier, tier_id).taken == 1
        assert ledger.balance(ledger.REFUNDS_PAYABLE) == 0 and ledger.balance(ledger.clearing("wechatpay")) == 0
        assert ledger.verify() == []


def test_reconciliation_applies_a_lost_notification_expires_the_unpaid_and_checks_the_ledger(app, shop,
                                                                                            live_server):
    from crowdfund.payments.callbacks import reconcile

    paid_id, paid_no = wechat_pledge(app, shop, key="paid")
    idle_id, idle_no = wechat_pledge(app, shop, key="idle")
    with app.test_request_context("/"):
        for pledge_id in (paid_id, idle_id):
            pledging.payment_redirect(db.session.get(Pledge, pledge_id), "qr")  # places the orders at "WeChat"
        sandbox.pay(sandbox._trade(paid_no), deliver=False)  # paid, but the notification is lost
        assert reconcile()["paid"] == 0, "nothing is older than five minutes yet"
        result = reconcile(now=utcnow() + timedelta(minutes=31))
        assert result == {"paid": 1, "closed": 0, "expired": 1, "waiting": 0, "errors": 0}
        assert sandbox._trade(idle_no).status == "CLOSED"
        assert reconciliation.check() == {"checked": 1, "mismatches": []}
        trade = sandbox._trade(paid_no)
        trade.total_fen = 99_00  # WeChat took another amount than the ledger booked
        db.session.commit()
        assert reconciliation.check()["mismatches"] == [(paid_no, "amount", "99.00 ≠ 110.00")]
    assert status_of(app, paid_id) == PledgeStatus.PAID and status_of(app, idle_id) == PledgeStatus.EXPIRED
    assert taken(app, shop["tier"]) == 1


def test_production_needs_every_key_and_allows_the_h5_pages(app, tmp_path):
    config = {**app.config, "PAYMENT_SANDBOX": False, "WECHATPAY_MCH_PRIVATE_KEY": None}
    with pytest.raises(PaymentError, match="WECHATPAY_MCH_PRIVATE_KEY"):
        WechatPayProvider.from_config(config, str(tmp_path))
    keys = sandbox_keys(app.instance_path)
    config.update(WECHATPAY_MCH_PRIVATE_KEY=keys["merchant_private"], WECHATPAY_MCH_CERT_SERIAL="ABC",
                  WECHATPAY_APIV3_KEY="short", WECHATPAY_PUBLIC_KEY=keys["platform_public"],
                  WECHATPAY_PUBLIC_KEY_ID="PUB_KEY_ID_1")
    with pytest.raises(PaymentError, match="32 bytes"):
        WechatPayProvider.from_config(config, str(tmp_path))
    provider = WechatPayProvider.from_config({**config, "WECHATPAY_APIV3_KEY": "k" * 32}, str(tmp_path))
    assert provider.gateway == "https://api.mch.weixin.qq.com"
    assert WechatPayProvider.page_addresses(config) == ["https://wx.tenpay.com"]
    assert WechatPayProvider.page_addresses(app.config) == []


def test_descriptions_fit_127_bytes_without_breaking_a_character():
    text = description("夜光露营灯" * 20)
    assert len(text.encode("utf-8")) <= 127 and text == "夜光露营灯" * 8 + "夜光"
    assert description("") == "-"


def test_a_refund_whose_answer_was_lost_is_asked_again_with_the_same_number(app, client, shop, live_server):
    from crowdfund import refunds
    from crowdfund.models import Refund

    pledge_id, out_trade_no = wechat_pledge(app, shop)
    assert notify(client, *notification(app, paid_trade(app, out_trade_no))).status_code == 204
    app.config["SANDBOX_REFUND_DELAY"] = 1.5
    with app.app_context():
        get_provider("wechatpay").timeout = 0.5  # WeChat refunds, but its answer never reaches us
        refund_id = refunds.request_refund(db.session.get(Pledge, pledge_id), "failed").id  # first try, inline
        db.session.expire_all()
        refund = db.session.get(Refund, refund_id)
        assert (refund.status, refund.attempts) == ("pending", 1) and "unreachable" in refund.last_error
        assert [r.out_request_no for r in sandbox.refunds_for(out_trade_no)] == [refund.out_request_no]
        time.sleep(1.5)
        app.config["SANDBOX_REFUND_DELAY"] = 0
        get_provider("wechatpay").timeout = 15
        assert refunds.execute(refund_id) == "succeeded"
        assert [r.out_request_no for r in sandbox.refunds_for(out_trade_no)] == [refund.out_request_no]
        assert sandbox._trade(out_trade_no).refunded_fen == 110_00
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.REFUNDED and ledger.verify() == []
