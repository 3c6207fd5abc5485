"""Issue 12's probes of the running site, each now a test: odd amounts, huge bodies, non-ASCII redirects, NUL bytes,
out-of-range ids, oversized notifications, pixel bombs, hoarded reward slots, the CSP's form-action."""
import io
import re

import pytest
from alipay.aop.api.util.SignatureUtils import sign_with_rsa2
from PIL import Image

from crowdfund import media, pledging
from crowdfund.extensions import db
from crowdfund.models import PaymentNotification, Pledge, PledgeStatus, Project, RewardTier, User
from crowdfund.payments.keys import sandbox_keys
from tests.conftest import csrf_from, upload
from tests.web.test_payments import (ADDRESS, _resign, new_pledge, notify, sandbox_trade, shop,  # noqa: F401
                                     signed_notification, status_of)


@pytest.mark.parametrize("amount", ["sNaN", "NaN", "Infinity", "-110.00", "1e999", "110.001", "abc", "0.00"])
def test_a_signed_notification_with_an_unparsable_amount_answers_fail(app, client, shop, amount):
    pledge_id, out_trade_no = new_pledge(app, shop)
    params = signed_notification(app, sandbox_trade(app, out_trade_no, 110_00))
    params = _resign(app, {**params, "total_amount": amount}, sign_with_rsa2,
                     sandbox_keys(app.instance_path)["alipay_private"])
    assert notify(client, params) == "fail"
    assert status_of(app, pledge_id) == PledgeStatus.PENDING
    with app.app_context():
        row = db.session.scalars(db.select(PaymentNotification)).one()
        assert not row.accepted and "total_amount" in row.reason


def test_a_body_over_the_limit_is_a_friendly_413(app, client):
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_from(page), "email": "x" * 300_000})
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and ("过大" in body or "too large" in body)
    response = client.post("/login", data={"email": "x" * 300_000}, headers={"HX-Request": "true"})
    assert response.status_code == 413 and "<html" not in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#messages"


def test_a_declared_length_over_the_limit_is_refused_before_reading(app, client):
    """110 MB announced by Content-Length: refused at once, whatever follows."""
    response = client.post("/login", data=b"email=a", content_type="application/x-www-form-urlencoded",
                           environ_overrides={"CONTENT_LENGTH": str(110 * 1024 * 1024)})
    assert response.status_code == 413


def test_only_upload_forms_take_large_bodies(app):
    """Every route keeps the small limit, except the forms carrying files; the video step takes the most."""
    limits = {}
    for rule in app.url_map.iter_rules():
        with app.test_request_context(rule.rule.replace("<slug>", "s").replace("<step>", "story")
                                      .replace("<int:update_id>", "1"), method="POST"):
            from flask import request

            if request.url_rule is not None and request.url_rule.endpoint == rule.endpoint:
                limits[rule.endpoint] = request.max_content_length
    small = app.config["BODY_LIMIT"]
    large = {endpoint: limit for endpoint, limit in limits.items() if limit > small}
    assert set(large) == {"wizard.edit", "updates.create", "updates.edit", "creator.verify",
                          "creator.import_tracking"}
    assert large["wizard.edit"] == media.VIDEO_MAX + media.DOCUMENT_MAX + media.FORM_MARGIN
    assert limits["payments.notify"] == 32 * 1024 < small
    assert max(large.values()) == large["wizard.edit"]
    with app.test_request_context("/me/projects/s/edit/funding", method="POST"):
        from flask import request

        assert request.max_content_length == small


@pytest.mark.parametrize("target, expected", [
    ("/。evil.test", "/%E3%80%82evil.test"),
    ("/search?q=台灯", "/search?q=%E5%8F%B0%E7%81%AF"),
    ("/search?q=%E5%8F%B0", "/search?q=%E5%8F%B0"),
    ("//evil.test", "/"),
    ("https://evil.test/", "/"),
])
def test_redirect_targets_are_same_site_and_percent_encoded(app, client, make_user, target, expected):
    make_user(email="ann@example.com")
    page = client.get("/login", query_string={"next": target})
    data = {"csrf_token": csrf_from(page), "email": "ann@example.com", "password": "correct horse 1", "next": target}
    response = client.post("/login", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == expected
    response.headers["Location"].encode("ascii")


def test_an_htmx_login_with_a_chinese_next_gets_its_redirect(app, client, make_user):
    make_user(email="ann@example.com")
    page = client.get("/login?next=/search?q=台灯")
    response = client.post("/login", headers={"HX-Request": "true"}, data={
        "csrf_token": csrf_from(page), "email": "ann@example.com", "password": "correct horse 1",
        "next": "/search?q=台灯"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/search?q=%E5%8F%B0%E7%81%AF"


@pytest.mark.parametrize("url", ["/search?q=%00", "/search?q=a%00b", "/login?next=%00", "/?%00=1"])
def test_nul_bytes_in_a_query_are_a_clear_400(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)


def test_nul_bytes_in_a_form_are_a_clear_400(app, client, login_as):
    login_as()
    page = client.get("/account/")
    response = client.post("/account/", data={"csrf_token": csrf_from(page), "display_name": "A\x00B"})
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/projects/%00", "/projects/a%00b", "/sandbox/alipay/cashier/%00",
                                 "/me/pledges/99999999999999999999", "/creators/99999999999999999999",
                                 "/creators/2147483648", "/comments/99999999999999999999", "/media/%00/x"])
def test_impossible_url_arguments_are_not_found(client, login_as, url):
    login_as("admin")
    assert client.get(url).status_code == 404


def test_pages_beyond_any_integer_are_answered(client, login_as):
    login_as("admin")
    assert client.get("/admin/users?page=99999999999999999999").status_code == 200
    assert client.get("/search?q=灯&page=99999999999999999999").status_code == 200
    assert client.get("/creators/2147483647").status_code == 404


def test_an_oversized_notification_is_refused_unread_and_unstored(app, client):
    response = client.post("/payments/alipay/notify", data={"out_trade_no": "CF1", "junk": "x" * 40_000})
    assert response.status_code == 413
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(PaymentNotification.id))) == 0


def test_a_refused_notification_is_stored_clipped(app, client):
    params = {f"k{i}": "x" * 300 for i in range(60)}
    params.update(out_trade_no="CF" + "9" * 100, sign="x", sign_type="RSA2")
    assert client.post("/payments/alipay/notify", data=params).get_data(as_text=True) == "fail"
    with app.app_context():
        row = db.session.scalars(db.select(PaymentNotification)).one()
        assert not row.accepted and row.reason == "bad signature"
        assert len(row.raw) <= 2000 and len(row.params) <= 40
        assert all(len(value) <= 200 for value in row.params.values()) and len(row.out_trade_no) <= 64


def test_notifications_are_rate_limited_per_source(make_app):
    app = make_app(RATELIMIT_NOTIFY="3 per minute")
    client = app.test_client()
    answers = [client.post("/payments/alipay/notify", data={"a": "1"},
                           environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    other = client.post("/payments/alipay/notify", data={"a": "1"}, environ_base={"REMOTE_ADDR": "203.0.113.10"})
    assert other.status_code == 200


def _png(width, height):
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG")  # one bit per pixel: a few KB on disk
    return buffer.getvalue()


@pytest.mark.parametrize("side", [7000, 8900])  # Pillow only warns below twice its limit; above it refuses
def test_an_image_over_the_pixel_budget_is_refused_before_decoding(app, make_user, monkeypatch, side):
    data = _png(side, side)
    assert len(data) < 100_000
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self))
    with app.test_request_context("/"):
        owner = db.session.get(User, make_user())
        with pytest.raises(media.UploadError) as refused:
            media.save_image(owner, upload(data, "bomb.png"))
    assert "36" in str(refused.value) and decoded == []


def test_the_wizard_shows_the_pixel_budget_message(app, client, login_as):
    from crowdfund.catalog import ensure_categories

    with app.app_context():
        ensure_categories()
    login_as("creator")
    response = client.post("/me/projects/new", data={"csrf_token": csrf_from(client.get("/me/projects"))})
    basics = response.location
    page = client.get(basics)
    with app.app_context():
        from crowdfund.models import Category

        category = str(db.session.scalar(db.select(Category.id).filter_by(slug="smart-hardware")))
    response = client.post(basics, content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "title": "台灯", "summary": "一盏台灯", "category": category,
        "kind": "reward", "cover": (io.BytesIO(_png(7000, 7000)), "big.png"), "nav": "save"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "36 百万像素" in text, re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]+)', text)


def same_backer_pledge(app, shop, key):
    with app.app_context():
        project, tier = db.session.get(Project, shop["project"]), db.session.get(RewardTier, shop["tier"])
        return pledging.start(db.session.get(User, shop["backer"]), project, tier, 100_00, idempotency_key=key,
                              region="mainland", address=ADDRESS, risk_accepted=True).id


def test_one_unpaid_hold_per_reward_and_a_few_in_all(app, shop, make_project):
    first = same_backer_pledge(app, shop, "k1")
    with pytest.raises(pledging.UnpaidHoldExists):
        same_backer_pledge(app, shop, "k2")
    with app.app_context():
        assert db.session.get(RewardTier, shop["tier"]).taken == 1  # the refused attempt gave its slot back
    assert same_backer_pledge(app, shop, "k1") == first  # the same submit again is still the same pledge
    others = [make_project(status="live", tiers=[dict(title=f"档{n}", price_fen=10_00, quantity_limit=5,
                                                      physical=False)]) for n in range(3)]
    with app.app_context():
        backer = db.session.get(User, shop["backer"])
        for n, slug in enumerate(others):
            project = db.session.scalar(db.select(Project).filter_by(slug=slug))
            start = lambda: pledging.start(backer, project, project.tiers[0], 10_00, idempotency_key=f"o{n}",  # noqa
                                           risk_accepted=True)
            if n < app.config["PLEDGE_MAX_UNPAID"] - 1:
                start()
            else:
                with pytest.raises(pledging.TooManyUnpaid):
                    start()
                assert db.session.get(RewardTier, project.tiers[0].id).taken == 0


def test_a_paid_or_expired_pledge_does_not_block_another(app, shop):
    first = same_backer_pledge(app, shop, "k1")
    with app.app_context():
        pledge = db.session.get(Pledge, first)
        pledge.status = PledgeStatus.PAID
        db.session.commit()
    assert same_backer_pledge(app, shop, "k2") != first


def test_the_pledge_form_explains_an_existing_unpaid_hold(app, client, shop, forms):
    forms.login(email="backer@example.com")
    new_pledge(app, shop, key="k1")
    url = f"/projects/{shop['slug']}/back?tier={shop['tier']}"
    page = client.get(url)
    data = {"csrf_token": csrf_from(page), "tier": str(shop["tier"]), "amount": "100", "region": "mainland",
            "address_id": "0", "accept_risk": "y", "idempotency_key": "another", "channel": "pc", **ADDRESS}
    response = client.post(url, data=data)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "未支付" in text or "unpaid pledge" in text


def test_the_csp_limits_where_forms_may_post(client, make_app):
    assert client.get("/").headers["Content-Security-Policy"].endswith("; form-action 'self'")
    production = make_app(ALIPAY_GATEWAY="https://openapi.alipay.com/gateway.do")
    with production.test_request_context("/"):
        from crowdfund.security import content_security_policy

        # the pledge form's 303 goes on to Alipay's cashier: a form-action redirect the browser must allow
        assert content_security_policy().endswith("; form-action 'self' https://openapi.alipay.com")
