"""The coupons page (redeem points, list coupons) and pledging with a coupon through the sandbox cashier."""
import re
from urllib.parse import urlsplit

import pytest

from crowdfund import coupons, ledger, points
from crowdfund.extensions import db
from crowdfund.models import Coupon, Pledge, PledgeStatus, Project, SandboxTrade, User
from tests.conftest import csrf_from, wait_for
from tests.web.test_pledge_form import form_data

HTMX = {"HX-Request": "true"}


def give_points(app, email, amount):
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        points.book(user.id, amount, "backing", f"seed:{user.id}:{amount}")
        db.session.commit()
        return user.id


def redeem(client, cost, headers=None):
    page = client.get("/account/coupons")
    return client.post("/account/coupons", data={"csrf_token": csrf_from(page), "points": str(cost)},
                       headers=headers or {})


def test_the_coupons_page_redeems_points_plainly_and_with_htmx(app, client, login_as):
    email = login_as()
    user_id = give_points(app, email, 450)
    page = client.get("/account/coupons")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    assert '<strong class="points-balance">450</strong>' in body and body.count('name="points"') == 2
    response = redeem(client, 300)
    assert response.status_code == 303 and response.location.endswith("/account/coupons")
    after = client.get("/account/coupons").get_data(as_text=True)
    assert '<strong class="points-balance">150</strong>' in after and "¥20.00" in after and "可用" in after
    fragment = redeem(client, 100, HTMX)
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and text.strip().startswith('<div id="coupon_wallet"') and "<html" not in text
    assert '<strong class="points-balance">50</strong>' in text and "¥5.00" in text
    short = redeem(client, 300, HTMX)
    assert short.status_code == 409 and "300" in short.get_data(as_text=True) and "<html" not in short.get_data(
        as_text=True)
    assert redeem(client, 300).status_code == 409, "plainly too: the page again, with the message"
    assert redeem(client, 7).status_code == 422
    assert client.post("/account/coupons", data={"points": "100"}).status_code in (400, 422), "no CSRF token"
    with app.app_context():
        assert points.balance(user_id) == 50
        assert sorted(c.value_fen for c in db.session.scalars(db.select(Coupon))) == [5_00, 20_00]


def test_the_coupons_page_needs_an_account(client):
    response = client.get("/account/coupons")
    assert response.status_code == 302 and "/login" in response.location


@pytest.fixture
def shop(app, make_project):
    """A live project with a ¥100 reward shipped free on the mainland."""
    slug = make_project(status="live", tiers=[dict(title="台灯", price_fen=100_00, shipping={"mainland": 0})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return slug, project.tiers[0].id, project.id


def test_the_pledge_form_offers_usable_coupons_and_prices_the_rest(app, client, shop, login_as):
    slug, tier, _ = shop
    email = login_as()
    give_points(app, email, 400)
    assert redeem(client, 300).status_code == 303
    assert redeem(client, 100).status_code == 303
    page = client.get(f"/projects/{slug}/back?tier={tier}").get_data(as_text=True)
    values = re.findall(r'<input type="radio" name="coupon" value="(\d+)"( checked)?', page)
    assert len(values) == 3 and values[0] == ("0", " checked"), "no coupon unless the backer picks one"
    assert "¥20.00" in page and "¥5.00" in page
    with app.app_context():
        big = db.session.scalar(db.select(Coupon).filter_by(value_fen=20_00))
    summary = client.post(f"/projects/{slug}/back?check=1", headers=HTMX,
                          data=form_data(client, slug, tier, coupon=str(big.id)))
    text = summary.get_data(as_text=True)
    assert summary.status_code == 200 and text.strip().startswith('<div id="pledge_summary"')
    assert '<strong class="due">¥80.00</strong>' in text and "¥100.00" in text
    small = client.post(f"/projects/{slug}/back", data=form_data(client, slug, 0, amount="60", coupon="0",
                                                                 refresh="total")).get_data(as_text=True)
    assert "¥20.00" not in small.split('id="pledge_summary"', 1)[1], "¥20 is more than 20 % of ¥60: not offered"
    refused = client.post(f"/projects/{slug}/back", data=form_data(client, slug, 0, amount="60",
                                                                   coupon=str(big.id)))
    assert refused.status_code == 422 and "这张优惠券不能用于这笔支持" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Pledge.id))) == 0, "re-checked at submit: nothing started"


def test_a_couponed_pledge_is_charged_the_discounted_amount_through_the_sandbox(app, client, shop, login_as,
                                                                                 live_server):
    slug, tier, project_id = shop
    email = login_as()
    give_points(app, email, 300)
    redeem(client, 300)
    with app.app_context():
        coupon_id = db.session.scalar(db.select(Coupon.id))
    response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier, coupon=str(coupon_id),
                                                                    channel="pc"))
    assert response.status_code == 303 and "/sandbox/alipay/gateway.do?" in response.location
    cashier = client.get(urlsplit(response.location).path + "?" + urlsplit(response.location).query,
                         follow_redirects=True)
    assert cashier.status_code == 200 and "¥80.00" in cashier.get_data(as_text=True)
    with app.app_context():
        pledge = db.session.scalar(db.select(Pledge))
        trade = db.session.scalar(db.select(SandboxTrade).filter_by(out_trade_no=pledge.out_trade_no))
        assert (pledge.amount_fen, pledge.coupon_fen, trade.total_fen) == (100_00, 20_00, 80_00)
        pledge_id, trade_no = pledge.id, trade.trade_no
    paid = client.post(f"/sandbox/alipay/cashier/{trade_no}", data={"action": "pay", "csrf_token": csrf_from(cashier)})
    assert paid.status_code == 303

    def is_paid():
        with app.app_context():
            return db.session.get(Pledge, pledge_id).status == PledgeStatus.PAID

    wait_for(is_paid)
    receipt = client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    assert "优惠券 −¥20.00，实付 ¥80.00" in receipt
    fragment = client.get(f"/me/pledges/{pledge_id}", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and "¥80.00" in fragment
    with app.app_context():
        assert db.session.get(Coupon, coupon_id).status == "used"
        assert ledger.balance(coupons.MARKETING) == 20_00 and ledger.balance("clearing:alipay") == 80_00
        assert ledger.project_funds(project_id)["raised"] == 100_00
        assert ledger.verify() == []
    funds = client.get(f"/projects/{slug}/funds").get_data(as_text=True)
    assert "¥100.00" in funds, "the creator's project has the full pledge"
    coupons_page = client.get("/account/coupons").get_data(as_text=True)
    assert f'/me/pledges/{pledge_id}' in coupons_page and "已使用" in coupons_page


def test_a_coupon_no_column_could_hold_is_refused_plainly(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    for value in ("99999999999999999999", "x", "-1"):
        response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier, coupon=value))
        assert response.status_code == 422, value
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Pledge.id))) == 0
