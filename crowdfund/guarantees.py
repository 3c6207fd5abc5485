"""Third-party guarantees (第三方担保, SPEC 2.10).

A moderator who has checked a guarantor's letter records the guarantee on the project: the
guarantor's name and unified social credit code, and the amount it covers. It shows on the
project page. When late-delivery claims go beyond what escrow still holds, the rest is booked
against the guarantor's ledger account `guarantor:<id>` (a debit: the guarantor owes it).
"""
from sqlalchemy import func, select

from crowdfund import audit, verification
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import Guarantee, Pledge, ProjectStatus, Refund

OPEN_STATES = {ProjectStatus.LIVE, ProjectStatus.SUCCESSFUL, ProjectStatus.DELIVERING, ProjectStatus.APPROVED,
               ProjectStatus.IN_REVIEW, ProjectStatus.SUBMITTED}


class GuaranteeError(RuleError):
    """The guarantee cannot be recorded as asked."""


def account(guarantee):
    return f"guarantor:{guarantee.id}"


def of(project):
    return db.session.scalar(select(Guarantee).where(Guarantee.project_id == project.id))


def used(guarantee):
    """What claims have taken (or are taking) from the guarantee: every refund part not failed."""
    return db.session.scalar(select(func.coalesce(func.sum(Refund.guarantee_fen), 0))
                             .join(Pledge, Pledge.id == Refund.pledge_id)
                             .where(Pledge.project_id == guarantee.project_id, Refund.status != "failed"))


def remaining(guarantee):
    return max(guarantee.amount_fen - used(guarantee), 0) if guarantee else 0


def add(project, moderator, guarantor_name, credit_code, amount_fen):
    """Record a guarantee the moderator verified; one per project, before delivery is over."""
    name, code = (guarantor_name or "").strip(), (credit_code or "").strip().upper()
    if project.status not in OPEN_STATES:
        raise GuaranteeError("status")
    if of(project) is not None:
        raise GuaranteeError("exists")
    if not name:
        raise GuaranteeError("name")
    if not verification.valid_credit_code(code):
        raise GuaranteeError("credit_code")
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise GuaranteeError("amount")
    guarantee = Guarantee(project_id=project.id, guarantor_name=name[:100], credit_code=code, amount_fen=amount_fen,
                          verified_by_id=moderator.id)
    db.session.add(guarantee)
    db.session.flush()
    audit.record(moderator, "guarantee.add", project, guarantor=name, amount_fen=amount_fen)
    db.session.commit()
    return guarantee
