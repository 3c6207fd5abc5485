"""Pledging: quoting, reserving a tier slot, and recording what the payment provider tells us.

Slots: `reward_tiers.taken` counts held + paid pledges and is changed only here, by guarded
UPDATEs in the same transaction as the pledge's own status change; a CHECK constraint refuses
`taken > quantity_limit`, so no interleaving can oversell. A pending pledge holds its slot for
PLEDGE_HOLD_MINUTES; an overdue one is expired (slot released) by the reconciliation job, or on
the spot when someone else needs the slot.
"""
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from crowdfund import divisions, growth, ledger, legal, lifecycle, risk
from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, RewardTier
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify

P = PledgeStatus
MIN_WITHOUT_REWARD_FEN = 100
ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "detail")


class PledgeError(Exception):
    """Base class; `code` names the problem for the form."""

    code = "invalid"


class NotAcceptingPledges(PledgeError):
    code = "closed"


class TierSoldOut(PledgeError):
    code = "sold_out"


class AmountTooLow(PledgeError):
    code = "amount"

    def __init__(self, minimum_fen):
        super().__init__(minimum_fen)
        self.minimum_fen = minimum_fen


class NotShippedThere(PledgeError):
    code = "region"


class AddressRequired(PledgeError):
    code = "address"

    def __init__(self, field=None):
        super().__init__(field)
        self.field = field  # the blank line of the address, when known


class UnlistedDivision(PledgeError):
    """A province, city or district that is not in the list of China's divisions (for the region)."""

    code = "division"

    def __init__(self, field, other_region=None):
        super().__init__(field)
        self.field = field
        self.other_region = other_region  # a listed province of another shipping region


class RiskNotAccepted(PledgeError):
    code = "risk"


class UnpaidHoldExists(PledgeError):
    """The backer already holds this reward unpaid: pay for it or cancel it before holding another slot."""

    code = "unpaid_hold"


class CouponedTierChange(PledgeError):
    """A pledge paid partly with a coupon keeps its reward: cancel it and pledge again instead."""

    code = "couponed"


class ProviderNotOffered(PledgeError):
    """A payment provider that PAYMENT_PROVIDERS does not offer (or no such provider)."""

    code = "provider"


class TooManyUnpaid(PledgeError):
    """The backer holds PLEDGE_MAX_UNPAID unpaid pledges already (anywhere on the site)."""

    code = "unpaid_limit"

    def __init__(self, limit):
        super().__init__(limit)
        self.limit = limit


def _unpaid_hold_problem(backer, tier, now):
    """Why this backer may not hold one more unpaid slot, or None: one per reward, PLEDGE_MAX_UNPAID in all.

    Called after `_reserve` has updated the tier's row, so on PostgreSQL two attempts on one tier take turns
    and the second sees the first's pledge.
    """
    open_pledges = select(Pledge.tier_id).where(Pledge.backer_id == backer.id, Pledge.status == P.PENDING,
                                                Pledge.expires_at > now)
    held = db.session.scalars(open_pledges).all()
    if tier is not None and tier.id in held:
        return UnpaidHoldExists()
    limit = current_app.config["PLEDGE_MAX_UNPAID"]
    if len(held) >= limit:
        return TooManyUnpaid(limit)
    return None


@dataclass(frozen=True)
class Quote:
    amount_fen: int
    shipping_fen: int

    @property
    def total_fen(self):
        return self.amount_fen + self.shipping_fen


def _minimum(tier):
    return tier.price_fen if tier is not None else MIN_WITHOUT_REWARD_FEN


def quote(project, tier, amount_fen, region=None, now=None):
    """Check a prospective pledge and price it (shipping on top of the amount for physical rewards)."""
    if not lifecycle.accepts_pledges(project, now):
        raise NotAcceptingPledges()
    minimum = _minimum(tier)
    if amount_fen is None or amount_fen < minimum:
        raise AmountTooLow(minimum)
    shipping = 0
    if tier is not None and tier.physical:
        shipping = tier.shipping_fee(region) if region else None
        if shipping is None:
            raise NotShippedThere()
    return Quote(amount_fen, shipping)


def address_problems(region, address):
    """Every problem with a shipping address: blank lines, and divisions not in the region's list."""
    values = {name: ((address or {}).get(name) or "").strip() for name in ADDRESS_FIELDS}
    problems = [AddressRequired(name) for name, value in values.items() if not value]
    level = divisions.unlisted_level(region, values["province"], values["city"], values["district"])
    if level is not None:
        other = divisions.region_of(values["province"]) if level == "province" else None
        problems.append(UnlistedDivision(level, other))
    return problems


def check(project, tier, amount_fen, *, region=None, address=None, risk_accepted=False, now=None):
    """Every problem with a prospective pledge at once (the form shows them together); [] when it may start."""
    if not lifecycle.accepts_pledges(project, now):
        return [NotAcceptingPledges()]
    problems = []
    if amount_fen is None or amount_fen < _minimum(tier):
        problems.append(AmountTooLow(_minimum(tier)))
    if tier is not None and tier.physical:
        if not region or tier.shipping_fee(region) is None:
            problems.append(NotShippedThere())
        problems += address_problems(region, address)
    if not risk_accepted:
        problems.append(RiskNotAccepted())
    return problems


def _reserve(tier_id):
    """Take one slot if one is free (a single guarded UPDATE: atomic on PostgreSQL and SQLite)."""
    result = db.session.execute(
        update(RewardTier)
        .where(RewardTier.id == tier_id,
               or_(RewardTier.quantity_limit.is_(None), RewardTier.taken < RewardTier.quantity_limit))
        .values(taken=RewardTier.taken + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _release(tier_id):
    db.session.execute(update(RewardTier).where(RewardTier.id == tier_id, RewardTier.taken > 0)
                       .values(taken=RewardTier.taken - 1).execution_options(synchronize_session=False))


def _move(pledge_id, from_statuses, to_status, **values):
    """Change a pledge's status only if it is still in one of `from_statuses`; True if this call did it."""
    result = db.session.execute(update(Pledge).where(Pledge.id == pledge_id, Pledge.status.in_(from_statuses))
                                .values(status=to_status, **values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def new_out_trade_no(now=None):
    """Our trade number for the provider: date plus randomness, unique and unguessable."""
    return f"CF{(now or utcnow()):%Y%m%d}{secrets.token_hex(8).upper()}"


def find_by_key(backer, idempotency_key):
    return db.session.scalar(select(Pledge).where(Pledge.backer_id == backer.id,
                                                  Pledge.idempotency_key == idempotency_key))


def start(backer, project, tier, amount_fen, *, idempotency_key, region=None, address=None, anonymous=False,
          risk_accepted=False, channel="pc", provider="alipay", consent=False, client_hash=None, coupon_id=None,
          now=None):
    """Create a pending pledge holding its tier slot; the same idempotency key returns the same pledge.

    With `consent` (the pledge form's risk checkbox), the backer's acceptance of the platform's and the project's
    risk disclosures is recorded with the pledge, in its transaction. With `coupon_id` the pledge takes that
    coupon (CouponNotUsable if it cannot) and the provider is asked for the pledge less the coupon. `provider`
    is the one the backer chose (of PAYMENT_PROVIDERS); `channel` is kept as that provider uses it."""
    from crowdfund import coupons
    from crowdfund.payments import enabled_providers, provider_class

    now = now or utcnow()
    existing = find_by_key(backer, idempotency_key)
    if existing is not None:
        return existing
    if not risk_accepted:
        raise RiskNotAccepted()
    if provider not in enabled_providers():
        raise ProviderNotOffered()
    channel = provider_class(provider).channel_for(channel)
    priced = quote(project, tier, amount_fen, region, now)
    if tier is not None and tier.physical and not (address and all((address.get(f) or "").strip()
                                                                   for f in ADDRESS_FIELDS)):
        raise AddressRequired()
    if tier is not None and not _reserve(tier.id):
        expire_overdue(now, tier_id=tier.id)
        if not _reserve(tier.id):
            db.session.rollback()
            raise TierSoldOut()
    problem = _unpaid_hold_problem(backer, tier, now)
    if problem is not None:
        db.session.rollback()  # gives the slot back
        raise problem
    pledge = Pledge(project_id=project.id, tier_id=tier.id if tier else None, backer_id=backer.id,
                    amount_fen=priced.total_fen, shipping_fen=priced.shipping_fen, status=P.PENDING,
                    idempotency_key=idempotency_key, out_trade_no=new_out_trade_no(now), channel=channel,
                    provider=provider,
                    anonymous=bool(anonymous), risk_accepted_at=now, created_at=now, client_hash=client_hash,
                    expires_at=now + timedelta(minutes=current_app.config["PLEDGE_HOLD_MINUTES"]))
    if tier is not None and tier.physical:
        pledge.ship_region = region
        for name in ADDRESS_FIELDS:
            setattr(pledge, f"ship_{name}", address[name].strip())
    db.session.add(pledge)
    try:
        if coupon_id is not None:
            db.session.flush()
            try:
                coupons.apply(pledge, coupon_id, now)
            except coupons.CouponNotUsable:
                db.session.rollback()  # gives the slot back
                raise
        if consent:
            db.session.flush()
            legal.record_pledge(backer, pledge, project, now=now)
        db.session.commit()
    except IntegrityError:
        # A double submit won the race with the same key: its pledge (and its slot) is the one.
        db.session.rollback()
        existing = find_by_key(backer, idempotency_key)
        if existing is None:
            raise
        return existing
    return pledge


def expire_overdue(now=None, tier_id=None):
    """Expire unpaid pledges whose hold has run out, releasing their slots; returns how many."""
    now = now or utcnow()
    query = select(Pledge.id, Pledge.tier_id).where(Pledge.status == P.PENDING, Pledge.expires_at <= now)
    if tier_id is not None:
        query = query.where(Pledge.tier_id == tier_id)
    count = sum(expire(pledge_id, pledge_tier, commit=False) for pledge_id, pledge_tier in db.session.execute(query).all())
    if tier_id is None:
        db.session.commit()
    return count


def expire(pledge_id, tier_id, commit=True):
    """Expire one pending pledge and release its slot and its coupon; False if it was no longer pending."""
    from crowdfund import coupons

    moved = _move(pledge_id, [P.PENDING], P.EXPIRED)
    if moved:
        coupons.release(pledge_id)
    if moved and tier_id is not None:
        _release(tier_id)
    if commit:
        db.session.commit()
    return moved


def record_payment(out_trade_no, trade_no, total_fen, paid_at=None):
    """The provider says the trade is paid. Idempotent; returns what happened.

    A pending pledge (even one past its hold, whose slot was never released) becomes paid: escrow receives the
    full pledge, the provider's money plus its coupon's part from the marketing account, in one transaction. A
    pledge that already expired or closed lost its slot (and its coupon): what the provider took is kept on
    record and refunded.
    """
    from crowdfund import coupons

    pledge = db.session.scalar(select(Pledge).where(Pledge.out_trade_no == out_trade_no).with_for_update())
    if pledge is None:
        return "unknown"
    if total_fen != (pledge.paid_fen or pledge.due_fen):
        return "amount_mismatch"
    paid_at = paid_at or utcnow()
    received = [(ledger.clearing(pledge.provider), total_fen)]
    if _move(pledge.id, [P.PENDING], P.PAID, trade_no=trade_no, paid_at=paid_at, paid_fen=total_fen):
        coupon = [(coupons.MARKETING, pledge.coupon_fen)] if pledge.coupon_fen else []
        coupons.mark_used(pledge, paid_at)
        ledger.post("payment", f"payment:{out_trade_no}",
                    received + coupon + [(ledger.escrow(pledge.project_id), -pledge.amount_fen)],
                    project_id=pledge.project_id)
        notify(pledge.backer_id, "pledge_paid", link=f"/me/pledges/{pledge.id}", project_id=pledge.project_id,
               key=f"paid:{pledge.id}", title=pledge.project.title, amount_fen=total_fen)
        growth.credit_backing(pledge, now=paid_at)
        db.session.commit()
        risk.queue_check(pledge.project_id)
        if pledge.replaces_id is not None:
            _replace_after_payment(pledge)
        return "paid"
    if _move(pledge.id, [P.EXPIRED, P.CLOSED, P.CANCELLED], P.REFUND_DUE, trade_no=trade_no, paid_at=paid_at,
             paid_fen=total_fen):
        ledger.post("late_payment", f"payment:{out_trade_no}",
                    received + [(ledger.REFUNDS_PAYABLE, -total_fen)], project_id=pledge.project_id)
        db.session.commit()
        from crowdfund.queueing import enqueue

        enqueue(refund_late_payment, pledge.id, queue="payments", job_id=f"late-refund-{pledge.id}")
        return "refund_due"
    db.session.rollback()
    return "duplicate"


def record_closed(out_trade_no):
    """The provider closed the trade unpaid: release the slot if the pledge still held it."""
    pledge = db.session.scalar(select(Pledge).where(Pledge.out_trade_no == out_trade_no).with_for_update())
    if pledge is None:
        return "unknown"
    if _move(pledge.id, [P.PENDING], P.CLOSED):
        from crowdfund import coupons

        coupons.release(pledge.id)
        if pledge.tier_id is not None:
            _release(pledge.tier_id)
        db.session.commit()
        return "closed"
    db.session.rollback()
    return "ignored"


def refund_late_payment(pledge_id):
    """Job: give back money that arrived after its pledge expired (idempotent by out_request_no).

    Only what the provider took goes back: a coupon was released with the pledge and never left marketing."""
    from crowdfund.payments import get_provider

    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None or pledge.status != P.REFUND_DUE:
        return "skipped"
    out_request_no = f"LATE{pledge.id}"
    taken = pledge.paid_fen
    get_provider(pledge.provider).refund(out_trade_no=pledge.out_trade_no, amount_fen=taken,
                                         out_request_no=out_request_no, reason="pledge expired before payment")
    _move(pledge.id, [P.REFUND_DUE], P.REFUNDED)
    ledger.post("refund", f"refund:{out_request_no}", [(ledger.REFUNDS_PAYABLE, taken),
                                                        (ledger.clearing(pledge.provider), -taken)],
                project_id=pledge.project_id)
    notify(pledge.backer_id, "refund_done", link=f"/me/pledges/{pledge.id}", project_id=pledge.project_id,
           key=f"refund:{out_request_no}", title=pledge.project.title, amount_fen=taken)
    db.session.commit()
    return "refunded"


def can_cancel(pledge, now=None):
    """Before the campaign's last 24 hours a backer may cancel (and is refunded in full)."""
    now = now or utcnow()
    project = pledge.project
    return (pledge.status in (P.PENDING, P.PAID) and project.status.value == "live" and project.end_at is not None
            and project.end_at - now > timedelta(hours=24))


def withdraw_pledge(pledge, from_statuses=(P.PAID,)):
    """Cancel a pledge (once, even under races) and free its tier slot (and an unpaid one's coupon); the caller
    commits and refunds."""
    from crowdfund import coupons

    if not _move(pledge.id, list(from_statuses), P.CANCELLED):
        return False
    coupons.release(pledge.id)
    if pledge.tier_id is not None:
        _release(pledge.tier_id)
    db.session.refresh(pledge)
    return True


def cancel(pledge, backer, now=None):
    """Cancel a pledge: its slot is freed at once; a paid one is refunded through the refunds path."""
    from crowdfund import refunds

    if pledge.backer_id != backer.id or not can_cancel(pledge, now):
        raise PledgeError()
    was_paid = pledge.status == P.PAID
    if not withdraw_pledge(pledge, [P.PENDING, P.PAID]):
        raise PledgeError()
    refund = refunds.request_refund(pledge, "cancelled", commit=False) if was_paid else None
    growth.take_back_backing(pledge, "cancelled", now=now)
    db.session.commit()
    if refund is not None:
        refunds.queue(refund)
        risk.queue_check(pledge.project_id)
    return pledge


def can_change_tier(pledge, now=None):
    """A paid pledge for a reward may move to another tier until the campaign's last 24 hours.

    Not one paid partly with a coupon: its coupon was sized to this pledge, so it is cancelled (coupon part back
    to marketing, the coupon available again) and pledged again instead."""
    return pledge.status == P.PAID and pledge.tier_id is not None and not pledge.coupon_fen and can_cancel(pledge, now)


def tier_change_options(pledge):
    """The tiers this pledge could move to: not sold out, and shippable to its address if physical."""
    return [tier for tier in pledge.project.tiers
            if tier.id != pledge.tier_id and (tier.quantity_limit is None or tier.taken < tier.quantity_limit)
            and (not tier.physical or (pledge.ship_region and tier.shipping_fee(pledge.ship_region) is not None))]


def extra_support(pledge):
    """What the backer gave on top of the tier's price and shipping (kept when changing tier)."""
    price = pledge.tier.price_fen if pledge.tier is not None else 0
    return max(pledge.amount_fen - pledge.shipping_fen - price, 0)


def change_tier(pledge, backer, tier, idempotency_key, now=None):
    """Move a paid pledge to another tier of the same project (SPEC 2.1); extra support stays as it was.

    Cheaper: the pledge takes the new tier's slot and price at once and, in the same transaction,
    a refund of the difference is created (then paid out through the refunds path). Dearer: a new
    pending pledge for the new tier is started (it holds its slot) and returned for payment; once it
    is paid the old pledge is cancelled and refunded in full, so the backer never pays twice for one
    reward. Shipping goes to the same address.
    """
    from crowdfund import refunds

    now = now or utcnow()
    if pledge.coupon_fen:
        raise CouponedTierChange()
    if pledge.backer_id != backer.id or not can_change_tier(pledge, now):
        raise PledgeError()
    if tier is None or tier.project_id != pledge.project_id or tier.id == pledge.tier_id:
        raise PledgeError()
    region = pledge.ship_region
    if tier.physical and not region:
        raise AddressRequired()
    amount = tier.price_fen + extra_support(pledge)
    priced = quote(pledge.project, tier, amount, region if tier.physical else None, now)
    if priced.total_fen > pledge.amount_fen:
        address = {name: getattr(pledge, f"ship_{name}") for name in ADDRESS_FIELDS}
        new = start(backer, pledge.project, tier, amount, idempotency_key=idempotency_key,
                    region=region if tier.physical else None, address=address, anonymous=pledge.anonymous,
                    risk_accepted=True, channel=pledge.channel, provider=pledge.provider, now=now)
        if new.replaces_id is None:
            new.replaces_id = pledge.id
            db.session.commit()
        return new
    if not _reserve(tier.id):
        expire_overdue(now, tier_id=tier.id)
        if not _reserve(tier.id):
            db.session.rollback()
            raise TierSoldOut()
    difference = pledge.amount_fen - priced.total_fen
    sequence = 1 + sum(1 for refund in refunds.refunds_of(pledge) if refund.reason == "tier_change")
    moved = db.session.execute(update(Pledge).where(Pledge.id == pledge.id, Pledge.status == P.PAID,
                                                    Pledge.tier_id == pledge.tier_id)
                               .values(tier_id=tier.id, amount_fen=priced.total_fen, shipping_fen=priced.shipping_fen,
                                       paid_fen=func.coalesce(Pledge.paid_fen, Pledge.amount_fen))
                               .execution_options(synchronize_session=False)).rowcount
    if not moved:
        db.session.rollback()
        raise PledgeError()
    _release(pledge.tier_id)
    db.session.refresh(pledge)
    refund = None
    if difference:
        refund = refunds.request_refund(pledge, "tier_change", amount_fen=difference, sequence=sequence, commit=False)
        growth.take_back_backing(pledge, refund.out_request_no, now=now)
    db.session.commit()
    if refund is not None:
        refunds.queue(refund)
    return pledge


def _replace_after_payment(pledge):
    """The dearer pledge of a tier change is paid: cancel the one it replaces and refund it in full."""
    from crowdfund import refunds

    old = db.session.get(Pledge, pledge.replaces_id)
    if old is not None and withdraw_pledge(old):
        refund = refunds.request_refund(old, "tier_change", commit=False)
        growth.take_back_backing(old, "cancelled")
        db.session.commit()
        refunds.queue(refund)


def pledges_of(backer):
    """A backer's pledges, newest first (for "My pledges")."""
    return db.session.scalars(select(Pledge).where(Pledge.backer_id == backer.id)
                              .order_by(Pledge.id.desc())).all()



def payment_redirect(pledge, channel=None):
    """Where to send the backer to pay this pending pledge (through its provider)."""
    from crowdfund.payments import get_provider, waiting

    site = current_app.config["SITE_URL"]
    provider = get_provider(pledge.provider)
    return_url = f"{site}/payments/{pledge.provider}/return"
    if not provider.signed_return:
        return_url += "?back=" + waiting.return_token(pledge.out_trade_no)
    return provider.create_payment(
        out_trade_no=pledge.out_trade_no, amount_fen=pledge.due_fen, subject=pledge.project.title,
        channel=provider.channel_for(channel or pledge.channel), notify_url=f"{site}/payments/{pledge.provider}/notify",
        return_url=return_url)


def awaiting_payment(backer, project, now=None):
    """The backer's pledges to this project that still hold a reward and wait to be paid, newest first."""
    now = now or utcnow()
    return db.session.scalars(select(Pledge).where(
        Pledge.backer_id == backer.id, Pledge.project_id == project.id, Pledge.status == P.PENDING,
        Pledge.expires_at > now).order_by(Pledge.created_at.desc())).all()


def can_pay(pledge, now=None):
    """A pending pledge whose hold has not run out may be paid (again)."""
    return pledge.status == P.PENDING and pledge.expires_at > (now or utcnow())


def can_pledge_again(pledge, now=None):
    """A pledge whose trade the provider closed unpaid may be made again while the project takes pledges and
    its reward has a free slot."""
    tier = pledge.tier
    return (pledge.status == P.CLOSED and lifecycle.accepts_pledges(pledge.project, now)
            and (tier is None or tier.quantity_limit is None or tier.taken < tier.quantity_limit))


def pledge_again(pledge, backer, client_hash=None, now=None):
    """A new pending pledge (a new trade, its slot held again) like one whose trade was closed; once per pledge."""
    if pledge.backer_id != backer.id or pledge.status != P.CLOSED:
        raise PledgeError()
    address = {name: getattr(pledge, f"ship_{name}") or "" for name in ADDRESS_FIELDS}
    new = start(backer, pledge.project, pledge.tier, pledge.amount_fen - pledge.shipping_fen,
                idempotency_key=f"again-{pledge.id}", region=pledge.ship_region, address=address,
                anonymous=pledge.anonymous, risk_accepted=True, channel=pledge.channel, provider=pledge.provider,
                client_hash=client_hash, now=now)
    if new.replaces_id is None and pledge.replaces_id is not None:
        new.replaces_id = pledge.replaces_id  # a dearer reward of a tier change: paying it still replaces the old
        db.session.commit()
    return new
