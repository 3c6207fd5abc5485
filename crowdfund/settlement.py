"""Settlement and staged withdrawals (SPEC 2.6): the fee is booked at success, the creator withdraws in stages.

Stage 1: up to WITHDRAWAL_STAGE1_SHARE percent of the net after success. Stage 2 (the rest) opens
once WITHDRAWAL_STAGE2_CONFIRMED percent of physical-reward pledges are received (`delivery.py`).
Finance approves (escrow → creator payable) with a due date T+N business days away, then marks
the payout paid with its bank reference (creator payable → payouts).
"""
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, select

from crowdfund import audit, ledger
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import ProjectStatus, Withdrawal
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify

PAYOUTS = "payouts"
FEE_REVENUE = "fee_revenue"


class SettlementError(RuleError):
    """The withdrawal cannot be requested or decided as asked."""


def creator_payable(project_id):
    return f"creator_payable:project:{project_id}"


def fee_rate_bp(project):
    """The project's fee in basis points: its own rate, else the default, one point lower for a creator
    whose earlier project delivered every reward on time."""
    from crowdfund import delivery

    if project.fee_rate_bp is not None:
        return project.fee_rate_bp
    rate = current_app.config["FEE_RATE_BP"]
    return max(rate - 100, 0) if delivery.delivered_on_time_before(project) else rate


def set_fee_rate(project, admin, rate_bp):
    """Admins set 5–10% per project, before it is settled."""
    if not 500 <= rate_bp <= 1000:
        raise SettlementError("rate")
    project.fee_rate_bp = rate_bp
    audit.record(admin, "project.fee_rate", project, rate_bp=rate_bp)
    db.session.commit()


def book_fee(project):
    """At success: the platform fee moves from escrow to fee revenue (once)."""
    raised = -ledger.balance(ledger.escrow(project.id))
    fee = raised * fee_rate_bp(project) // 10_000
    if fee > 0:
        ledger.post("fee", f"fee:{project.id}", [(ledger.escrow(project.id), fee), (FEE_REVENUE, -fee)],
                    project_id=project.id, memo=f"{fee_rate_bp(project)} bp")
    return fee


def net_fen(project_id):
    """What the creator gets in total: raised minus refunds minus fees (= escrow plus what was withdrawn)."""
    funds = ledger.project_funds(project_id)
    return funds["escrow"] + funds["withdrawn"]


def stage_allowance(project, stage):
    """How much the creator may still ask for in this stage."""
    from crowdfund import delivery

    net = net_fen(project.id)
    if stage == 1:
        cap = net * current_app.config["WITHDRAWAL_STAGE1_SHARE"] // 100
    elif stage == 2:
        if not delivery.stage2_open(project):
            raise SettlementError("stage2_needs_delivery")
        cap = net
    else:
        raise SettlementError("stage")
    taken = db.session.scalar(select(func.coalesce(func.sum(Withdrawal.amount_fen), 0)).where(
        Withdrawal.project_id == project.id, Withdrawal.status.in_(["requested", "approved", "paid"])))
    return max(cap - taken, 0)


def request(project, creator, stage=1):
    """The creator asks for everything still available in the stage."""
    if project.creator_id != creator.id:
        raise SettlementError("owner")
    if project.status not in (ProjectStatus.SUCCESSFUL, ProjectStatus.DELIVERING, ProjectStatus.COMPLETED):
        raise SettlementError("not_successful")
    amount = stage_allowance(project, stage)
    if amount <= 0:
        raise SettlementError("nothing")
    withdrawal = Withdrawal(project_id=project.id, stage=stage, amount_fen=amount, requested_by_id=creator.id)
    db.session.add(withdrawal)
    db.session.commit()
    return withdrawal


def add_business_days(start, days, holidays=()):
    """`days` working days after `start`, skipping weekends and holidays (ISO dates)."""
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current.isoformat() not in holidays:
            left -= 1
    return current


def approve(withdrawal, finance, today=None):
    """Finance approves: the money moves from escrow to creator payable, due T+N business days."""
    if withdrawal.status != "requested":
        raise SettlementError("decided")
    from crowdfund import refunds

    if withdrawal.amount_fen > refunds.available_escrow(withdrawal.project_id):
        raise SettlementError("escrow")  # refunds (e.g. late-delivery claims) took money since the request
    today = today or date.today()
    withdrawal.due_date = add_business_days(today, current_app.config["PAYOUT_BUSINESS_DAYS"],
                                            set(current_app.config["PAYOUT_HOLIDAYS"]))
    withdrawal.status, withdrawal.decided_by_id, withdrawal.decided_at = "approved", finance.id, utcnow()
    ledger.post("withdrawal", f"withdrawal:{withdrawal.id}",
                [(ledger.escrow(withdrawal.project_id), withdrawal.amount_fen),
                 (creator_payable(withdrawal.project_id), -withdrawal.amount_fen)], project_id=withdrawal.project_id)
    audit.record(finance, "withdrawal.approve", withdrawal, due=withdrawal.due_date.isoformat())
    notify(withdrawal.project.creator_id, "withdrawal_approved", link="/me/projects", project_id=withdrawal.project_id,
           title=withdrawal.project.title, due=withdrawal.due_date.isoformat())
    db.session.commit()


def reject(withdrawal, finance, reason):
    if withdrawal.status != "requested":
        raise SettlementError("decided")
    if not reason.strip():
        raise SettlementError("reason")
    withdrawal.status, withdrawal.reason = "rejected", reason.strip()
    withdrawal.decided_by_id, withdrawal.decided_at = finance.id, utcnow()
    audit.record(finance, "withdrawal.reject", withdrawal, reason=reason.strip())
    notify(withdrawal.project.creator_id, "withdrawal_rejected", link="/me/projects", project_id=withdrawal.project_id,
           title=withdrawal.project.title, reason=reason.strip())
    db.session.commit()


def mark_paid(withdrawal, finance, reference):
    """The payout left the bank: creator payable → payouts, with the bank reference."""
    if withdrawal.status != "approved":
        raise SettlementError("not_approved")
    if not reference.strip():
        raise SettlementError("reference")
    withdrawal.status, withdrawal.payout_reference, withdrawal.paid_at = "paid", reference.strip(), utcnow()
    ledger.post("payout", f"payout:{withdrawal.id}",
                [(creator_payable(withdrawal.project_id), withdrawal.amount_fen), (PAYOUTS, -withdrawal.amount_fen)],
                project_id=withdrawal.project_id, memo=reference.strip()[:100])
    audit.record(finance, "withdrawal.paid", withdrawal, reference=reference.strip())
    db.session.commit()


def withdrawals_of(project):
    return db.session.scalars(select(Withdrawal).where(Withdrawal.project_id == project.id)
                              .order_by(Withdrawal.id)).all()


def queue():
    """Withdrawals finance still has to decide or pay, oldest first."""
    return db.session.scalars(select(Withdrawal).where(Withdrawal.status.in_(["requested", "approved"]))
                              .order_by(Withdrawal.id)).all()
