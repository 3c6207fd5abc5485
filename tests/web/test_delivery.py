"""Delivery (SPEC 2.9): shipping one by one or by CSV, receipt, ratings, stage 2, late claims, guarantees, reliability."""
import io
from datetime import timedelta

from crowdfund import accountability, closing, delivery, guarantees, ledger, settlement
from crowdfund.extensions import db
from crowdfund.models import (Notification, Pledge, PledgeStatus, Project, ProjectStatus, Refund, RewardTier,
                              SandboxTrade, Withdrawal)
from crowdfund.models.base import utcnow
from tests.conftest import Browserless, csrf_from

PHYSICAL = dict(title="实物 Physical", price_fen=100_00)
DIGITAL = dict(title="电子版 Digital", price_fen=30_00, physical=False)


def delivering_setup(app, make_project, make_user, physical=2, digital=0, month=None, with_trades=False):
    """A successful project with `physical` + `digital` paid reward pledges; returns (slug, creator email, backers)."""
    backers = [make_user(email=f"b{i}-{physical}{digital}@example.com") for i in range(physical + digital)]
    paid = [(b, 100_00, 0) for b in backers[:physical]] + [(b, 30_00, 1) for b in backers[physical:]]
    slug = make_project(status="live", goal_fen=50_00, tiers=[PHYSICAL, DIGITAL], paid=paid)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        if month:
            for tier in project.tiers:
                tier.delivery_month = month
        if with_trades:
            for pledge in db.session.scalars(db.select(Pledge).filter_by(project_id=project.id)):
                db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no=f"T{pledge.id}",
                                            app_id=app.config["ALIPAY_APP_ID"], total_fen=pledge.amount_fen,
                                            subject="x", status="TRADE_SUCCESS", channel="pc"))
        project.end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        closing.close_ended_campaigns()
        assert project.status == ProjectStatus.SUCCESSFUL
        emails = [db.session.get(type(project.creator), b).email for b in backers]
        return slug, project.creator.email, emails


def pledge_ids(app, slug):
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return [p.id for p in db.session.scalars(db.select(Pledge).filter_by(project_id=project.id).order_by(Pledge.id))]


def signed_in(app, email):
    browser = Browserless(app.test_client())
    browser.login(email=email)
    return browser


def test_ship_one_by_one_confirm_rate_and_complete(app, make_project, make_user):
    slug, creator_email, (alice, bob) = delivering_setup(app, make_project, make_user, physical=1, digital=1)
    first, second = pledge_ids(app, slug)
    creator = signed_in(app, creator_email)
    page = creator.client.get(f"/me/projects/{slug}/delivery").get_data(as_text=True)
    assert f"pledge-row-{first}" in page and f"pledge-row-{second}" in page

    refused = creator.post(f"/me/projects/{slug}/delivery/{first}", {"carrier": "顺丰", "tracking_number": ""},
                           form_path=f"/me/projects/{slug}/delivery", htmx=True)
    assert refused.status_code == 422 and "快递公司和运单号" in refused.get_data(as_text=True)
    no_js = creator.post(f"/me/projects/{slug}/delivery/{first}", {"carrier": "圆通速递", "tracking_number": ""},
                         form_path=f"/me/projects/{slug}/delivery")
    page = no_js.get_data(as_text=True)
    assert no_js.status_code == 422 and "快递公司和运单号" in page and 'value="圆通速递"' in page, \
        "without JS the whole page comes back with the error and what was typed"
    row = creator.post(f"/me/projects/{slug}/delivery/{first}", {"carrier": "顺丰", "tracking_number": "SF123"},
                       form_path=f"/me/projects/{slug}/delivery", htmx=True)
    assert row.status_code == 200
    body = row.get_data(as_text=True)
    assert body.lstrip().startswith(f'<li class="card" id="pledge-row-{first}"') and "SF123" in body, \
        "htmx gets only the pledge's row back"
    assert 'id="delivery-figures" hx-swap-oob="true"' in body, "and the counters, out of band"

    plain = creator.post(f"/me/projects/{slug}/delivery/{second}", {}, form_path=f"/me/projects/{slug}/delivery")
    assert plain.status_code == 303, "a digital reward ships without a tracking number"
    with app.app_context():
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.DELIVERING
        backer_id = db.session.get(Pledge, first).backer_id
        assert db.session.scalar(db.select(Notification).filter_by(user_id=backer_id, kind="reward_shipped"))

    backer = signed_in(app, alice)
    stranger = signed_in(app, bob)
    assert stranger.post(f"/me/pledges/{first}/received", {}, form_path="/me/pledges").status_code == 404
    page = backer.client.get(f"/me/pledges/{first}").get_data(as_text=True)
    assert "SF123" in page and "我已收到" in page
    assert backer.post(f"/me/pledges/{first}/rating", {"stars": "5"}, form_path="/me/pledges").status_code == 303
    with app.app_context():
        assert db.session.get(Pledge, first).rating is None, "no rating before receipt"
    assert backer.post(f"/me/pledges/{first}/received", {}, form_path="/me/pledges").status_code == 303
    backer.post(f"/me/pledges/{first}/rating", {"stars": "9"}, form_path="/me/pledges")
    backer.post(f"/me/pledges/{first}/rating", {"stars": "4", "comment": "<b>做工不错</b>"}, form_path="/me/pledges")
    backer.post(f"/me/pledges/{first}/rating", {"stars": "1"}, form_path="/me/pledges")
    with app.app_context():
        pledge = db.session.get(Pledge, first)
        assert pledge.received_at and not pledge.auto_confirmed
        assert (pledge.rating, pledge.rating_comment) == (4, "<b>做工不错</b>"), "out of range and second ratings refused"
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.DELIVERING
    signed_in(app, bob).post(f"/me/pledges/{second}/received", {}, form_path="/me/pledges")
    with app.app_context():
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.COMPLETED
    profile = app.test_client().get(f"/projects/{slug}").get_data(as_text=True)
    assert "创作者信用" in profile
    with app.app_context():
        creator_id = db.session.scalar(db.select(Project.creator_id).filter_by(slug=slug))
    public = app.test_client().get(f"/creators/{creator_id}").get_data(as_text=True)
    assert "&lt;b&gt;做工不错&lt;/b&gt;" in public and "<b>做工不错" not in public, "comments are escaped"
    assert "★★★★☆" in public


def test_tracking_csv_round_trip_is_all_or_nothing(app, make_project, make_user):
    slug, creator_email, _ = delivering_setup(app, make_project, make_user, physical=3)
    ids = pledge_ids(app, slug)
    with app.app_context():
        db.session.get(Pledge, ids[2]).ship_name = "=HYPERLINK(\"http://evil\")"
        db.session.commit()
    creator = signed_in(app, creator_email)
    download = creator.client.get(f"/me/projects/{slug}/delivery.csv")
    text = download.get_data(as_text=True)
    assert download.mimetype == "text/csv" and text.startswith("\ufeffpledge,reward,name")
    assert all(f"\r\n{pledge_id}," in text for pledge_id in ids)
    assert "'=HYPERLINK" in text, "a name is never read as a spreadsheet formula"

    def upload(body, encoding="utf-8"):
        return creator.post(f"/me/projects/{slug}/delivery/import",
                            {"file": (io.BytesIO(body.encode(encoding)), "list.csv")},
                            form_path=f"/me/projects/{slug}/delivery", content_type="multipart/form-data")

    bad = upload(f"pledge,carrier,tracking_number\n{ids[0]},顺丰,SF1\n{ids[1]},顺丰,\n999999,顺丰,SF3\n")
    assert bad.status_code == 422
    assert "第 4 行" in bad.get_data(as_text=True) and "没有保存任何内容" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Pledge, ids[0]).shipped_at is None, "one bad row: nothing saved"
    assert upload("name,carrier\nx,y\n").status_code == 422
    good = upload(f"pledge,carrier,tracking_number\n{ids[0]},顺丰,SF1\n{ids[1]},中通,ZT2\n{ids[2]},,\n", "gb18030")
    assert good.status_code == 303
    with app.app_context():
        shipped = [db.session.get(Pledge, i) for i in ids]
        assert [(p.carrier, p.tracking_number) for p in shipped] == [("顺丰", "SF1"), ("中通", "ZT2"), (None, None)]
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.DELIVERING
    assert "2 笔" in creator.client.get(f"/me/projects/{slug}/delivery").get_data(as_text=True)
    with app.app_context():
        received = db.session.get(Pledge, ids[0])
        delivery.confirm_receipt(received, received.backer)
    again = creator.client.get(f"/me/projects/{slug}/delivery.csv").get_data(as_text=True)
    assert upload(again).status_code == 303, "re-uploading the list repeats received rows harmlessly"
    changed = again.replace("ZT2", "ZT2-fixed").replace("SF1", "SF1-changed")
    refused = upload(changed)
    assert refused.status_code == 422 and "支持者已确认收货" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Pledge, ids[1]).tracking_number == "ZT2"
    empty = upload("")
    assert empty.status_code == 422 and "请选择" in empty.get_data(as_text=True)
    other = signed_in(app, "b0-30@example.com")
    assert other.client.get(f"/me/projects/{slug}/delivery").status_code == 404


def test_auto_confirm_and_stage_two_after_eighty_percent(app, make_project, make_user):
    slug, creator_email, emails = delivering_setup(app, make_project, make_user, physical=5)
    ids = pledge_ids(app, slug)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        creator = project.creator
        long_ago = utcnow() - timedelta(days=16)
        for pledge_id in ids[:3]:
            delivery.mark_shipped(project, creator, pledge_id, "顺丰", f"SF{pledge_id}", now=long_ago)
        delivery.mark_shipped(project, creator, ids[3], "顺丰", "SF-recent")
        assert delivery.auto_confirm() == 3
        assert all(db.session.get(Pledge, i).auto_confirmed for i in ids[:3])
        assert not delivery.stage2_open(project), "3 of 5 physical pledges received is 60%"
        try:
            settlement.stage_allowance(project, 2)
            raise AssertionError("stage 2 must be closed")
        except settlement.SettlementError as error:
            assert error.code == "stage2_needs_delivery"
        delivery.confirm_receipt(db.session.get(Pledge, ids[3]), db.session.get(Pledge, ids[3]).backer)
        assert delivery.stage2_open(project)
        net = settlement.net_fen(project.id)
        assert settlement.stage_allowance(project, 2) == net, "stage 2: everything not yet withdrawn"
    creator_client = signed_in(app, creator_email)
    page = creator_client.client.get(f"/me/projects/{slug}/money").get_data(as_text=True)
    assert "80%" in page
    token = csrf_from(creator_client.client.get(f"/me/projects/{slug}/money"))
    assert creator_client.client.post(f"/me/projects/{slug}/money", data={"csrf_token": token, "stage": "2"}
                                      ).status_code == 303
    with app.app_context():
        (withdrawal,) = db.session.scalars(db.select(Withdrawal)).all()
        assert (withdrawal.stage, withdrawal.amount_fen) == (2, net)


def test_late_claim_takes_the_share_in_escrow_then_the_guarantor(app, make_project, make_user, live_server, login_as,
                                                                 client):
    slug, creator_email, (first_email, second_email) = delivering_setup(app, make_project, make_user, physical=2,
                                                                        month="2026-08", with_trades=True)
    first, second = pledge_ids(app, slug)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        # The creator took stage 1 (half the net) before going quiet: escrow holds 95 of the 200 paid.
        withdrawal = settlement.request(project, project.creator, stage=1)
        settlement.approve(withdrawal, project.creator)
        assert ledger.project_funds(project.id)["escrow"] == 95_00
        project_id = project.id

    login_as("moderator")
    token = csrf_from(client.get(f"/projects/{slug}"))
    bad = client.post(f"/moderation/projects/{slug}/guarantee", data={
        "csrf_token": token, "guarantor": "担保公司", "credit_code": "123", "amount": "80.123"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "请输入有效的 18 位统一社会信用代码" in body and "最多保留两位小数" in body and 'value="担保公司"' in body
    fragment = client.post(f"/moderation/projects/{slug}/guarantee", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "guarantor": "担保公司", "credit_code": "123", "amount": "abc"})
    assert fragment.status_code == 422 and fragment.get_data(as_text=True).lstrip().startswith('<form id="guarantee_form"')
    with app.app_context():
        assert guarantees.of(db.session.get(Project, project_id)) is None
    client.post(f"/moderation/projects/{slug}/guarantee", data={
        "csrf_token": token, "guarantor": "华信融资担保有限公司", "credit_code": "91110000100000000A", "amount": "80"})
    assert "华信融资担保有限公司" in app.test_client().get(f"/projects/{slug}").get_data(as_text=True)

    backer = signed_in(app, first_email)
    page = backer.client.get(f"/me/pledges/{first}").get_data(as_text=True)
    assert "退回我的钱" in page and "¥47.50" in page and "¥52.50" in page, "share of escrow, the rest guaranteed"
    assert backer.post(f"/me/pledges/{first}/claim", {}, form_path="/me/pledges").status_code == 303
    assert backer.post(f"/me/pledges/{first}/claim", {}, form_path="/me/pledges").status_code == 303
    other = signed_in(app, second_email)
    other.post(f"/me/pledges/{second}/claim", {}, form_path="/me/pledges")
    with app.app_context():
        refunds = db.session.scalars(db.select(Refund).order_by(Refund.id)).all()
        assert [(r.amount_fen, r.guarantee_fen, r.status) for r in refunds] == [
            (100_00, 52_50, "succeeded"), (75_00, 27_50, "succeeded")], "the guarantee runs out at 80 yuan"
        assert all(db.session.get(Pledge, i).status == PledgeStatus.REFUNDED for i in (first, second))
        guarantee = guarantees.of(db.session.get(Project, project_id))
        assert ledger.balance(guarantees.account(guarantee)) == 80_00, "booked against the guarantor"
        funds = ledger.project_funds(project_id)
        assert funds["escrow"] == 0 and funds["guaranteed"] == 80_00
        assert ledger.verify() == []
        project = db.session.get(Project, project_id)
        assert accountability.needs_explanation(project), "claimed rewards were never delivered"
        record = delivery.reliability(project.creator_id)
        assert (record.due, record.on_time, record.score) == (2, 0, 0), "claimed rewards count as not on time"
    assert "担保方退款" in app.test_client().get(f"/projects/{slug}/funds").get_data(as_text=True)


def test_on_time_delivery_record_lowers_the_next_fee(app, make_project, make_user):
    slug, _, _ = delivering_setup(app, make_project, make_user, physical=1)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        creator = project.creator
        (pledge_id,) = [p.id for p in db.session.scalars(db.select(Pledge).filter_by(project_id=project.id))]
        delivery.mark_shipped(project, creator, pledge_id, "顺丰", "SF1")
        delivery.confirm_receipt(db.session.get(Pledge, pledge_id), db.session.get(Pledge, pledge_id).backer)
        assert project.status == ProjectStatus.COMPLETED
        creator_id = creator.id
        record = delivery.reliability(creator_id)
        assert (record.score, record.on_time_percent, record.confirmed_percent) == (100, 100, 100)
    next_slug = make_project(status="live", creator=creator_id)
    with app.app_context():
        assert settlement.fee_rate_bp(db.session.scalar(db.select(Project).filter_by(slug=next_slug))) == 400
        late = db.session.scalar(db.select(RewardTier).filter_by(project_id=project.id))
        late.delivery_month = "2020-01"
        db.session.commit()
        assert settlement.fee_rate_bp(db.session.scalar(db.select(Project).filter_by(slug=next_slug))) == 500, \
            "shipped after the promised month plus grace: no discount"
        assert delivery.reliability(creator_id).on_time_percent == 0


def test_a_late_project_carries_the_creators_explanation(app, make_project, make_user):
    slug, creator_email, _ = delivering_setup(app, make_project, make_user, physical=1)
    creator = signed_in(app, creator_email)
    assert "向支持者说明发生了什么" not in creator.client.get("/me/projects").get_data(as_text=True)
    creator.post(f"/me/projects/{slug}/explanation", {"explanation": "还没到时间"}, form_path="/me/projects")
    with app.app_context():
        assert db.session.scalar(db.select(Project.creator_explanation).filter_by(slug=slug)) is None, \
            "nothing to explain while the rewards are not late"
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.tiers[0].delivery_month = "2026-08"
        db.session.commit()
    assert "向支持者说明发生了什么" in creator.client.get("/me/projects").get_data(as_text=True)
    with app.app_context():
        assert delivery.notify_late() == 1 and delivery.notify_late() == 1
        kinds = sorted(n.kind for n in db.session.scalars(db.select(Notification).where(
            Notification.kind.in_(["reward_late", "creator_late"]))))
        assert kinds == ["creator_late", "reward_late"], "each told once, however often the job runs"
    creator.post(f"/me/projects/{slug}/explanation", {"explanation": "模具返工，十二月发货。"}, form_path="/me/projects")
    page = app.test_client().get(f"/projects/{slug}").get_data(as_text=True)
    assert "creator-explanation" in page and "模具返工，十二月发货。" in page


def test_nothing_to_deliver_opens_stage_two_at_once(app, make_project, make_user):
    """Support without rewards (e.g. a charity) has nothing to confirm: the whole net is available."""
    backer = make_user()
    slug = make_project(status="live", goal_fen=50_00, tiers=[], paid=[(backer, 100_00, None)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        closing.close_ended_campaigns()
        assert delivery.stage2_open(project) and settlement.stage_allowance(project, 2) == 95_00
