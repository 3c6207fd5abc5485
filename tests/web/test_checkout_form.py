"""Checkout: the total before paying, every error at once, saved addresses, the 省/市/区 picker, the success screen."""
import re

import pytest

from crowdfund.extensions import db
from crowdfund.models import Address, Pledge, PledgeStatus, Project
from tests.web.test_pledge_form import csrf_from_text, form_data, pledges

HTMX = {"HX-Request": "true"}


@pytest.fixture
def shop(app, make_project):
    """A live project with a physical reward (shipped to the mainland and to Hong Kong, Macao and Taiwan)."""
    slug = make_project(status="live", tiers=[dict(title="台灯", price_fen=100_00, quantity_limit=5,
                                                   shipping={"mainland": 10_00, "hk_mo_tw": 30_00})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return slug, project.tiers[0].id, project.tiers[0].delivery_month


def addresses(app):
    with app.app_context():
        return db.session.scalars(db.select(Address)).all()


def options(page, name):
    """The values offered by the <select name=…> of a page."""
    select = re.search(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    return re.findall(r'<option value="([^"]*)"', select.group(1)) if select else None


def test_the_total_is_shown_before_paying_and_is_what_is_charged(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    page = client.get(f"/projects/{slug}/back?tier={tier}").get_data(as_text=True)
    assert re.search(r"应付总额：<strong>¥110.00</strong> \(含运费 ¥10.00\)", page), "priced on the first page"
    assert "计算运费/更新合计" in page
    data = form_data(client, slug, tier, amount="120", region="hk_mo_tw", province="香港特别行政区",
                     city="香港特别行政区", district="湾仔区", refresh="total")
    again = client.post(f"/projects/{slug}/back", data=data)
    body = again.get_data(as_text=True)
    assert again.status_code == 200 and re.search(r"应付总额：<strong>¥150.00</strong> \(含运费 ¥30.00\)", body)
    assert pledges(app) == [], "the second submit button only prices the pledge"
    data.pop("refresh")
    assert client.post(f"/projects/{slug}/back", data=data).status_code == 303
    (pledge,) = pledges(app)
    assert (pledge.amount_fen, pledge.shipping_fen, pledge.ship_region) == (150_00, 30_00, "hk_mo_tw")


def test_a_form_just_opened_complains_about_nothing(client, shop, login_as):
    slug, _, _ = shop
    login_as()
    page = client.get(f"/projects/{slug}/back").get_data(as_text=True)  # no reward chosen, no amount typed
    assert 'class="error' not in page and "不能低于" not in page
    again = client.post(f"/projects/{slug}/back", data=form_data(client, slug, 0, amount="", refresh="total"))
    assert "金额" in again.get_data(as_text=True).split('id="pledge_summary"', 1)[1].split("</div>", 1)[0], \
        "asked for a total, it says what is missing"


def test_htmx_swaps_the_next_list_and_the_total_together(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    response = client.post(f"/projects/{slug}/back?check=1&part=division_picker", headers=HTMX,
                           data=form_data(client, slug, tier, city="", district=""))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.strip().startswith('<div id="division_picker"')
    assert "<html" not in body
    assert "杭州市" in options(body, "city") and options(body, "district") == [""]
    assert re.search(r'<div id="pledge_summary"[^>]*hx-swap-oob="true"', body) and "¥110.00" in body
    abroad = client.post(f"/projects/{slug}/back?check=1&part=division_picker", headers=HTMX,
                         data=form_data(client, slug, tier, region="hk_mo_tw", province="", city="", district=""))
    body = abroad.get_data(as_text=True)
    assert options(body, "province") == ["", "台湾省", "香港特别行政区", "澳门特别行政区"] and "¥130.00" in body
    overseas = client.post(f"/projects/{slug}/back?check=1&part=division_picker", headers=HTMX,
                           data=form_data(client, slug, tier, region="overseas")).get_data(as_text=True)
    assert options(overseas, "province") is None and 'name="province" type="text"' in overseas, "typed abroad"
    assert "该回报不配送至所选地区" in overseas


def test_every_error_appears_on_the_first_submit(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    page = client.get(f"/projects/{slug}/back?tier={tier}").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" type="hidden" value="(\w+)"', page).group(1)
    empty = {"csrf_token": csrf_from_text(page), "idempotency_key": key, "tier": str(tier), "amount": "50",
             "region": "mainland", "address_id": "0", "channel": "wap"}
    response = client.post(f"/projects/{slug}/back", data=empty)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    for field, message in [("amount", "金额不能低于 ¥100.00"), ("name", "请填写收货人姓名"), ("phone", "请填写手机号码"),
                           ("province", "请选择省份。"), ("city", "请选择城市。"), ("district", "请选择区县。"),
                           ("detail", "请填写详细地址"), ("accept_risk", "请确认")]:
        error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', body)
        assert error and message in error.group(1), field
    summary = body.split('class="form-error error-summary"', 1)[1].split("</div>", 1)[0]
    assert "请修改下面 8 处" in summary, "the page comes back at its top: the summary says what is below"
    for field in ("amount", "name", "phone", "province", "city", "district", "detail", "accept_risk"):
        assert f'href="#{field}-error"' in summary, field
    assert pledges(app) == []


def test_second_submits_bring_the_reader_back_to_where_they_were(client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    page = client.get(f"/projects/{slug}/back?tier={tier}").get_data(as_text=True)
    assert f'value="city" formaction="/projects/{slug}/back#division_picker"' in page
    assert f'value="total" formaction="/projects/{slug}/back#pledge_summary"' in page


def test_divisions_not_in_the_list_are_refused(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    cases = [({"province": "火星省"}, "province", "请从列表中选择省份"),
             ({"city": "长安市"}, "city", "请从列表中选择浙江省下的城市"),
             ({"district": "朝阳区"}, "district", "请从列表中选择杭州市下的区县"),
             ({"province": "香港特别行政区", "city": "香港特别行政区", "district": "湾仔区"}, "province",
              "香港特别行政区属于“港澳台”，请先在“配送地区”中选择“港澳台”"),
             ({"region": "hk_mo_tw"}, "province", "浙江省属于“中国大陆”")]
    for change, field, message in cases:
        response = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier, **change))
        error = re.search(rf'id="{field}-error">([^<]*)<', response.get_data(as_text=True))
        assert response.status_code == 422 and error and message in error.group(1), change
    assert pledges(app) == [] and addresses(app) == []


def let_go(app):
    """The backer's unpaid pledges run out (one account holds one unpaid slot of a reward at a time)."""
    from datetime import timedelta

    from crowdfund.models import Pledge
    from crowdfund.models.base import utcnow

    with app.app_context():
        db.session.execute(db.update(Pledge).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def test_the_saved_address_is_preselected_and_not_saved_twice(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    assert client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier)).status_code == 303
    let_go(app)
    (saved,) = addresses(app)
    page = client.get(f"/projects/{slug}/back?tier={tier}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{saved.id}">张三 13800000000 浙江省杭州市西湖区文三路 1 号</option>', page)
    assert 'name="detail"' not in page, "no empty new-address lines under a chosen address"
    assert "应付总额：<strong>¥110.00</strong>" in page, "priced for the saved address"
    data = form_data(client, slug, tier, address_id=str(saved.id), name="", phone="", province="", city="",
                     district="", detail="")
    assert client.post(f"/projects/{slug}/back", data=data).status_code == 303
    let_go(app)
    assert pledges(app)[-1].ship_detail == "文三路 1 号" and len(addresses(app)) == 1
    retyped = form_data(client, slug, tier, name=" 张三 ", phone="13800000000 ", detail="  文三路 1 号 ")
    assert client.post(f"/projects/{slug}/back", data=retyped).status_code == 303
    let_go(app)
    assert len(addresses(app)) == 1, "the same address typed again is not a second entry"
    moved = form_data(client, slug, tier, detail="文三路 2 号")
    assert client.post(f"/projects/{slug}/back", data=moved).status_code == 303
    let_go(app)
    assert len(addresses(app)) == 2
    choosing_new = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier, refresh="address"))
    assert 'name="detail"' in choosing_new.get_data(as_text=True), "“新地址” brings the lines back without JS"


def test_the_address_book_uses_the_lists_and_keeps_one_copy(app, client, login_as):
    login_as()
    page = client.get("/account/addresses").get_data(as_text=True)
    assert "北京市" in options(page, "province") and options(page, "city") == [""]
    data = {"csrf_token": csrf_from_text(page), "region": "mainland", "name": "李四", "phone": "13900000000",
            "province": "广东省", "city": "深圳市", "district": "南山区", "detail": "科技园 1 栋"}
    cities = client.post("/account/addresses", data=dict(data, city="", district="", refresh="city"))
    assert cities.status_code == 200 and "深圳市" in options(cities.get_data(as_text=True), "city")
    assert addresses(app) == []
    first = client.post("/account/addresses", data=data)
    assert first.status_code == 303 and len(addresses(app)) == 1
    again = client.post("/account/addresses", data=dict(data, detail=" 科技园 1 栋 "), follow_redirects=True)
    assert "该地址已在你的地址簿中" in again.get_data(as_text=True) and len(addresses(app)) == 1
    wrong = client.post("/account/addresses", data=dict(data, district="西湖区"), headers=HTMX)
    assert wrong.status_code == 422 and "请从列表中选择深圳市下的区县" in wrong.get_data(as_text=True)
    assert len(addresses(app)) == 1


def test_the_picker_works_without_js(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    page = client.get(f"/projects/{slug}/back?tier={tier}").get_data(as_text=True)
    assert "浙江省" in options(page, "province") and options(page, "city") == [""]
    for label in ("选择省份", "选择城市", "选择区县"):
        assert re.search(rf'<button type="submit" name="refresh" value="\w+"[^>]*>{label}</button>', page), label
    cities = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier, city="", district="",
                                                                  refresh="city")).get_data(as_text=True)
    assert options(cities, "city")[:3] == ["", "杭州市", "宁波市"] and options(cities, "district") == [""]
    districts = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier, district="",
                                                                     refresh="district")).get_data(as_text=True)
    assert "西湖区" in options(districts, "district") and 'id="district-error"' not in districts
    assert pledges(app) == []


def test_a_paid_pledge_leads_with_success_and_what_happens_next(app, client, shop, login_as):
    slug, tier, month = shop
    login_as()
    client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier))
    (pledge,) = pledges(app)
    waiting = client.get(f"/me/pledges/{pledge.id}").get_data(as_text=True)
    assert "支持成功" not in waiting
    with app.app_context():
        db.session.get(Pledge, pledge.id).status = PledgeStatus.PAID
        db.session.commit()
    page = client.get(f"/me/pledges/{pledge.id}", headers=HTMX).get_data(as_text=True)
    status = page[page.index('<section id="payment_status"'):]
    assert status.index("支持成功") < status.index("支付凭证"), "success first, then the receipt"
    assert "由平台存管，项目筹款成功后才会结算给发起人；若未达成目标，将自动全额退款" in status
    assert f"预计发放：{month}" in status
    assert f'href="/projects/{slug}/updates"' in status and "查看项目动态" in status
    assert "¥110.00" in status and pledge.out_trade_no in status, "the receipt is still there"


def test_choosing_a_reward_without_typing_an_amount_pledges_its_price(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    data = form_data(client, slug, 0, tier=str(tier), amount="", refresh="total")  # opened from 支持项目: no reward yet
    body = client.post(f"/projects/{slug}/back", data=data).get_data(as_text=True)
    assert re.search(r"应付总额：<strong>¥110.00</strong>", body) and 'value="100.00"' in body
    data.pop("refresh")
    assert client.post(f"/projects/{slug}/back", data=data).status_code == 303
    assert [(p.amount_fen, p.shipping_fen) for p in pledges(app)] == [(110_00, 10_00)]  # amount includes shipping


def test_log_in_and_sign_up_keep_where_the_backer_was_going(client, shop):
    slug, _, _ = shop
    login = client.get(f"/login?next=/projects/{slug}/back").get_data(as_text=True)
    assert f'href="/signup?next=/projects/{slug}/back"' in login
    signup = client.get(f"/signup?next=/projects/{slug}/back").get_data(as_text=True)
    assert f'href="/login?next=/projects/{slug}/back"' in signup


def test_a_mistyped_mobile_number_is_called_that(client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    body = client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier, phone="abc123")).get_data(
        as_text=True)
    assert re.search(r'<p class="error" id="phone-error">请输入有效的手机号码，例如 13800000000。</p>', body)


def test_an_unpaid_pledge_is_offered_before_a_second_one_is_made(app, client, shop, login_as):
    slug, tier, _ = shop
    login_as()
    assert client.post(f"/projects/{slug}/back", data=form_data(client, slug, tier)).status_code == 303
    (pledge,) = pledges(app)  # the backer left the cashier without paying
    again = client.get(f"/projects/{slug}/back").get_data(as_text=True)
    notice = again.split('class="flash unpaid">', 1)[1].split("</p>", 1)[0]
    assert "¥110.00" in notice and "台灯" in notice and f'href="/me/pledges/{pledge.id}">去支付' in notice
    mine = client.get("/me/pledges").get_data(as_text=True)
    assert f'<a class="button small" href="/me/pledges/{pledge.id}">立即支付</a>' in mine
