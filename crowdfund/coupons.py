"""Coupons (SPEC 6.2): backers' points buy coupons the platform pays for, applied when pledging.

A coupon takes `value_fen` off what the provider is asked for; the pledge's `amount_fen` stays the full
pledge. At payment the marketing account (MARKETING) pays the coupon part into escrow in the same ledger
transaction as the provider's money, so escrow, the raised figure, fees and settlement see the full pledge;
a full refund gives the provider's part back through the provider and the coupon part back to marketing.

The coupon's status changes only together with its pledge's, in the pledge's transaction: applied when a
pending pledge takes it, available again when that pledge lapses unpaid (expired, closed, cancelled), used
when it is paid, and available again when the paid pledge's refund returns the coupon part to marketing.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from crowdfund import points
from crowdfund.extensions import db
from crowdfund.models import Coupon, User
from crowdfund.models.base import utcnow
from crowdfund.pledging import PledgeError

MARKETING = "marketing:coupons"  # the platform's marketing budget: its balance is what coupons have cost


class ShortOfPoints(Exception):
    """The person has fewer points than the coupon costs."""

    def __init__(self, balance, cost):
        super().__init__(balance, cost)
        self.balance, self.cost = balance, cost


class UnknownOption(Exception):
    """No coupon costs that many points."""


class CouponNotUsable(PledgeError):
    """The chosen coupon is not the backer's, is used or expired, or does not fit this pledge's amount."""

    code = "coupon"


def options():
    """The coupons on offer: (points, value in fen), cheapest first."""
    return current_app.config["COUPON_OPTIONS"]


def redeem(user, cost, now=None):
    """Spend `cost` points on the coupon that costs that many; ShortOfPoints when the balance is short.

    The person's row is locked first, so two redemptions at once take turns and the second sees the first's
    points spent (on PostgreSQL; SQLite writes one at a time anyway).
    """
    now = now or utcnow()
    value = dict(options()).get(cost)
    if value is None:
        raise UnknownOption(cost)
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    balance = points.balance(user.id)
    if balance < cost:
        db.session.rollback()
        raise ShortOfPoints(balance, cost)
    coupon = Coupon(user_id=user.id, value_fen=value, points=cost, status="available", created_at=now,
                    expires_at=now + timedelta(days=current_app.config["COUPON_VALID_DAYS"]))
    db.session.add(coupon)
    db.session.flush()
    points.book(user.id, -cost, "redeem", f"redeem:{coupon.id}", memo=f"coupon {coupon.id}", now=now)
    db.session.commit()
    return coupon


def fits(value_fen, amount_fen):
    """A coupon of this value may be used on a pledge of this amount (shipping included)."""
    config = current_app.config
    return amount_fen >= config["COUPON_MIN_PLEDGE_FEN"] and value_fen * 100 <= amount_fen * config["COUPON_MAX_SHARE"]


def shown_status(coupon, now=None):
    """available | applied | used | expired (an available coupon past its date)."""
    if coupon.status == "available" and coupon.expires_at <= (now or utcnow()):
        return "expired"
    return coupon.status


def coupons_of(user):
    """The person's coupons, newest first."""
    return db.session.scalars(select(Coupon).where(Coupon.user_id == user.id).order_by(Coupon.id.desc())).all()


def usable(user, now=None):
    """The person's coupons available now (not held, used or expired), most valuable first."""
    return db.session.scalars(select(Coupon).where(Coupon.user_id == user.id, Coupon.status == "available",
                                                   Coupon.expires_at > (now or utcnow()))
                              .order_by(Coupon.value_fen.desc(), Coupon.expires_at, Coupon.id)).all()


def available_for(user, amount_fen, now=None):
    """The person's coupons usable on a pledge of `amount_fen` now, most valuable first."""
    if amount_fen is None:
        return []
    return [coupon for coupon in usable(user, now) if fits(coupon.value_fen, amount_fen)]


def apply(pledge, coupon_id, now=None):
    """Let the new pending pledge (flushed, in the caller's transaction) take the coupon; CouponNotUsable if not.

    One guarded UPDATE: a coupon is applied to at most one pledge, however many submit at once.
    """
    now = now or utcnow()
    coupon = db.session.get(Coupon, coupon_id) if isinstance(coupon_id, int) else None
    if coupon is None or not fits(coupon.value_fen, pledge.amount_fen):
        raise CouponNotUsable()
    taken = db.session.execute(update(Coupon).where(
        Coupon.id == coupon.id, Coupon.user_id == pledge.backer_id, Coupon.status == "available",
        Coupon.expires_at > now).values(status="applied", pledge_id=pledge.id)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        raise CouponNotUsable()
    pledge.coupon_fen = coupon.value_fen
    db.session.flush()
    db.session.refresh(coupon)
    return coupon


def release(pledge_id):
    """The pending pledge lapsed unpaid (expired, closed, cancelled): its coupon is available again."""
    db.session.execute(update(Coupon).where(Coupon.pledge_id == pledge_id, Coupon.status == "applied")
                       .values(status="available", pledge_id=None).execution_options(synchronize_session=False))


def mark_used(pledge, now=None):
    """The pledge was paid: its coupon is used (the caller books the coupon part from MARKETING)."""
    used = db.session.execute(update(Coupon).where(Coupon.pledge_id == pledge.id, Coupon.status == "applied")
                              .values(status="used", used_at=now or utcnow())
                              .execution_options(synchronize_session=False)).rowcount
    if used != (1 if pledge.coupon_fen else 0):
        raise RuntimeError(f"pledge {pledge.id}: its coupon of {pledge.coupon_fen} fen is not held for it")


def restore(pledge):
    """The paid pledge's refund gave the coupon part back to MARKETING: the coupon is available again."""
    db.session.execute(update(Coupon).where(Coupon.pledge_id == pledge.id, Coupon.status == "used")
                       .values(status="available", pledge_id=None, used_at=None)
                       .execution_options(synchronize_session=False))


def coupon_of(pledge):
    """The coupon a pledge holds or used, if any."""
    return db.session.scalar(select(Coupon).where(Coupon.pledge_id == pledge.id))
