"""Mobile numbers and SMS codes: sign-in by code, binding, changing and removing a verified phone (SPEC 5.3).

A code is 6 digits from `secrets`, stored only as HMAC-SHA256 keyed with SECRET_KEY, good for
SMS_CODE_MINUTES and SMS_CODE_ATTEMPTS tries, compared with `hmac.compare_digest`, used once; a new code for the
same number and purpose replaces the old one. How often codes may be sent is the views' rate limit
(RATELIMIT_SMS per number, RATELIMIT_SMS_IP per address).
"""
import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from crowdfund import audit, sms
from crowdfund.extensions import db
from crowdfund.models import SmsCode, SmsPurpose, User
from crowdfund.models.base import utcnow

MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}")
CODE_TEMPLATE = "verification_code"


class PhoneError(Exception):
    """Base class of phone errors."""


class InvalidPhone(PhoneError):
    """Not a mainland mobile number."""


class CodeRejected(PhoneError):
    """The code is wrong, expired, used, replaced or out of tries; `remaining` tries left (0: ask for a new one)."""

    def __init__(self, reason, remaining=0, phone=None):
        super().__init__(reason)
        self.reason, self.remaining, self.phone = reason, remaining, phone


class PhoneTaken(PhoneError):
    """Another account has this number."""


class WrongPassword(PhoneError):
    """The account's password was not given correctly."""


class NotBound(PhoneError):
    """The account has no phone to change or remove."""


def normalize(raw):
    """"+86 138-0013-8000", "13800138000", "8613800138000" → "+8613800138000"; InvalidPhone otherwise."""
    digits = re.sub(r"[\s\-()（）]", "", raw or "")
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("86"):
            raise InvalidPhone(raw)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not MAINLAND_MOBILE.fullmatch(digits):
        raise InvalidPhone(raw)
    return "+86" + digits


def mask(phone):
    """138****8000: enough to recognise one's own number, not enough to learn someone else's."""
    if not phone:
        return ""
    national = phone.removeprefix("+86")
    return f"{national[:3]}****{national[-4:]}"


def _hash(phone, purpose, code):
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}|{purpose.value}|{code}".encode(), hashlib.sha256).hexdigest()


def new_code():
    """Six random digits."""
    return f"{secrets.randbelow(10 ** 6):06d}"


def send_code(phone, purpose, user=None, now=None):
    """Create a code for the number and text it; on SmsError nothing is kept (the previous code stays live)."""
    now = now or utcnow()
    purpose = SmsPurpose(purpose)
    code = new_code()
    row = SmsCode(phone=phone, purpose=purpose, code_hash=_hash(phone, purpose, code),
                  user_id=user.id if user else None, created_at=now,
                  expires_at=now + timedelta(minutes=current_app.config["SMS_CODE_MINUTES"]))
    db.session.add(row)
    db.session.flush()
    try:
        sms.send(phone, CODE_TEMPLATE, {"code": code})
    except sms.SmsError:
        db.session.rollback()
        raise
    db.session.commit()
    return row


def _check(phone, purpose, code, user=None, now=None):
    """The newest code for this number and purpose (and account) if `code` is it; a wrong try counts at once.

    The caller marks the row used (`used_at`) in its own transaction, after every other check passed.
    """
    now = now or utcnow()
    purpose = SmsPurpose(purpose)
    query = select(SmsCode).where(SmsCode.phone == phone, SmsCode.purpose == purpose)
    if user is not None:
        query = query.where(SmsCode.user_id == user.id)
    row = db.session.scalar(query.order_by(SmsCode.id.desc()).limit(1).with_for_update())
    limit = current_app.config["SMS_CODE_ATTEMPTS"]
    if row is None or row.used_at is not None:
        raise CodeRejected("none", phone=phone)
    if row.expires_at <= now:
        raise CodeRejected("expired", phone=phone)
    if row.attempts >= limit:
        raise CodeRejected("attempts", phone=phone)
    row.attempts += 1
    if not hmac.compare_digest(row.code_hash, _hash(phone, purpose, (code or "").strip())):
        remaining = limit - row.attempts
        db.session.commit()  # the wrong try is counted even though the request fails
        raise CodeRejected("wrong" if remaining else "attempts", remaining, phone=phone)
    return row


def check_code(phone, purpose, code, user=None, now=None):
    """Use up the code (single use) if it is right; CodeRejected otherwise."""
    now = now or utcnow()
    row = _check(phone, purpose, code, user=user, now=now)
    row.used_at = now
    db.session.commit()
    return row


def find_by_phone(phone):
    """The live account whose verified phone this is, or None."""
    return db.session.scalar(select(User).where(User.phone == phone, User.phone_verified_at.is_not(None),
                                                User.deleted_at.is_(None)))


def log_in_with_code(phone, code, now=None):
    """The account that owns the number once the code is right (None when no account uses it)."""
    now = now or utcnow()
    row = _check(phone, SmsPurpose.LOGIN, code, now=now)
    row.used_at = now
    user = find_by_phone(phone)
    if user is not None:
        user.last_login_at = now
    db.session.commit()
    return user


def _taken_by_other(user, phone):
    other = db.session.scalar(select(User.id).where(User.phone == phone, User.id != user.id))
    return other is not None


def bind(user, phone, code, *, old_code=None, password=None, now=None):
    """Give the account this (proved) number; replacing a number needs a code to the old one or the password."""
    from crowdfund.accounts import check_password

    now = now or utcnow()
    previous = user.phone
    rows = []
    if previous is not None:
        if password:
            if not check_password(user, password):
                raise WrongPassword()
        else:
            rows.append(_check(previous, SmsPurpose.CHANGE, old_code, user=user, now=now))
    rows.append(_check(phone, SmsPurpose.BIND, code, user=user, now=now))
    for row in rows:
        row.used_at = now
    if _taken_by_other(user, phone):
        db.session.commit()  # the codes are spent: the number's owner proved it, the account cannot have it
        raise PhoneTaken(phone)
    user.phone, user.phone_verified_at = phone, now
    audit.record(user, "phone.change" if previous else "phone.bind", user, phone=mask(phone),
                 **({"previous": mask(previous), "proof": "password" if password else "sms"} if previous else {}))
    db.session.commit()
    return user


def remove(user, password):
    """Take the number off the account (the password proves it is the owner)."""
    from crowdfund.accounts import check_password

    if user.phone is None:
        raise NotBound()
    if not check_password(user, password or ""):
        raise WrongPassword()
    audit.record(user, "phone.remove", user, phone=mask(user.phone))
    user.phone = user.phone_verified_at = None
    db.session.commit()


def has_verified_phone(user):
    """The launch rule (实名): a creator needs a verified mobile number."""
    return bool(user.phone and user.phone_verified_at)


def set_verified_phone(user, phone, now=None):
    """Record a number as verified without a code: demo data and test fixtures only."""
    user.phone, user.phone_verified_at = phone, now or utcnow()
