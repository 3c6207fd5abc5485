"""Accounts: sign-up, credentials, profile and roles."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from crowdfund import audit, legal, passwords, sessions
from crowdfund.extensions import db
from crowdfund.models import Role, User, UserRole
from crowdfund.models.base import utcnow
from crowdfund.models.user import new_session_token

# OWASP's argon2id floor is 19 MiB with t=2; we stay at or above it.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = hasher.hash("not a real password")

PASSWORD_MIN = passwords.MIN_LENGTH
PASSWORD_MAX = passwords.MAX_LENGTH


class AccountError(Exception):
    """Base class of account errors; the message is safe to show."""


class EmailTaken(AccountError):
    """Another account already uses this email."""


class WeakPassword(AccountError):
    """The new password breaks the password rules (too short, too long or too common); str() says which."""


def check_new_password(password):
    """Raise WeakPassword unless the password may be used for an account."""
    reason = passwords.problem(password)
    if reason is not None:
        raise WeakPassword(str(reason))


class InvalidCredentials(AccountError):
    """Wrong email or wrong password (deliberately not told apart)."""


class WrongPassword(AccountError):
    """The current password given to change it is wrong."""


def normalize_email(email):
    """Emails are compared case-insensitively and without surrounding space."""
    return email.strip().lower()


def find_by_email(email):
    """The account with this email, or None."""
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def register(email, display_name, password, *, locale=None, address=None, verified=False):
    """Create an account that has accepted the current user agreement and privacy policy (recorded as consents,
    with the hashed client address); its address is unconfirmed unless `verified` (accounts the operator makes:
    the CLI, the demo, test fixtures)."""
    email = normalize_email(email)
    check_new_password(password)
    if find_by_email(email) is not None:
        raise EmailTaken(email)
    now = utcnow()
    versions = {**legal.INITIAL_VERSIONS, **legal.current_versions(legal.SIGNUP)}
    user = User(
        email=email,
        display_name=display_name.strip(),
        password_hash=hasher.hash(password),
        locale=locale,
        terms_version=versions["terms"],
        privacy_version=versions["privacy"],
        agreed_at=now,
        email_verified_at=now if verified else None,
    )
    db.session.add(user)
    db.session.flush()
    legal.record(user, legal.SIGNUP, address=address, now=now)
    db.session.commit()
    return user


def authenticate(email, password):
    """The account for these credentials, or InvalidCredentials."""
    user = find_by_email(email)
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials() from None
    if user is None or user.deleted_at is not None:
        raise InvalidCredentials()
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def check_password(user, password):
    """Whether `password` is the account's current one."""
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(user, current_password, new_password, keep=None):
    """Set a new password and end the account's other sessions: all but `keep` (the LoginSession to stay
    signed in), or every one of them, session token rotated, when `keep` is None."""
    try:
        hasher.verify(user.password_hash, current_password)
    except (VerificationError, InvalidHashError):
        raise WrongPassword() from None
    check_new_password(new_password)
    user.password_hash = hasher.hash(new_password)
    sessions.revoke_others(user, keep=keep, commit=False)
    if keep is None:
        user.session_token = new_session_token()
    db.session.commit()


def update_profile(user, display_name):
    """Change what others see of the account."""
    user.display_name = display_name.strip()
    db.session.commit()


def set_locale(user, locale):
    """Remember the account's preferred language."""
    user.locale = locale
    db.session.commit()


def grant_role(user, role, granted_by=None):
    """Give the account a role (idempotent); audited, with no actor when the CLI or the demo grants it."""
    role = Role(role)
    if role not in user.roles:
        user.role_rows.append(UserRole(role=role, granted_by_id=granted_by.id if granted_by else None))
        audit.record(granted_by, "user.roles", user, added=[role.value], removed=[])
    db.session.commit()


def revoke_role(user, role, revoked_by=None):
    """Take a role away (idempotent); audited."""
    role = Role(role)
    if role in user.roles:
        user.role_rows = [row for row in user.role_rows if row.role != role]
        audit.record(revoked_by, "user.roles", user, added=[], removed=[role.value])
    db.session.commit()


def set_roles(user, roles, changed_by):
    """Make the account hold exactly these roles; the change is audited."""
    wanted = {Role(r) for r in roles}
    held = user.roles
    for role in wanted - held:
        user.role_rows.append(UserRole(role=role, granted_by_id=changed_by.id))
    user.role_rows = [row for row in user.role_rows if row.role in wanted]
    if wanted != held:
        audit.record(changed_by, "user.roles", user, added=sorted(r.value for r in wanted - held),
                     removed=sorted(r.value for r in held - wanted))
    db.session.commit()


def ensure_user(email, display_name, password, roles=()):
    """Create the account if missing, then make sure it holds the roles and its address counts as confirmed (the
    operator typed it); returns (user, created)."""
    user = find_by_email(email)
    created = user is None
    if created:
        user = register(email, display_name, password, verified=True)
    elif user.email_verified_at is None:
        user.email_verified_at = utcnow()
        db.session.commit()
    for role in roles:
        grant_role(user, role)
    return user, created


def list_users(page=1, per_page=50):
    """Accounts, newest first, for the admin page."""
    total = db.session.scalar(select(func.count(User.id)))
    users = db.session.scalars(
        select(User).order_by(User.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return users, total


def addresses_of(user):
    """The account's address book, newest first."""
    from crowdfund.models import Address

    return db.session.scalars(select(Address).where(Address.user_id == user.id).order_by(Address.id.desc())).all()


def add_address(user, *, name, phone, province, city, district, detail, region="mainland"):
    """Save a shipping address to the account's address book; the same address again (trimmed) is not copied.

    Returns the address and whether it is new.
    """
    from crowdfund.models import Address

    values = dict(name=name.strip(), phone=phone.strip(), province=province.strip(), city=city.strip(),
                  district=district.strip(), detail=detail.strip(), region=region)
    existing = next((a for a in addresses_of(user) if all(getattr(a, k) == v for k, v in values.items())), None)
    if existing is not None:
        return existing, False
    address = Address(user_id=user.id, **values)
    db.session.add(address)
    db.session.commit()
    return address, True


def delete_address(user, address_id):
    """Remove an address from the account's own book (others' addresses are untouchable)."""
    from crowdfund.models import Address

    address = db.session.get(Address, address_id)
    if address is None or address.user_id != user.id:
        return False
    db.session.delete(address)
    db.session.commit()
    return True
