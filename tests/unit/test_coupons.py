"""Coupons (crowdfund/coupons.py): points buy them, a pledge takes one, the marketing account pays its part into
escrow at payment and gets it back with a full refund; the provider only ever takes or returns the rest."""
import threading
from datetime import timedelta
from urllib.parse import unquote_plus

import pytest

from crowdfund import closing, coupons, ledger, pledging, points, refunds
from crowdfund.extensions import db
from crowdfund.models import (Coupon, LedgerTransaction, Pledge, PledgeStatus, Project, ProjectStatus, Refund,
                              SandboxTrade, User)
from crowdfund.models.base import utcnow
from crowdfund.payments import reconciliation, sandbox


@pytest.fixture
def ctx(app):
    with app.test_request_context("/"):
        yield


def entries_of(key):
    txn = db.session.scalar(db.select(LedgerTransaction).filter_by(idempotency_key=key))
    return sorted((e.account.code, e.amount_fen) for e in txn.entries)


def setup(app, make_project, make_user, balance=500, goal=1000_00):
    """A live project (a ¥50 digital reward) and a backer with `balance` points."""
    backer = make_user()
    slug = make_project(status="live", goal_fen=goal, tiers=[dict(title="A", price_fen=50_00, physical=False)])
    with app.app_context():
        points.book(backer, balance, "backing", f"seed:{backer}")
        db.session.commit()
        return db.session.scalar(db.select(Project.id).filter_by(slug=slug)), backer


def start(project_id, backer_id, coupon_id=None, amount=100_00, key="k1", now=None, reward=True):
    project = db.session.get(Project, project_id)
    return pledging.start(db.session.get(User, backer_id), project, project.tiers[0] if reward else None, amount,
                          idempotency_key=key, risk_accepted=True, coupon_id=coupon_id, now=now)


def pay(app, pledge, amount=None):
    """The provider takes what it was asked for (its trade exists for later refunds) and notifies us."""
    amount = pledge.due_fen if amount is None else amount
    db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no=f"T{pledge.id}", total_fen=amount,
                                app_id=app.config["ALIPAY_APP_ID"], subject="x", status="TRADE_SUCCESS", channel="pc"))
    db.session.commit()
    return pledging.record_payment(pledge.out_trade_no, f"T{pledge.id}", amount)


def test_redeeming_spends_points_once_per_coupon_and_refuses_a_short_balance(app, ctx, make_project, make_user):
    _, backer = setup(app, make_project, make_user, balance=450)
    user = db.session.get(User, backer)
    first = coupons.redeem(user, 300)
    assert (first.value_fen, first.points, first.status) == (20_00, 300, "available")
    assert first.expires_at - first.created_at == timedelta(days=app.config["COUPON_VALID_DAYS"])
    assert points.balance(backer) == 150
    assert [e.key for e in points.history(backer)][0] == f"redeem:{first.id}"
    with pytest.raises(coupons.ShortOfPoints) as short:
        coupons.redeem(user, 300)
    assert (short.value.balance, short.value.cost) == (150, 300)
    with pytest.raises(coupons.UnknownOption):
        coupons.redeem(user, 150)
    coupons.redeem(user, 100)
    assert points.balance(backer) == 50
    assert [c.value_fen for c in coupons.coupons_of(user)] == [5_00, 20_00]


def test_two_redemptions_at_once_cannot_overspend(app, make_project, make_user):
    _, backer = setup(app, make_project, make_user, balance=300)
    barrier, outcomes = threading.Barrier(2), []

    def redeem():
        with app.app_context():
            barrier.wait()
            try:
                coupons.redeem(db.session.get(User, backer), 300)
                outcomes.append("coupon")
            except coupons.ShortOfPoints:
                outcomes.append("short")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with app.app_context():
        if db.engine.dialect.name == "sqlite" and "coupon" not in outcomes:
            pytest.skip("SQLite refused both writers at once (it has no row locks); PostgreSQL is the one that matters")
        assert sorted(outcomes) == ["coupon", "short"]
        assert points.balance(backer) == 0
        assert db.session.scalar(db.select(db.func.count(Coupon.id))) == 1


def test_a_couponed_payment_books_marketing_into_escrow_in_one_transaction(app, ctx, make_project, make_user,
                                                                           live_server):
    project_id, backer = setup(app, make_project, make_user)
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    assert [c.id for c in coupons.available_for(db.session.get(User, backer), 100_00)] == [coupon.id]
    pledge = start(project_id, backer, coupon.id)
    assert (pledge.amount_fen, pledge.coupon_fen, pledge.due_fen) == (100_00, 20_00, 80_00)
    assert db.session.get(Coupon, coupon.id).status == "applied"
    assert coupons.available_for(db.session.get(User, backer), 100_00) == [], "held by the pending pledge"
    target = pledging.payment_redirect(pledge)
    assert '"total_amount":"80.00"' in unquote_plus(target.url).replace(" ", ""), "the provider is asked for ¥80"
    assert pledging.record_payment(pledge.out_trade_no, "T1", 100_00) == "amount_mismatch", "the full pledge is wrong"
    assert pay(app, pledge) == "paid"
    assert entries_of(f"payment:{pledge.out_trade_no}") == sorted([
        ("clearing:alipay", 80_00), (coupons.MARKETING, 20_00), (ledger.escrow(project_id), -100_00)])
    assert db.session.get(Coupon, coupon.id).status == "used"
    funds = ledger.project_funds(project_id)
    assert funds["raised"] == funds["escrow"] == 100_00, "the creator sees the full pledge"
    assert ledger.balance(coupons.MARKETING) == 20_00
    assert pay_again(pledge) == "duplicate"
    assert reconciliation.check(now=utcnow() + timedelta(minutes=1))["mismatches"] == [], \
        "the provider took what we asked it to"
    assert ledger.verify() == []


def pay_again(pledge):
    return pledging.record_payment(pledge.out_trade_no, f"T{pledge.id}", pledge.due_fen)


def test_cancelling_a_paid_couponed_pledge_returns_the_coupon_part_to_marketing(app, ctx, make_project, make_user,
                                                                                live_server):
    project_id, backer = setup(app, make_project, make_user)
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    pledge = start(project_id, backer, coupon.id)
    pay(app, pledge)
    pledging.cancel(db.session.get(Pledge, pledge.id), db.session.get(User, backer))
    refund = db.session.scalar(db.select(Refund).filter_by(pledge_id=pledge.id))
    assert (refund.amount_fen, refund.coupon_fen, refund.status) == (80_00, 20_00, "succeeded")
    assert [r.amount_fen for r in sandbox.refunds_for(pledge.out_trade_no)] == [80_00], "the provider gives back ¥80"
    assert entries_of(f"refund:{refund.out_request_no}") == sorted([
        (ledger.escrow(project_id), 100_00), (coupons.MARKETING, -20_00), ("clearing:alipay", -80_00)])
    assert ledger.balance(coupons.MARKETING) == 0 and ledger.balance("clearing:alipay") == 0
    assert ledger.project_funds(project_id)["escrow"] == 0
    assert db.session.get(Pledge, pledge.id).status == PledgeStatus.REFUNDED
    restored = db.session.get(Coupon, coupon.id)
    assert (restored.status, restored.pledge_id) == ("available", None), "marketing has its money back"
    assert ledger.verify() == []


@pytest.mark.parametrize("how", ["failed", "cancelled"])
def test_a_failed_or_cancelled_project_refunds_couponed_pledges_exactly(app, ctx, make_project, make_user,
                                                                        live_server, how):
    project_id, backer = setup(app, make_project, make_user)
    other = make_user()
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    couponed = start(project_id, backer, coupon.id)
    plain = start(project_id, other, key="k2")
    pay(app, couponed)
    pay(app, plain)
    assert ledger.project_funds(project_id)["escrow"] == 200_00
    project = db.session.get(Project, project_id)
    if how == "failed":
        project.end_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        closing.close_ended_campaigns()
        assert db.session.get(Project, project_id).status == ProjectStatus.FAILED
    else:
        closing.cancel(project, project.creator, "supplier gone")
    got = {r.pledge_id: (r.amount_fen, r.coupon_fen, r.status) for r in db.session.scalars(db.select(Refund))}
    assert got == {couponed.id: (80_00, 20_00, "succeeded"), plain.id: (100_00, 0, "succeeded")}
    assert ledger.project_funds(project_id)["escrow"] == 0
    assert ledger.balance(coupons.MARKETING) == 0
    assert ledger.balance("clearing:alipay") == 0, "the provider gave back exactly what it took"
    assert db.session.get(Coupon, coupon.id).status == "available"
    assert ledger.verify() == []


def test_an_unpaid_hold_lapsing_releases_the_coupon_and_a_late_payment_refunds_only_what_was_taken(
        app, ctx, make_project, make_user, live_server):
    project_id, backer = setup(app, make_project, make_user)
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    pledge = start(project_id, backer, coupon.id)
    assert pledging.expire_overdue(utcnow() + timedelta(hours=2)) == 1
    assert db.session.get(Coupon, coupon.id).status == "available", "the lapsed hold gave the coupon back"
    assert pay(app, db.session.get(Pledge, pledge.id)) == "refund_due"
    pledging.refund_late_payment(pledge.id)  # the job (queued too; it refunds once whoever runs it first)
    db.session.expire_all()
    assert entries_of(f"payment:{pledge.out_trade_no}") == sorted([("clearing:alipay", 80_00),
                                                                   (ledger.REFUNDS_PAYABLE, -80_00)])
    assert db.session.get(Pledge, pledge.id).status == PledgeStatus.REFUNDED
    assert [r.amount_fen for r in sandbox.refunds_for(pledge.out_trade_no)] == [80_00]
    assert ledger.balance(coupons.MARKETING) == 0 and ledger.balance(ledger.REFUNDS_PAYABLE) == 0
    assert ledger.balance("clearing:alipay") == 0
    second = start(project_id, backer, coupon.id, key="k2")
    assert second.coupon_fen == 20_00, "the released coupon can be used again"
    assert ledger.verify() == []


def test_a_closed_trade_or_cancelled_unpaid_pledge_releases_its_coupon(app, ctx, make_project, make_user):
    project_id, backer = setup(app, make_project, make_user)
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    pledge = start(project_id, backer, coupon.id)
    assert pledging.record_closed(pledge.out_trade_no) == "closed"
    assert db.session.get(Coupon, coupon.id).status == "available"
    again = start(project_id, backer, coupon.id, key="k2")
    pledging.cancel(db.session.get(Pledge, again.id), db.session.get(User, backer))
    assert db.session.get(Coupon, coupon.id).status == "available"
    assert ledger.balance(coupons.MARKETING) == 0


def test_a_coupon_that_does_not_fit_is_refused_and_the_slot_given_back(app, ctx, make_project, make_user):
    project_id, backer = setup(app, make_project, make_user, balance=1000)
    other = make_user()
    user = db.session.get(User, backer)
    big = coupons.redeem(user, 300)
    with pytest.raises(coupons.CouponNotUsable):
        start(project_id, backer, big.id, amount=99_99)  # ¥20 is more than 20 % of it
    assert db.session.get(Project, project_id).tiers[0].taken == 0, "the refused pledge holds no slot"
    assert db.session.scalar(db.select(db.func.count(Pledge.id))) == 0
    with pytest.raises(coupons.CouponNotUsable):
        start(project_id, other, big.id)  # someone else's coupon
    pledge = start(project_id, backer, big.id)
    with pytest.raises(coupons.CouponNotUsable):
        start(project_id, backer, big.id, key="k2", amount=150_00, reward=False)  # held by the first pledge
    assert pledge.coupon_fen == 20_00
    assert coupons.fits(20_00, 100_00) and not coupons.fits(20_00, 99_99)
    assert not coupons.fits(5_00, app.config["COUPON_MIN_PLEDGE_FEN"] - 1)


def test_an_expired_coupon_is_shown_expired_and_cannot_be_used(app, ctx, make_project, make_user):
    project_id, backer = setup(app, make_project, make_user)
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    later = coupon.expires_at + timedelta(seconds=1)
    assert coupons.shown_status(coupon) == "available" and coupons.shown_status(coupon, later) == "expired"
    assert coupons.available_for(db.session.get(User, backer), 100_00, later) == []
    project = db.session.get(Project, project_id)
    project.end_at = later + timedelta(days=5)
    db.session.commit()
    with pytest.raises(coupons.CouponNotUsable):
        start(project_id, backer, coupon.id, now=later)


def test_a_couponed_pledge_keeps_its_reward(app, ctx, make_project, make_user, live_server):
    backer = make_user()
    slug = make_project(status="live", tiers=[dict(title="A", price_fen=100_00, physical=False),
                                             dict(title="B", price_fen=50_00, physical=False)])
    points.book(backer, 300, "backing", "seed")
    db.session.commit()
    project = db.session.scalar(db.select(Project).filter_by(slug=slug))
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    pledge = pledging.start(db.session.get(User, backer), project, project.tiers[0], 100_00, idempotency_key="k",
                            risk_accepted=True, coupon_id=coupon.id)
    pay(app, pledge)
    pledge = db.session.get(Pledge, pledge.id)
    assert not pledging.can_change_tier(pledge)
    with pytest.raises(pledging.CouponedTierChange):
        pledging.change_tier(pledge, db.session.get(User, backer), project.tiers[1], "c1")
    assert db.session.get(Pledge, pledge.id).amount_fen == 100_00 and not refunds.refunds_of(pledge)


def test_a_late_claim_on_a_couponed_pledge_gives_back_at_most_what_the_backer_paid(app, ctx, make_project, make_user,
                                                                                   live_server):
    from crowdfund import delivery

    project_id, backer = setup(app, make_project, make_user)
    coupon = coupons.redeem(db.session.get(User, backer), 300)
    pledge = start(project_id, backer, coupon.id)
    pay(app, pledge)
    assert delivery.claim_split(db.session.get(Pledge, pledge.id)) == (80_00, 0), \
        "escrow holds ¥100 for it, but ¥20 of that was the platform's"
