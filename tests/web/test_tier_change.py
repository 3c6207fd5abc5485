"""Changing tier before the last 24 hours (SPEC 2.1): the refunds path gives back a difference, never more than paid."""
from datetime import timedelta

import pytest

from crowdfund import discovery, ledger, pledging, refunds
from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, Project, Refund, RewardTier, SandboxTrade
from crowdfund.models.base import utcnow
from tests.conftest import Browserless

TIERS = [dict(title="豪华 Deluxe", price_fen=100_00, quantity_limit=5), dict(title="标准 Standard", price_fen=60_00),
         dict(title="已抢光 Gone", price_fen=50_00, quantity_limit=1), dict(title="港澳台 HK only", price_fen=40_00,
                                                                           shipping={"hk_mo_tw": 0})]


def backed(app, make_project, make_user, tier_index):
    """A live project and one paid pledge (with an address and a sandbox trade) on the given tier."""
    email = f"changer{tier_index}@example.com"
    backer = make_user(email=email)
    slug = make_project(status="live", tiers=TIERS, paid=[(backer, TIERS[tier_index]["price_fen"], tier_index)])
    with app.app_context():
        pledge = db.session.scalar(db.select(Pledge))
        pledge.ship_region, pledge.ship_name, pledge.ship_phone = "mainland", "张三", "13800000000"
        pledge.ship_province, pledge.ship_city, pledge.ship_district, pledge.ship_detail = "北京", "北京", "东城", "1号"
        pledge.project.tiers[2].taken = 1
        pledge.paid_fen = None  # a pledge paid before migration 0007 (which backfills it; the code must not rely on it)
        db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no="T1", app_id=app.config["ALIPAY_APP_ID"],
                                    total_fen=pledge.amount_fen, subject="x", status="TRADE_SUCCESS", channel="pc"))
        db.session.commit()
        tiers = [t.id for t in db.session.scalar(db.select(Project).filter_by(slug=slug)).tiers]
        return slug, email, pledge.id, tiers


def test_downgrade_refunds_the_difference(app, client, make_project, make_user, live_server):
    slug, email, pledge_id, (deluxe, standard, _, _) = backed(app, make_project, make_user, 0)
    forms = Browserless(client)
    forms.login(email=email)
    page = client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    assert "更换回报" in page and "标准 Standard" in page
    assert "已抢光 Gone" not in page and "港澳台 HK only" not in page, "only tiers the pledge can move to"
    response = forms.post(f"/me/pledges/{pledge_id}/change", {"tier": standard}, form_path=f"/me/pledges/{pledge_id}")
    assert response.status_code == 303
    with app.app_context():
        pledge = db.session.get(Pledge, pledge_id)
        assert (pledge.tier_id, pledge.amount_fen, pledge.status) == (standard, 60_00, PledgeStatus.PAID)
        assert db.session.get(RewardTier, deluxe).taken == 0 and db.session.get(RewardTier, standard).taken == 1
        (refund,) = db.session.scalars(db.select(Refund)).all()
        assert (refund.amount_fen, refund.reason, refund.status) == (40_00, "tier_change", "succeeded")
        project = db.session.get(Project, pledge.project_id)
        assert ledger.project_funds(project.id)["escrow"] == 60_00
        assert discovery.progress_for([project])[project.id].raised_fen == 60_00, "totals = paid − refunded"
        assert ledger.verify() == []
        with pytest.raises(refunds.RefundError):
            refunds.request_refund(pledge, "failed", amount_fen=60_01)
    assert "¥40.00" in client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)


def test_upgrade_pays_the_new_tier_then_refunds_the_old_pledge(app, client, make_project, make_user, live_server):
    slug, email, pledge_id, (deluxe, standard, _, _) = backed(app, make_project, make_user, 1)
    forms = Browserless(client)
    forms.login(email=email)
    response = forms.post(f"/me/pledges/{pledge_id}/change", {"tier": deluxe, "idempotency_key": "k1"},
                          form_path=f"/me/pledges/{pledge_id}")
    assert response.status_code == 303 and "/sandbox/alipay" in response.headers["Location"], "off to pay"
    with app.app_context():
        new = db.session.scalar(db.select(Pledge).filter_by(replaces_id=pledge_id))
        assert (new.status, new.tier_id, new.amount_fen) == (PledgeStatus.PENDING, deluxe, 100_00)
        assert new.ship_detail == "1号", "same address"
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.PAID, "the old pledge stands until paid"
        assert pledging.record_payment(new.out_trade_no, "T2", 100_00) == "paid"
        old = db.session.get(Pledge, pledge_id)
        assert old.status == PledgeStatus.REFUNDED
        (refund,) = db.session.scalars(db.select(Refund)).all()
        assert (refund.pledge_id, refund.amount_fen, refund.status) == (pledge_id, 60_00, "succeeded")
        assert db.session.get(RewardTier, standard).taken == 0 and db.session.get(RewardTier, deluxe).taken == 1
        assert ledger.project_funds(new.project_id)["escrow"] == 100_00
        assert pledging.record_payment(new.out_trade_no, "T2", 100_00) == "duplicate"
        assert len(db.session.scalars(db.select(Refund)).all()) == 1


def test_no_change_in_the_last_24_hours(app, client, make_project, make_user):
    slug, email, pledge_id, (deluxe, standard, _, _) = backed(app, make_project, make_user, 0)
    with app.app_context():
        db.session.scalar(db.select(Project).filter_by(slug=slug)).end_at = utcnow() + timedelta(hours=20)
        db.session.commit()
    forms = Browserless(client)
    forms.login(email=email)
    assert "更换回报" not in client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    forms.post(f"/me/pledges/{pledge_id}/change", {"tier": standard}, form_path=f"/me/pledges/{pledge_id}")
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).tier_id == deluxe and not db.session.scalars(db.select(Refund)).all()


def test_extra_support_is_kept_when_changing_tier(app, client, make_project, make_user, live_server):
    """Paid 320 for a 68 tier: moving to the 128 tier keeps the 252 extra, so it is dearer (380), not a refund."""
    backer = make_user(email="generous@example.com")
    make_project(status="live", tiers=[dict(title="会员", price_fen=68_00, physical=False),
                                       dict(title="家庭版", price_fen=128_00, physical=False)],
                 paid=[(backer, 320_00, 0)])
    with app.app_context():
        pledge = db.session.scalar(db.select(Pledge))
        pledge_id, family = pledge.id, pledge.project.tiers[1].id
        assert pledging.extra_support(pledge) == 252_00
    forms = Browserless(client)
    forms.login(email="generous@example.com")
    response = forms.post(f"/me/pledges/{pledge_id}/change", {"tier": family}, form_path=f"/me/pledges/{pledge_id}")
    assert response.status_code == 303
    with app.app_context():
        new = db.session.scalar(db.select(Pledge).filter_by(replaces_id=pledge_id))
        assert new.amount_fen == 380_00 and not db.session.scalars(db.select(Refund)).all()
