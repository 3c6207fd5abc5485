"""Creator verification (资质核验): submit papers, moderators decide; approval makes the account a creator."""
import re

from sqlalchemy import select

from crowdfund import accounts, audit
from crowdfund.extensions import db
from crowdfund.models import CreatorVerification, Role, VerificationKind, VerificationStatus
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
CREDIT_CODE_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


class VerificationError(Exception):
    """The verification cannot be submitted or decided as asked."""


def valid_id_number(value):
    """A mainland resident ID number (18 characters, GB 11643 check digit)."""
    value = (value or "").strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == value[-1]


def valid_credit_code(value):
    """A unified social credit code (统一社会信用代码): 18 characters of the allowed alphabet."""
    return bool(CREDIT_CODE_RE.match((value or "").strip().upper()))


def latest(user):
    """The account's most recent verification, or None."""
    return db.session.scalar(select(CreatorVerification).where(CreatorVerification.user_id == user.id)
                             .order_by(CreatorVerification.id.desc()).limit(1))


def is_verified(user):
    return user.has_role(Role.CREATOR)


def submit(user, kind, document, *, real_name=None, id_number=None, organisation_name=None, credit_code=None):
    """Hand in papers for review; one pending request at a time."""
    current = latest(user)
    if current is not None and current.status == VerificationStatus.PENDING:
        raise VerificationError("pending")
    kind = VerificationKind(kind)
    row = CreatorVerification(user_id=user.id, kind=kind, document_id=document.id)
    if kind == VerificationKind.INDIVIDUAL:
        row.real_name, row.id_number = real_name.strip(), id_number.strip().upper()
    else:
        row.organisation_name, row.credit_code = organisation_name.strip(), credit_code.strip().upper()
    db.session.add(row)
    db.session.commit()
    return row


def pending():
    """Verifications waiting for a moderator, oldest first."""
    return db.session.scalars(select(CreatorVerification)
                              .where(CreatorVerification.status == VerificationStatus.PENDING)
                              .order_by(CreatorVerification.id)).all()


def decide(verification, moderator, approve, reason=""):
    """Approve (the account becomes a creator) or reject with a reason; audited and notified."""
    if verification.status != VerificationStatus.PENDING:
        raise VerificationError("already decided")
    if verification.user_id == moderator.id:
        raise VerificationError("own")
    verification.status = VerificationStatus.APPROVED if approve else VerificationStatus.REJECTED
    verification.reviewer_id, verification.reviewed_at, verification.reason = moderator.id, utcnow(), reason
    audit.record(moderator, "verification." + verification.status.value, verification, reason=reason)
    if approve:
        notify(verification.user_id, "verification_approved", link="/me/projects")
        accounts.grant_role(verification.user, Role.CREATOR, granted_by=moderator)
    else:
        notify(verification.user_id, "verification_rejected", link="/me/verification", reason=reason)
    db.session.commit()
