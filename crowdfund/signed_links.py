"""Signed, expiring links mailed to an account (e-mail confirmation, password reset): one signing scheme for both."""
from flask import current_app
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from crowdfund.extensions import db
from crowdfund.models import User


def serializer(salt, now=None):
    """The serializer for links of one kind (its own salt); `now` signs at a chosen time (tests, nothing else)."""
    signer = TimestampSigner
    if now is not None:
        signer = type("ClockSigner", (TimestampSigner,), {"get_timestamp": lambda self: int(now.timestamp())})
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=signer)


def read(token, salt, field):
    """(account, payload, signed_at) of a genuine link of this kind for a live account, else None.

    The payload is {"u": account id, field: a string the kind binds (the address, a fingerprint)}.
    """
    try:
        payload, signed_at = serializer(salt).loads(token, return_timestamp=True)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int) or not isinstance(payload.get(field), str):
        return None
    if not 0 < payload["u"] < 2**31:
        return None
    user = db.session.get(User, payload["u"])
    if user is None or user.deleted_at is not None:
        return None
    return user, payload, signed_at
