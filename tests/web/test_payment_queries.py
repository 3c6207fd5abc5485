"""A lost notification: the pledge page asks the sandbox Alipay itself (rate-limited), and never offers to pay
a trade Alipay already paid or closed."""
import socket
import threading
import time
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import request, request_started

from crowdfund import pledging
from crowdfund.extensions import db
from crowdfund.models import PaymentNotification, Pledge, PledgeStatus, Project, RewardTier, SandboxTrade, User
from crowdfund.models.base import utcnow
from crowdfund.payments import get_provider, sandbox, waiting
from tests.conftest import Browserless, LiveServer

WAITING, PAY_NOW, CLOSED = "等待支付确认", "立即支付", "支付宝已关闭这笔交易"


class Served:
    """The app served over HTTP (the sandbox gateway answers there), counting the trade queries it receives."""

    def __init__(self, app):
        self.app, self.queries = app, []
        self.server = LiveServer(app)
        app.config["SITE_URL"] = self.server.url
        request_started.connect(self._count, app)

    def _count(self, sender, **extra):
        if request.endpoint == "sandbox.gateway" and request.form.get("method") == "alipay.trade.query":
            self.queries.append(request.form.get("biz_content"))


def serve(app):
    served = Served(app)
    yield served
    request_started.disconnect(served._count, app)
    served.server.stop()


@pytest.fixture
def served(app):
    """The test app (embedded mode: the limiter keeps its counts in memory) served over HTTP."""
    yield from serve(app)


@pytest.fixture(params=["memory", "redis"])
def limited(request, app, make_app):
    """Served with the limiter's counts in memory (embedded mode), or on a second app in Redis (production)."""
    if request.param == "redis":
        from redis import Redis

        redis_url = request.getfixturevalue("redis_url")
        Redis.from_url(redis_url).flushdb()
        app = make_app(RATELIMIT_STORAGE_URI=redis_url)
    yield from serve(app)


@pytest.fixture
def shop(app, make_project, make_user, forms):
    """A live project with a digital reward limited to 5, and its backer logged in; returns ids."""
    backer = make_user(email="waiter@example.com")
    slug = make_project(status="live", tiers=[dict(title="电子版", price_fen=88_00, quantity_limit=5, physical=False,
                                                   shipping={})])
    forms.login(email="waiter@example.com")
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return {"slug": slug, "project": project.id, "tier": project.tiers[0].id, "backer": backer}


def opened_pledge(app, shop, seconds_ago=10, trade="WAIT_BUYER_PAY", key="k1"):
    """A pending pledge made `seconds_ago`, its trade opened at the sandbox and then paid (notification lost),
    closed, or left waiting; returns (id, out_trade_no)."""
    with app.test_request_context("/"):
        pledge = pledging.start(db.session.get(User, shop["backer"]), db.session.get(Project, shop["project"]),
                                db.session.get(RewardTier, shop["tier"]), 88_00, idempotency_key=key,
                                risk_accepted=True)
        pledge.created_at -= timedelta(seconds=seconds_ago)
        db.session.commit()
        pledge_id, out_trade_no = pledge.id, pledge.out_trade_no
        pledging.payment_redirect(pledge, "qr")  # opens the trade at "Alipay", over HTTP
        if trade == "TRADE_SUCCESS":
            sandbox.pay(db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=out_trade_no)),
                        deliver=False)
        elif trade == "TRADE_CLOSED":
            assert get_provider().close(out_trade_no)
    return pledge_id, out_trade_no


def pledge_row(app, pledge_id):
    with app.app_context():
        return db.session.get(Pledge, pledge_id)


def taken(app, tier_id):
    with app.app_context():
        return db.session.get(RewardTier, tier_id).taken


def returned_seconds_ago(client, pledge_id, seconds):
    """The backer came back from the cashier `seconds` ago (as the return URL records it)."""
    with client.session_transaction() as session:
        session[waiting.SESSION_KEY] = {"pledge_id": pledge_id,
                                        "at": (utcnow() - timedelta(seconds=seconds)).isoformat()}


def test_polls_within_the_window_ask_alipay_once(shop, limited):
    served, client = limited, limited.app.test_client()
    Browserless(client).login(email="waiter@example.com")
    served.app.config["PAYMENT_QUERY_EVERY_SECONDS"] = 2
    pledge_id, _ = opened_pledge(served.app, shop)
    url = f"/me/pledges/{pledge_id}"
    first = client.get(url)
    second = client.get(url, headers={"HX-Request": "true"})
    assert first.status_code == second.status_code == 200
    assert WAITING in second.get_data(as_text=True) and "<html" not in second.get_data(as_text=True)
    assert len(served.queries) == 1
    # Several polls at once (two tabs, a slow network bunching them up): still nobody else asks.
    cookie = f"session={client.get_cookie('session').value}"
    answers = []

    def poll():
        reply = urllib.request.urlopen(urllib.request.Request(served.server.url + url, headers={
            "Cookie": cookie, "HX-Request": "true"}), timeout=20)
        answers.append((reply.status, WAITING in reply.read().decode()))

    time.sleep(2.1)
    threads = [threading.Thread(target=poll) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(200, True)] * 6
    assert len(served.queries) == 2, "the window opened again, and only one of the six polls asked"
    assert pledge_row(served.app, pledge_id).status == PledgeStatus.PENDING


def test_no_question_in_the_first_seconds_after_coming_back(app, client, shop, served):
    pledge_id, out_trade_no = opened_pledge(app, shop, trade="TRADE_SUCCESS")
    with app.test_request_context("/"):
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        trade.return_url = served.server.url + "/payments/alipay/return"
        back = urlsplit(sandbox.return_url(trade))
    response = client.get(f"{back.path}?{back.query}")
    assert response.status_code == 303 and response.location == f"/me/pledges/{pledge_id}"
    page = client.get(response.location).get_data(as_text=True)
    assert WAITING in page and not served.queries, "the notification gets a few seconds to arrive first"
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page, "without JS the page reloads"
    poll = client.get(response.location, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert WAITING in poll and "http-equiv" not in poll, "never in an htmx fragment, whose parser would run it"


def test_a_lost_notification_is_found_and_applied_like_reconciliation(app, client, shop, served):
    pledge_id, out_trade_no = opened_pledge(app, shop, trade="TRADE_SUCCESS")
    returned_seconds_ago(client, pledge_id, 5)
    page = client.get(f"/me/pledges/{pledge_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert len(served.queries) == 1
    assert WAITING not in page and PAY_NOW not in page and "¥88.00" in page and out_trade_no in page
    pledge = pledge_row(app, pledge_id)
    assert pledge.status == PledgeStatus.PAID and pledge.paid_fen == 88_00 and pledge.trade_no.startswith("2026")
    with app.app_context():
        from crowdfund import ledger

        assert db.session.scalar(db.select(db.func.count()).select_from(PaymentNotification)) == 0, "really lost"
        assert ledger.balance(ledger.escrow(shop["project"])) == -88_00 and ledger.verify() == []
    again = client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    assert len(served.queries) == 1, "a paid pledge is not asked about again"
    assert PAY_NOW not in again and "http-equiv" not in again
    assert taken(app, shop["tier"]) == 1


def test_a_closed_trade_is_said_in_words_and_a_new_pledge_offered(app, client, shop, served, forms):
    pledge_id, out_trade_no = opened_pledge(app, shop, trade="TRADE_CLOSED")
    assert taken(app, shop["tier"]) == 1
    page = client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    assert CLOSED in page and "没有扣款" in page and PAY_NOW not in page and WAITING not in page
    assert pledge_row(app, pledge_id).status == PledgeStatus.CLOSED
    assert taken(app, shop["tier"]) == 0, "the slot is released, as a TRADE_CLOSED notification would"
    assert "重新支持并付款" in page
    refused = forms.post(f"/me/pledges/{pledge_id}/pay", {"channel": "pc"}, form_path=f"/me/pledges/{pledge_id}")
    assert refused.status_code == 303 and refused.location == f"/me/pledges/{pledge_id}"
    # Back it again: a new pledge with a new trade holds the slot again; a double submit makes no second one.
    first = forms.post(f"/me/pledges/{pledge_id}/again", {}, form_path=f"/me/pledges/{pledge_id}")
    second = forms.post(f"/me/pledges/{pledge_id}/again", {}, form_path=f"/me/pledges/{pledge_id}")
    assert first.status_code == second.status_code == 303
    assert first.location.startswith(served.server.url + "/sandbox/alipay/gateway.do?")
    with app.app_context():
        pledges = db.session.scalars(db.select(Pledge).order_by(Pledge.id)).all()
        assert [p.status for p in pledges] == [PledgeStatus.CLOSED, PledgeStatus.PENDING]
        assert pledges[1].out_trade_no != out_trade_no and pledges[1].amount_fen == 88_00
        assert pledges[1].tier_id == shop["tier"]
        from crowdfund.sessions import hash_ip

        assert pledges[1].client_hash == hash_ip("127.0.0.1"), "the risk rules see where the new pledge came from"
    assert taken(app, shop["tier"]) == 1
    cashier = client.get(urlsplit(first.location).path + "?" + urlsplit(first.location).query)
    assert cashier.status_code == 303, "the new trade can be paid at the cashier"


def test_no_new_pledge_is_offered_once_the_reward_is_sold_out(app, client, shop, served):
    pledge_id, _ = opened_pledge(app, shop, trade="TRADE_CLOSED")
    client.get(f"/me/pledges/{pledge_id}")
    with app.app_context():
        db.session.get(RewardTier, shop["tier"]).taken = 5
        db.session.commit()
    page = client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    assert CLOSED in page and "重新支持并付款" not in page and "返回项目" in page


@pytest.mark.parametrize("trade, message, status", [
    ("TRADE_SUCCESS", "支付宝已收到这笔付款，无需重复支付。", PledgeStatus.PAID),
    ("TRADE_CLOSED", "支付宝已关闭这笔交易，无法再付款。", PledgeStatus.CLOSED),
], ids=["paid", "closed"])
def test_pay_now_is_refused_for_a_trade_alipay_paid_or_closed(app, client, shop, served, forms, trade, message,
                                                               status):
    pledge_id, _ = opened_pledge(app, shop, seconds_ago=0, trade=trade)
    form_path = f"/me/pledges/{pledge_id}"
    assert PAY_NOW in client.get(form_path).get_data(as_text=True), "too soon to ask: the page still offers it"
    response = forms.post(f"/me/pledges/{pledge_id}/pay", {"channel": "pc"}, form_path=form_path)
    assert response.status_code == 303 and response.location == form_path, "not sent to Alipay's cashier"
    assert served.queries, "Pay now asks Alipay at once"
    assert pledge_row(app, pledge_id).status == status
    page = client.get(form_path).get_data(as_text=True)
    assert message in page and PAY_NOW not in page


def test_pay_now_still_goes_to_the_cashier_for_an_unpaid_trade(app, client, shop, served, forms):
    pledge_id, _ = opened_pledge(app, shop)
    response = forms.post(f"/me/pledges/{pledge_id}/pay", {"channel": "pc"}, form_path=f"/me/pledges/{pledge_id}")
    assert response.status_code == 303 and "/sandbox/alipay/gateway.do?" in response.location


@pytest.fixture
def silent_alipay():
    """An "Alipay" that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/gateway.do"
    listener.close()


def test_an_unreachable_alipay_keeps_the_page_waiting_politely(make_app, make_project, make_user, silent_alipay):
    app = make_app(ALIPAY_GATEWAY=silent_alipay, PAYMENT_QUERY_TIMEOUT=0.5)
    client = app.test_client()
    backer = make_user(email="patient@example.com")
    slug = make_project(status="live", tiers=[dict(title="电子版", price_fen=88_00, physical=False, shipping={})])
    Browserless(client).login(email="patient@example.com")
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        pledge = pledging.start(db.session.get(User, backer), project, project.tiers[0], 88_00, idempotency_key="p",
                                risk_accepted=True)
        pledge.created_at -= timedelta(seconds=10)
        db.session.commit()
        pledge_id = pledge.id
    started = time.monotonic()
    response = client.get(f"/me/pledges/{pledge_id}")
    assert time.monotonic() - started < 3, "the query gives up after its timeout"
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and WAITING in page and PAY_NOW in page
    assert pledge_row(app, pledge_id).status == PledgeStatus.PENDING


def test_reconciliation_applies_a_trade_alipay_closed(app, shop, served):
    from crowdfund.payments.callbacks import reconcile

    pledge_id, _ = opened_pledge(app, shop, trade="TRADE_CLOSED")
    with app.test_request_context("/"):
        result = reconcile(now=utcnow() + timedelta(minutes=31))
    assert result == {"paid": 0, "closed": 1, "expired": 0, "waiting": 0, "errors": 0}
    assert pledge_row(app, pledge_id).status == PledgeStatus.CLOSED
    assert taken(app, shop["tier"]) == 0
