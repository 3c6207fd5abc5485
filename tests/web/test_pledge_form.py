"""The pledge form: plain and htmx, errors at 422, double submits, sold-out tiers, pages of one's pledges."""
import re

import pytest

from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, Project


@pytest.fixture
def live(app, make_project, make_user):
    slug = make_project(status="live", tiers=[dict(title="实物", price_fen=100_00, quantity_limit=2,
                                                   shipping={"mainland": 10_00}),
                                              dict(title="电子版", price_fen=30_00, physical=False, shipping={})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return slug, [t.id for t in project.tiers]


def form_data(client, slug, tier_id, **extra):
    page = client.get(f"/projects/{slug}/back?tier={tier_id}").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" type="hidden" value="(\w+)"', page).group(1)
    data = {"csrf_token": csrf_from_text(page), "idempotency_key": key, "tier": str(tier_id), "amount": "100",
            "region": "mainland", "address_id": "0", "name": "张三", "phone": "13800000000", "province": "浙江省",
            "city": "杭州市", "district": "西湖区", "detail": "文三路 1 号", "accept_risk": "y", "channel": "wap",
            "save_address": "y"}
    data.update(extra)
    return data


def csrf_from_text(text):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text).group(1)


def pledges(app):
    with app.app_context():
        return db.session.scalars(db.select(Pledge)).all()


def test_backing_needs_an_account(client, live):
    slug, _ = live
    response = client.get(f"/projects/{slug}/back")
    assert response.status_code == 302 and "/login" in response.location


def test_plain_pledge_reserves_and_redirects_to_alipay(app, client, live, login_as):
    slug, (physical, _) = live
    login_as()
    response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, physical))
    assert response.status_code == 303
    assert "/sandbox/alipay/gateway.do?" in response.location and "alipay.trade.wap.pay" in response.location
    (pledge,) = pledges(app)
    assert pledge.status == PledgeStatus.PENDING and pledge.amount_fen == 110_00 and pledge.shipping_fen == 10_00
    assert pledge.ship_city == "杭州市" and pledge.risk_accepted_at is not None
    assert "文三路 1 号" in client.get("/account/addresses").get_data(as_text=True), "saved to the address book"


def test_double_submit_makes_one_pledge(app, client, live, login_as):
    slug, (physical, _) = live
    login_as()
    data = form_data(client, slug, physical)
    first = client.post(f"/projects/{slug}/back", data=data)
    second = client.post(f"/projects/{slug}/back", data=data)
    assert first.status_code == second.status_code == 303
    assert len(pledges(app)) == 1


def test_errors_come_back_inline_with_422(app, client, live, login_as):
    slug, (physical, digital) = live
    login_as()
    cases = [({"amount": "50"}, "amount-error"), ({"accept_risk": ""}, "accept_risk-error"),
             ({"region": "overseas"}, "region-error"), ({"detail": ""}, "detail-error")]
    for change, error_id in cases:
        response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, physical, **change))
        assert response.status_code == 422 and f'id="{error_id}"' in response.get_data(as_text=True), change
    assert pledges(app) == []
    digital_ok = client.post(f"/projects/{slug}/back", data=form_data(client, slug, digital, amount="30", detail=""))
    assert digital_ok.status_code == 303, "a digital reward needs no address"


def test_htmx_checks_the_pledge_inline_without_creating_it(app, client, live, login_as):
    slug, (physical, _) = live
    login_as()
    ok = client.post(f"/projects/{slug}/back?check=1", data=form_data(client, slug, physical, amount="120"),
                     headers={"HX-Request": "true"})
    body = ok.get_data(as_text=True)
    assert ok.status_code == 200 and body.strip().startswith('<div id="pledge_summary"') and "¥130.00" in body
    low = client.post(f"/projects/{slug}/back?check=1", data=form_data(client, slug, physical, amount="1"),
                      headers={"HX-Request": "true"})
    assert low.status_code == 422 and "金额不能低于 ¥100.00" in low.get_data(as_text=True)
    abroad = client.post(f"/projects/{slug}/back?check=1", data=form_data(client, slug, physical, region="overseas"),
                         headers={"HX-Request": "true"})
    assert abroad.status_code == 422 and "该回报不配送至所选地区" in abroad.get_data(as_text=True)
    assert pledges(app) == []


def test_sold_out_tier_is_refused(app, client, live, login_as, make_user, forms):
    slug, (physical, _) = live
    for _ in range(2):  # two backers: one account holds one unpaid slot of a reward at a time
        forms.logout()
        login_as()
        assert client.post(f"/projects/{slug}/back", data=form_data(client, slug, physical)).status_code == 303
    response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, physical))
    assert response.status_code == 422 and "已售罄" in response.get_data(as_text=True)
    assert len(pledges(app)) == 2
    page = client.get(f"/projects/{slug}").get_data(as_text=True)
    assert "限量 2，剩余 0" in page and "2 个待支付" in page


def test_support_without_reward_from_one_yuan(app, client, live, login_as):
    slug, _ = live
    login_as()
    response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, 0, amount="1", detail=""))
    assert response.status_code == 303
    assert pledges(app)[0].tier_id is None and pledges(app)[0].amount_fen == 1_00


def test_closed_projects_take_no_pledges(client, make_project, login_as):
    slug = make_project(status="live")
    from datetime import timedelta

    from crowdfund.models.base import utcnow
    login_as()
    app = client.application
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.end_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = client.get(f"/projects/{slug}/back")
    assert response.status_code == 303 and response.location == f"/projects/{slug}"
    assert "支持此档" not in client.get(f"/projects/{slug}").get_data(as_text=True)


def test_my_pledges_and_status_page_only_for_the_owner(app, client, live, login_as, forms):
    slug, (physical, _) = live
    login_as()
    client.post(f"/projects/{slug}/back", data=form_data(client, slug, physical))
    pledge = pledges(app)[0]
    listing = client.get("/me/pledges").get_data(as_text=True)
    assert "待支付" in listing and "¥110.00" in listing
    fragment = client.get(f"/me/pledges/{pledge.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.strip().startswith('<section id="payment_status"') and 'hx-trigger="every 2s"' in fragment
    with app.app_context():
        db.session.get(Pledge, pledge.id).status = PledgeStatus.PAID  # the receipt: what was paid, and where it goes
        db.session.commit()
    receipt = client.get(f"/me/pledges/{pledge.id}").get_data(as_text=True)
    assert re.search(r"<dt>收货地址</dt><dd>张三 13800000000<br>中国大陆 浙江省杭州市西湖区文三路 1 号</dd>", receipt)
    forms.logout()
    login_as()
    assert client.get(f"/me/pledges/{pledge.id}").status_code == 404


def test_pledging_is_rate_limited_but_inline_checks_are_not(make_app, make_project, make_user):
    app = make_app(RATELIMIT_PLEDGE="2 per minute")
    from tests.conftest import Browserless

    slug = make_project(status="live", tiers=[dict(title=f"电子版{n}", price_fen=30_00, physical=False, shipping={})
                                              for n in range(3)])
    make_user(email="eager@example.com")
    forms = Browserless(app.test_client())
    forms.login(email="eager@example.com")
    client = forms.client
    with app.app_context():
        tier_ids = [t.id for t in db.session.scalar(db.select(Project).filter_by(slug=slug)).tiers]
        tier_id = tier_ids[0]
    for _ in range(4):
        assert client.post(f"/projects/{slug}/back?check=1", data=form_data(client, slug, tier_id, amount="30"),
                           headers={"HX-Request": "true"}).status_code == 200
    for tier_id in tier_ids[:2]:
        assert client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier_id, amount="30")).status_code == 303
    assert client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier_ids[2], amount="30")).status_code == 429
