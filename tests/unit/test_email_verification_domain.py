"""The confirmation token and the non-enumerating sign-up, called as domain functions."""
from datetime import datetime, timedelta, timezone

import pytest

from crowdfund import accounts, email_verification
from crowdfund.email_verification import LinkExpired, LinkInvalid, make_token, read_token
from crowdfund.extensions import db
from crowdfund.models import User
from tests.conftest import mailed_link, outbox

SIGNED = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)  # a fixed clock: the tests pass whatever today is


def test_a_token_works_for_exactly_the_configured_age(app, make_user):
    uid = make_user(email="ann@example.com", verified=False)
    with app.app_context():
        user = db.session.get(User, uid)
        token = make_token(user, now=SIGNED)
        assert read_token(token, now=SIGNED).id == uid
        assert read_token(token, now=SIGNED + timedelta(hours=48)).id == uid
        with pytest.raises(LinkExpired):
            read_token(token, now=SIGNED + timedelta(hours=48, seconds=1))
        app.config["EMAIL_VERIFY_MAX_AGE"] = 3600
        with pytest.raises(LinkExpired):
            read_token(token, now=SIGNED + timedelta(hours=1, seconds=1))


def test_a_token_names_the_account_and_its_current_address(app, make_user):
    uid = make_user(email="ann@example.com", verified=False)
    other = make_user(email="bob@example.com", verified=False)
    with app.app_context():
        user = db.session.get(User, uid)
        token = make_token(user, now=SIGNED)
        # Bob's payload under Ann's signature
        signature = token.partition(".")[2]
        with pytest.raises(LinkInvalid):
            read_token(make_token(db.session.get(User, other), now=SIGNED).partition(".")[0] + "." + signature,
                       now=SIGNED)
        with pytest.raises(LinkInvalid):
            read_token("not-a-token", now=SIGNED)
        user.email = "ann@elsewhere.example.com"
        db.session.commit()
        with pytest.raises(LinkInvalid):
            read_token(token, now=SIGNED)
        assert read_token(make_token(user, now=SIGNED), now=SIGNED).id == uid


def test_another_secret_key_or_salt_makes_an_invalid_token(app, make_user):
    from itsdangerous import URLSafeTimedSerializer

    uid = make_user(email="ann@example.com", verified=False)
    with app.app_context():
        payload = {"u": uid, "e": "ann@example.com"}
        for secret, salt in (("another secret", email_verification.SALT), (app.config["SECRET_KEY"], "unsubscribe")):
            forged = URLSafeTimedSerializer(secret, salt=salt).dumps(payload)
            with pytest.raises(LinkInvalid):
                read_token(forged)
        genuine = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=email_verification.SALT).dumps(payload)
        assert read_token(genuine).id == uid
        for odd in ({"u": "1", "e": "ann@example.com"}, {"u": 2**40, "e": "x"}, ["u"], {"u": uid}):
            with pytest.raises(LinkInvalid):
                read_token(URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=email_verification.SALT).dumps(odd))


def test_confirming_is_idempotent(app, make_user):
    uid = make_user(email="ann@example.com", verified=False)
    with app.app_context():
        user = db.session.get(User, uid)
        assert email_verification.confirm(user, now=SIGNED) is True
        assert email_verification.confirm(user, now=SIGNED + timedelta(days=1)) is False
        assert user.email_verified_at == SIGNED and email_verification.is_verified(user)


def test_sign_up_makes_one_unconfirmed_account_and_leaves_a_registered_one_alone(app, make_user):
    existing = make_user(email="taken@example.com", display_name="Owner")
    with app.app_context():
        before = db.session.get(User, existing).password_hash
        assert email_verification.sign_up("New@Example.com", "New", "correct horse 1") is None
        assert email_verification.sign_up("taken@example.com", "Intruder", "another horse 2") is None
        new = accounts.find_by_email("new@example.com")
        assert new is not None and new.email_verified_at is None
        owner = db.session.get(User, existing)
        assert owner.password_hash == before and owner.display_name == "Owner"
        with pytest.raises(accounts.WeakPassword):
            email_verification.sign_up("weak@example.com", "Weak", "password")
        assert accounts.find_by_email("weak@example.com") is None
    subjects = {str(m["To"]).split("<")[-1].rstrip(">"): m["Subject"] for m in outbox(app)}
    assert subjects == {"new@example.com": "确认邮箱地址", "taken@example.com": "有人尝试用你的邮箱地址注册"}


def test_the_mail_is_in_the_accounts_language(app, make_user):
    uid = make_user(email="ann@example.com", verified=False)
    with app.app_context():
        user = db.session.get(User, uid)
        user.locale = "en"
        db.session.commit()
        assert email_verification.resend(user) == "sent"
    [message] = outbox(app)
    assert message["Subject"] == "Confirm your e-mail address"
    assert "The link works for 48 hours." in message.get_body(("plain",)).get_content()


def test_demo_and_operator_accounts_are_confirmed(app):
    with app.app_context():
        user, created = accounts.ensure_user("admin@example.com", "Admin", "correct horse 1", roles=["admin"])
        assert created and user.email_verified_at is not None
        plain = accounts.register("later@example.com", "Later", "correct horse 1")
        assert plain.email_verified_at is None
        again, created = accounts.ensure_user("later@example.com", "Later", "correct horse 1")
        assert not created and again.email_verified_at is not None


def test_an_internationalised_address_gets_its_link(app):
    with app.app_context():
        email_verification.sign_up("maker-星空@example.com", "星空工作室", "correct horse 1")
    [message] = outbox(app, "maker-星空@example.com")
    assert str(message["To"]) == "星空工作室 <maker-星空@example.com>"
    token = mailed_link(app, "maker-星空@example.com").removeprefix("/verify-email/")
    with app.app_context():
        assert read_token(token).email == "maker-星空@example.com"


def test_the_demo_accounts_are_confirmed(app):
    from crowdfund.demo import DEMO_BACKERS, DEMO_USERS, _users  # the accounts part of seed_demo, without projects

    with app.app_context():
        _users()
        emails = [row[0] for row in DEMO_USERS] + [row[0] for row in DEMO_BACKERS]
        users = db.session.scalars(db.select(User).where(User.email.in_(emails))).all()
        assert len(users) == len(emails) and all(user.email_verified_at is not None for user in users)
