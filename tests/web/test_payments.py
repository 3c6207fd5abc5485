"""Payments: Alipay signatures, notifications (genuine, forged, duplicated, reordered), reservations, sandbox."""
import random
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa, sign_with_rsa2

from crowdfund import pledging
from crowdfund.extensions import db
from crowdfund.models import PaymentNotification, Pledge, PledgeStatus, Project, RewardTier, SandboxTrade, User
from crowdfund.models.base import utcnow
from crowdfund.payments import get_provider, sandbox
from crowdfund.payments.keys import generate_keypair, sandbox_keys

ADDRESS = {"name": "张三", "phone": "13800000000", "province": "浙江省", "city": "杭州市", "district": "西湖区",
           "detail": "文三路 1 号"}


@pytest.fixture
def shop(app, make_project, make_user):
    """A live project with a limited physical tier, and a backer; returns ids."""
    backer = make_user(email="backer@example.com")
    slug = make_project(status="live", tiers=[dict(title="早鸟", price_fen=100_00, quantity_limit=50,
                                                   shipping={"mainland": 10_00})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return {"slug": slug, "project": project.id, "tier": project.tiers[0].id, "backer": backer}


def new_pledge(app, shop, key="k1", **kwargs):
    """A pending pledge of the tier: the shop's backer's for key "k1", another backer's for each other key (one
    account holds one unpaid slot of a reward at a time)."""
    from crowdfund import accounts

    with app.app_context():
        project = db.session.get(Project, shop["project"])
        tier = db.session.get(RewardTier, shop["tier"])
        backer = db.session.get(User, shop["backer"]) if key == "k1" else accounts.ensure_user(
            f"backer-{key}@example.com", "支持者", "correct horse 1")[0]
        pledge = pledging.start(backer, project, tier, kwargs.pop("amount", 100_00),
                                idempotency_key=key, region="mainland", address=ADDRESS, risk_accepted=True,
                                **kwargs)
        return pledge.id, pledge.out_trade_no


def sandbox_trade(app, out_trade_no, total_fen, status="TRADE_SUCCESS"):
    """The trade as sandbox Alipay would hold it after the buyer paid."""
    with app.app_context():
        trade = SandboxTrade(out_trade_no=out_trade_no, trade_no=f"T{out_trade_no}", app_id=app.config["ALIPAY_APP_ID"],
                             total_fen=total_fen, subject="测试", status=status, channel="pc")
        db.session.add(trade)
        db.session.commit()
        return trade.id


def signed_notification(app, trade_id):
    with app.test_request_context("/"):
        return sandbox.notification_params(db.session.get(SandboxTrade, trade_id))


def notify(client, params):
    return client.post("/payments/alipay/notify", data=params).get_data(as_text=True)


def status_of(app, pledge_id):
    with app.app_context():
        return db.session.get(Pledge, pledge_id).status


def taken(app, tier_id):
    with app.app_context():
        return db.session.get(RewardTier, tier_id).taken


def test_a_genuine_notification_marks_the_pledge_paid(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = signed_notification(app, sandbox_trade(app, out_trade_no, 110_00))
    assert notify(client, params) == "success"
    assert status_of(app, pledge_id) == PledgeStatus.PAID
    with app.app_context():
        row = db.session.scalars(db.select(PaymentNotification)).one()
        assert row.accepted and row.outcome == "paid" and row.raw and row.params["out_trade_no"] == out_trade_no


@pytest.mark.parametrize("tamper, reason", [
    (lambda p: p.update(total_amount="1.00"), "bad signature"),
    (lambda p: p.pop("sign"), "sign missing"),
    (lambda p: p.update(sign_type="RSA"), "sign_type must be RSA2"),
    (lambda p: p.pop("sign_type"), "sign_type must be RSA2"),
    (lambda p: p.update(trade_status="TRADE_FINISHED"), "bad signature"),
])
def test_tampered_notifications_are_refused_and_stored(app, client, shop, tamper, reason):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = signed_notification(app, sandbox_trade(app, out_trade_no, 110_00))
    tamper(params)
    assert notify(client, params) == "fail"
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    with app.app_context():
        row = db.session.scalars(db.select(PaymentNotification)).one()
        assert not row.accepted and reason in row.reason and row.applied_at is None


def _resign(app, params, signer, private_key):
    unsigned = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    return {**unsigned, "sign_type": "RSA2", "sign": signer(private_key, get_sign_content(unsigned), "utf-8")}


def test_wrong_key_and_sha1_signatures_are_refused(app, client, shop):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = signed_notification(app, sandbox_trade(app, out_trade_no, 110_00))
    other_private, _ = generate_keypair(1024)
    alipay_private = sandbox_keys(app.instance_path)["alipay_private"]
    assert notify(client, _resign(app, params, sign_with_rsa2, other_private)) == "fail"
    assert notify(client, _resign(app, params, sign_with_rsa, alipay_private)) == "fail"  # SHA-1
    with app.app_context():
        reasons = [r.reason for r in db.session.scalars(db.select(PaymentNotification))]
    assert reasons == ["bad signature", "signature uses SHA-1, not SHA-256"]
    assert status_of(app, pledge_id) == PledgeStatus.PENDING


@pytest.mark.parametrize("change, reason", [
    ({"total_amount": "99.00"}, "does not match the pledge"),
    ({"app_id": "2021999999999999"}, "app_id does not match"),
    ({"out_trade_no": "CF20990101NOSUCHTRADE"}, "unknown out_trade_no"),
    ({"seller_id": "2088999999999999"}, "seller_id does not match"),
])
def test_business_checks_refuse_validly_signed_mismatches(app, client, shop, change, reason):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = signed_notification(app, sandbox_trade(app, out_trade_no, 110_00))
    alipay_private = sandbox_keys(app.instance_path)["alipay_private"]
    params = _resign(app, {**params, **change}, sign_with_rsa2, alipay_private)
    assert notify(client, params) == "fail"
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    with app.app_context():
        assert reason in db.session.scalars(db.select(PaymentNotification)).one().reason


def test_duplicates_shuffled_with_others_change_state_once(app, client, shop):
    pledges = [new_pledge(app, shop, key=f"k{i}") for i in range(3)]
    batches = []
    for _pledge_id, out_trade_no in pledges:
        trade = sandbox_trade(app, out_trade_no, 110_00)
        batches += [signed_notification(app, trade) for _ in range(8)]
    forged = dict(batches[0], total_amount="0.01")
    batches.append(forged)
    random.Random(7).shuffle(batches)
    answers = [notify(client, params) for params in batches]
    assert answers.count("success") == 24 and answers.count("fail") == 1
    with app.app_context():
        outcomes = [r.outcome for r in db.session.scalars(db.select(PaymentNotification).filter_by(accepted=True))]
        assert sorted(outcomes).count("paid") == 3 and outcomes.count("duplicate") == 21
        assert all(p.status == PledgeStatus.PAID for p in db.session.scalars(db.select(Pledge)))
    assert taken(app, shop["tier"]) == 3


def test_closed_after_paid_changes_nothing_and_closed_when_pending_releases(app, client, shop):
    paid_id, paid_no = new_pledge(app, shop, key="a")
    open_id, open_no = new_pledge(app, shop, key="b")
    notify(client, signed_notification(app, sandbox_trade(app, paid_no, 110_00)))
    assert notify(client, signed_notification(app, sandbox_trade(app, open_no, 110_00, status="TRADE_CLOSED"))) \
        == "success"
    with app.app_context():
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=paid_no))
        trade.status = "TRADE_CLOSED"
        db.session.commit()
    with app.test_request_context("/"):
        late_close = sandbox.notification_params(db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=paid_no)))
    assert notify(client, late_close) == "success"
    assert status_of(app, paid_id) == PledgeStatus.PAID
    assert status_of(app, open_id) == PledgeStatus.CLOSED
    assert taken(app, shop["tier"]) == 1


def test_the_same_idempotency_key_makes_one_pledge(app, shop):
    first = new_pledge(app, shop, key="double-click")
    second = new_pledge(app, shop, key="double-click")
    assert first == second and taken(app, shop["tier"]) == 1


def test_quote_rules(app, shop):
    with app.app_context():
        project = db.session.get(Project, shop["project"])
        tier = db.session.get(RewardTier, shop["tier"])
        assert pledging.quote(project, tier, 100_00, "mainland").total_fen == 110_00
        with pytest.raises(pledging.AmountTooLow):
            pledging.quote(project, tier, 99_99, "mainland")
        with pytest.raises(pledging.NotShippedThere):
            pledging.quote(project, tier, 100_00, "overseas")
        assert pledging.quote(project, None, 1_00).total_fen == 1_00
        with pytest.raises(pledging.AmountTooLow):
            pledging.quote(project, None, 99)
        project.end_at = utcnow() - timedelta(seconds=1)
        with pytest.raises(pledging.NotAcceptingPledges):
            pledging.quote(project, None, 1_00)


def test_expiry_frees_the_slot_and_a_late_payment_is_refunded(app, client, make_project, make_user, live_server):
    backer = make_user(email="late@example.com")
    slug = make_project(status="live", tiers=[dict(title="唯一", price_fen=50_00, quantity_limit=1, physical=False,
                                                   shipping={})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        tier, user = project.tiers[0], db.session.get(User, backer)
        first = pledging.start(user, project, tier, 50_00, idempotency_key="a", risk_accepted=True)
        with pytest.raises(pledging.TierSoldOut):
            pledging.start(user, project, tier, 50_00, idempotency_key="b", risk_accepted=True)
        first_id, first_no = first.id, first.out_trade_no
        first.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        second = pledging.start(user, project, tier, 50_00, idempotency_key="c", risk_accepted=True)
        assert second.status == PledgeStatus.PENDING
        assert db.session.get(Pledge, first_id).status == PledgeStatus.EXPIRED
        assert db.session.get(RewardTier, tier.id).taken == 1
    # The first backer pays anyway: the money is kept on record and refunded, exactly once.
    params = signed_notification(app, sandbox_trade(app, first_no, 50_00))
    assert notify(client, params) == "success" and notify(client, params) == "success"
    assert status_of(app, first_id) == PledgeStatus.REFUNDED
    with app.app_context():
        from crowdfund import ledger

        assert [r.out_request_no for r in sandbox.refunds_for(first_no)] == [f"LATE{first_id}"]
        assert db.session.get(RewardTier, tier.id).taken == 1
        assert ledger.balance(ledger.REFUNDS_PAYABLE) == 0 and ledger.balance(ledger.clearing("alipay")) == 0
        assert ledger.verify() == []


def test_provider_round_trip_through_the_sandbox_over_http(app, client, shop, live_server):
    pledge_id, out_trade_no = new_pledge(app, shop)
    with app.test_request_context("/"):
        provider = get_provider()
        pledge = db.session.get(Pledge, pledge_id)
        redirect = pledging.payment_redirect(pledge, "wap")
        assert redirect.url.startswith(live_server.url + "/sandbox/alipay/gateway.do?")
        assert "110.00" in redirect.url and "QUICK_WAP_WAY" in redirect.url
        qr = pledging.payment_redirect(pledge, "qr").qr_code
        assert qr.startswith(live_server.url + "/sandbox/alipay/cashier/")
        assert provider.query(out_trade_no).trade_status == "WAIT_BUYER_PAY"
        assert provider.query("CF-NO-SUCH-TRADE") is None
    cashier = client.get(urlsplit(qr).path)
    assert cashier.status_code == 200 and "¥110.00" in cashier.get_data(as_text=True)
    assert "待支付" in cashier.get_data(as_text=True) and "WAIT_BUYER_PAY" not in cashier.get_data(as_text=True)
    with app.test_request_context("/"):
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        sandbox.pay(trade, deliver=False)
        assert get_provider().query(out_trade_no).paid
        first = get_provider().refund(out_trade_no=out_trade_no, amount_fen=110_00, out_request_no="R1")
        again = get_provider().refund(out_trade_no=out_trade_no, amount_fen=110_00, out_request_no="R1")
        assert first.refund_fen == again.refund_fen == 110_00
        assert len(sandbox.refunds_for(out_trade_no)) == 1


def test_reconciliation_applies_a_lost_notification_and_expires_the_unpaid(app, shop, live_server):
    from crowdfund.payments.callbacks import reconcile

    paid_id, paid_no = new_pledge(app, shop, key="paid")
    idle_id, idle_no = new_pledge(app, shop, key="idle")
    with app.test_request_context("/"):
        for pledge_id in (paid_id, idle_id):
            pledging.payment_redirect(db.session.get(Pledge, pledge_id), "qr")  # opens the trade at "Alipay"
        sandbox.pay(db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=paid_no)), deliver=False)
        assert reconcile()["paid"] == 0, "nothing is older than five minutes yet"
        later = utcnow() + timedelta(minutes=31)
        result = reconcile(now=later)
    assert result == {"paid": 1, "closed": 0, "expired": 1, "waiting": 0, "errors": 0}
    assert status_of(app, paid_id) == PledgeStatus.PAID
    assert status_of(app, idle_id) == PledgeStatus.EXPIRED
    with app.app_context():
        assert db.session.scalar(db.select(SandboxTrade.status).filter_by(out_trade_no=idle_no)) == "TRADE_CLOSED"
    assert taken(app, shop["tier"]) == 1


def test_return_page_checks_the_signature_and_never_marks_paid(app, client, shop, forms):
    pledge_id, out_trade_no = new_pledge(app, shop)
    trade_id = sandbox_trade(app, out_trade_no, 110_00)
    with app.test_request_context("/"):
        trade = db.session.get(SandboxTrade, trade_id)
        trade.return_url = "http://localhost/payments/alipay/return"
        url = sandbox.return_url(trade)
    forms.login(email="backer@example.com")
    response = client.get(urlsplit(url).path + "?" + urlsplit(url).query)
    assert response.status_code == 303 and response.location == f"/me/pledges/{pledge_id}"
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    page = client.get(response.location).get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in page and "等待支付确认" in page
    tampered = client.get(urlsplit(url).path + "?" + urlsplit(url).query.replace("110.00", "1.00"))
    assert tampered.status_code == 400


def test_sandbox_gateway_refuses_unsigned_requests(client):
    response = client.get("/sandbox/alipay/gateway.do?method=alipay.trade.page.pay&app_id=x&sign=abc&sign_type=RSA2")
    assert response.status_code == 400


def test_sandbox_is_refused_in_production(monkeypatch, tmp_path):
    from crowdfund import create_app
    from crowdfund.config import ConfigError

    for key, value in {"CROWDFUND_ENV": "production", "SECRET_KEY": "k" * 48, "PAYMENT_SANDBOX": "1",
                       "DATABASE_URL": "postgresql://db/x", "INSTANCE_PATH": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="PAYMENT_SANDBOX"):
        create_app()


def test_signed_requests_use_beijing_time_and_string_amounts(app, shop):
    from datetime import datetime
    from urllib.parse import parse_qs
    from zoneinfo import ZoneInfo

    pledge_id, _ = new_pledge(app, shop)
    with app.test_request_context("/"):
        url = pledging.payment_redirect(db.session.get(Pledge, pledge_id), "pc").url
    params = parse_qs(urlsplit(url).query)
    stamp = datetime.strptime(params["timestamp"][0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert abs((stamp - utcnow()).total_seconds()) < 120
    assert '"total_amount":"110.00"' in params["biz_content"][0].replace(" ", "")
    assert params["sign_type"] == ["RSA2"]
