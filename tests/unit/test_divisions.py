"""China's divisions for addresses, the one-pass pledge check, and an address book that keeps one copy."""
from crowdfund import accounts, divisions, pledging
from crowdfund.extensions import db
from crowdfund.models import Project, User


def test_the_list_covers_every_province_and_its_shipping_region():
    mainland, hk_mo_tw = divisions.provinces("mainland"), divisions.provinces("hk_mo_tw")
    assert len(mainland) == 31 and mainland[0] == "北京市" and "新疆维吾尔自治区" in mainland
    assert hk_mo_tw == ["台湾省", "香港特别行政区", "澳门特别行政区"]
    assert divisions.provinces("overseas") == [] and not divisions.listed("overseas")
    assert divisions.region_of("香港特别行政区") == "hk_mo_tw" and divisions.region_of("浙江省") == "mainland"
    assert divisions.cities("mainland", "北京市") == ["北京市"], "a municipality is its own city"
    assert "仙桃市" in divisions.cities("mainland", "湖北省"), "county-level units under the province"
    assert divisions.districts("mainland", "广东省", "东莞市") == ["东莞市"], "a city without districts"
    assert "西湖区" in divisions.districts("mainland", "浙江省", "杭州市")
    assert divisions.cities("hk_mo_tw", "浙江省") == [], "a province is listed only under its own region"


def test_unlisted_levels_are_named():
    assert divisions.unlisted_level("mainland", "浙江省", "杭州市", "西湖区") is None
    assert divisions.unlisted_level("mainland", "浙江", "杭州市", "西湖区") == "province"
    assert divisions.unlisted_level("mainland", "浙江省", "南京市", "玄武区") == "city"
    assert divisions.unlisted_level("mainland", "浙江省", "杭州市", "玄武区") == "district"
    assert divisions.unlisted_level("overseas", "California", "San Jose", "Downtown") is None
    picker = divisions.picker("mainland", "浙江省", "")
    assert "杭州市" in picker.cities and picker.districts == []


def test_check_reports_every_problem_at_once(app, make_project):
    slug = make_project(status="live", tiers=[dict(title="灯", price_fen=50_00, shipping={"mainland": 5_00})])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        tier = project.tiers[0]
        problems = pledging.check(project, tier, 10_00, region="mainland", address={}, risk_accepted=False)
        assert [(p.code, getattr(p, "field", None)) for p in problems] == [
            ("amount", None), ("address", "name"), ("address", "phone"), ("address", "province"),
            ("address", "city"), ("address", "district"), ("address", "detail"), ("risk", None)]
        address = dict(name="张三", phone="13800000000", province="香港特别行政区", city="香港特别行政区",
                       district="湾仔区", detail="1 号")
        (wrong,) = pledging.check(project, tier, 50_00, region="mainland", address=address, risk_accepted=True)
        assert (wrong.code, wrong.field, wrong.other_region) == ("division", "province", "hk_mo_tw")
        (far,) = pledging.check(project, tier, 50_00, region="hk_mo_tw", address=address, risk_accepted=True)
        assert far.code == "region", "listed there, but the reward does not ship there"
        assert pledging.check(project, tier, 50_00, region="mainland", risk_accepted=True,
                              address=dict(address, province="浙江省", city="杭州市", district="西湖区")) == []
        assert pledging.quote(project, tier, 50_00, "mainland").total_fen == 55_00


def test_the_same_address_is_saved_once(app, make_user):
    with app.app_context():
        user = db.session.get(User, make_user(email="book@example.com"))
        line = dict(name="张三", phone="13800000000", province="浙江省", city="杭州市", district="西湖区",
                    detail="文三路 1 号")
        first, created = accounts.add_address(user, **line)
        again, created_again = accounts.add_address(user, **{k: f"  {v} " for k, v in line.items()})
        assert created and not created_again and again.id == first.id
        other, created_other = accounts.add_address(user, region="hk_mo_tw", **line)
        assert created_other and other.id != first.id, "another region is another address"
        assert len(accounts.addresses_of(user)) == 2
