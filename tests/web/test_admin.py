"""Role checks and the administrators' account page."""
import re

import pytest

from crowdfund.extensions import db
from crowdfund.models import Role, User
from crowdfund.security import role_required

PUBLIC_ENDPOINTS = {"static", "assets.show", "public.index", "public.set_locale", "public.healthz", "public.stats",
                    # Every version of every legal document is public (the footer links them).
                    "legal.document", "legal.version",
                    "auth.signup", "auth.login", "auth.logout", "projects.show", "projects.category",
                    "projects.search", "projects.funds", "projects.creator", "media.show", "payments.notify",
                    "payments.return_",
                    "sandbox.gateway", "sandbox.cashier", "sandbox_wechatpay.api", "sandbox_wechatpay.cashier",
                    "sandbox_unionpay.front", "sandbox_unionpay.query",
                    "sandbox_unionpay.back", "sandbox_unionpay.cashier",
                    # Reading a project's conversation is public; the badge answers signed-out visitors with
                    # nothing; unsubscribe links are authenticated by their signature, not a session.
                    "projects.backers", "comments.index", "comments.show", "updates.index", "updates.show",
                    "updates.feed", "notices.badge", "notices.unsubscribe",
                    # A personal-data download answers 404 to everyone but its owner, signed in or not.
                    "account.download",
                    # After signing up (not signed in yet), and the mailed confirmation link: its signature is the key.
                    "auth.signup_sent", "auth.verify_email",
                    # Phone sign-in is for the signed-out; the development SMS inbox exists only with SMS_PROVIDER=dev
                    # outside production.
                    "auth.phone_login", "auth.phone_login_send", "auth.phone_login_code", "devsms.inbox",
                    # Forgot password is for the signed-out; the mailed reset link's signature is the key.
                    "auth.forgot_password", "auth.forgot_password_sent", "auth.reset_password",
                    # Sharing a public project: its share page and the QR image of the link.
                    "sharing.show", "sharing.qr"}


def test_every_other_view_goes_through_the_role_check_decorator(app):
    protected = {name for name in app.view_functions if name not in PUBLIC_ENDPOINTS}
    assert {"account.profile", "account.password", "admin.users", "admin.update_roles"} <= protected
    wrapped_code = role_required()(lambda: None).__code__
    for name in protected:
        view = app.view_functions[name]
        assert view.__code__ is wrapped_code, f"{name} is not protected by role_required"
        assert hasattr(view, "required_roles")


def test_anonymous_is_sent_to_login_with_next(client):
    for path in ["/account/", "/account/password", "/admin/users"]:
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/login?next=")


@pytest.mark.parametrize("roles, status", [((), 403), (("moderator",), 403), (("finance",), 403),
                                           (("creator",), 403), (("admin",), 200)])
def test_admin_pages_need_the_admin_role(client, login_as, roles, status):
    login_as(*roles)
    response = client.get("/admin/users")
    assert response.status_code == status
    if status == 403:
        assert "你的账户没有执行该操作的权限。" in response.get_data(as_text=True)


def test_admin_grants_roles_plain_and_htmx(app, client, forms, login_as, make_user):
    login_as("admin")
    target = make_user(email="mod@example.com")
    response = forms.post(f"/admin/users/{target}/roles", {f"u{target}-roles": ["moderator", "finance"]},
                          form_path="/admin/users")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(User, target).roles == {Role.MODERATOR, Role.FINANCE}
    response = forms.post(f"/admin/users/{target}/roles", {f"u{target}-roles": ["creator"]}, form_path="/admin/users",
                          htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.strip().startswith(f'<form id="user_row-{target}"') and "已保存。" in body
    checked = set(re.findall(r'<input[^>]*\bchecked\b[^>]*value="(\w+)"', body))
    assert checked == {"creator"}
    assert f'id="u{target}-roles-0"' in body, "checkbox ids are unique per account"
    with app.app_context():
        assert db.session.get(User, target).roles == {Role.CREATOR}


def test_admin_cannot_drop_their_own_admin_role(app, forms, login_as):
    email = login_as("admin")
    with app.app_context():
        me = User.query.filter_by(email=email).one().id
    response = forms.post(f"/admin/users/{me}/roles", {f"u{me}-roles": ["moderator"]}, form_path="/admin/users", htmx=True)
    assert response.status_code == 422 and "不能移除自己的管理员角色。" in response.get_data(as_text=True)
    plain = forms.post(f"/admin/users/{me}/roles", {f"u{me}-roles": ["moderator"]}, form_path="/admin/users")
    assert plain.status_code == 303 and plain.location == "/admin/users"
    with app.app_context():
        assert Role.ADMIN in db.session.get(User, me).roles


def test_non_admin_cannot_post_role_changes(app, forms, login_as, make_user):
    login_as("moderator")
    target = make_user(email="x@example.com")
    response = forms.post(f"/admin/users/{target}/roles", {f"u{target}-roles": ["admin"]}, form_path="/account/")
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(User, target).roles == set()


def test_unknown_account_is_404(forms, login_as):
    login_as("admin")
    assert forms.post("/admin/users/99999/roles", {"roles": []}, form_path="/admin/users").status_code == 404
