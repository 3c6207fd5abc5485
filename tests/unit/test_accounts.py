"""Accounts domain: sign-up, credentials, roles."""
import pytest
from argon2 import extract_parameters

from crowdfund import accounts
from crowdfund.models import Role, User


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def test_register_normalises_email_and_records_agreement(ctx):
    user = accounts.register("  Ann@Example.COM ", " Ann ", "correct horse 1")
    assert user.email == "ann@example.com"
    assert user.display_name == "Ann"
    assert user.terms_version and user.privacy_version and user.agreed_at is not None
    with pytest.raises(accounts.EmailTaken):
        accounts.register("ANN@example.com", "Other", "another password")


def test_passwords_are_argon2id_salted_and_strong_enough(ctx):
    a = accounts.register("a@example.com", "A", "same password")
    b = accounts.register("b@example.com", "B", "same password")
    assert a.password_hash != b.password_hash, "same password must hash differently (salt)"
    params = extract_parameters(a.password_hash)
    assert a.password_hash.startswith("$argon2id$")
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2
    assert "same password" not in a.password_hash


def test_authenticate_gives_one_error_for_unknown_email_and_wrong_password(ctx):
    accounts.register("ann@example.com", "Ann", "correct horse 1")
    assert accounts.authenticate("ANN@example.com", "correct horse 1").email == "ann@example.com"
    with pytest.raises(accounts.InvalidCredentials) as wrong_password:
        accounts.authenticate("ann@example.com", "wrong")
    with pytest.raises(accounts.InvalidCredentials) as unknown_email:
        accounts.authenticate("nobody@example.com", "correct horse 1")
    assert type(wrong_password.value) is type(unknown_email.value)


def test_change_password_checks_current_and_rotates_session_token(ctx):
    user = accounts.register("ann@example.com", "Ann", "correct horse 1")
    token = user.session_token
    with pytest.raises(accounts.WrongPassword):
        accounts.change_password(user, "not it", "new password 2")
    assert user.session_token == token
    accounts.change_password(user, "correct horse 1", "new password 2")
    assert user.session_token != token
    assert accounts.authenticate("ann@example.com", "new password 2") == user
    with pytest.raises(accounts.InvalidCredentials):
        accounts.authenticate("ann@example.com", "correct horse 1")


def test_roles_grant_revoke_and_admin_holds_all(ctx):
    user = accounts.register("mod@example.com", "Mod", "correct horse 1")
    assert user.roles == set() and not user.has_role("moderator")
    accounts.grant_role(user, Role.MODERATOR)
    accounts.grant_role(user, "moderator")
    assert user.roles == {Role.MODERATOR}
    assert user.has_role("moderator") and not user.has_role("finance")
    accounts.revoke_role(user, "moderator")
    assert user.roles == set()
    accounts.grant_role(user, "admin")
    assert all(user.has_role(role) for role in Role)


def test_ensure_user_is_idempotent(ctx, app):
    from crowdfund.extensions import db

    first, created = accounts.ensure_user("x@example.com", "X", "correct horse 1", roles=["creator"])
    again, created_again = accounts.ensure_user("x@example.com", "X", "correct horse 1", roles=["creator"])
    assert created and not created_again and first.id == again.id
    assert db.session.query(User).count() == 1
