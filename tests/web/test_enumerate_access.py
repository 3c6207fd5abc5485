"""Object routes × roles: whoever is not the object's owner (or does not hold the staff role) is refused.

Every route of the URL map that takes arguments is classified below as public, owned (by whom, in the demo
site) or staff-only (its `required_roles`); a new route that is none of these fails the first test until it
is classified, so access control is decided for every route, not for a sample.
"""
import pytest

from crowdfund.models import Role
from tests.conftest import csrf_from
from tests.world import world  # noqa: F401 - the seeded demo site, one per module
from tests.world import argument_values, log_in, route_urls, walked_rules

CREATOR, MAKER = "creator@demo.crowdfund.test", "maker@demo.crowdfund.test"
BACKER, BACKER1 = "backer@demo.crowdfund.test", "backer1@demo.crowdfund.test"
STAFF = {Role.MODERATOR: "moderator@demo.crowdfund.test", Role.FINANCE: "finance@demo.crowdfund.test",
         Role.ADMIN: "admin@demo.crowdfund.test"}

# Routes anyone may use on any object (reading public pages; commenting, following, reporting as oneself).
PUBLIC = {
    "projects.show", "projects.category", "projects.creator", "projects.backers", "projects.funds",
    "comments.index", "comments.show", "comments.create", "comments.reply", "comments.report", "projects.report",
    "updates.index", "updates.show", "updates.feed", "updates.follow", "updates.unfollow", "updates.remind",
    "updates.stop_reminder", "pledges.back", "notices.unsubscribe", "notices.project_email",
    "legal.document", "legal.version",
    "sandbox.cashier", "sandbox_wechatpay.cashier", "sandbox_unionpay.cashier",
    # The sandbox WeChat Pay's API: a merchant's request proves itself by its signature.
    "sandbox_wechatpay.api",
    # A provider's notification and the browser coming back from it prove themselves by signature.
    "payments.notify", "payments.return_",
    # Sharing a public project: the share page and the QR image of its link.
    "sharing.show", "sharing.qr",
    # A mailed confirmation link is authenticated by its signature, not by who opens it.
    "auth.verify_email",
    # So is a mailed password-reset link.
    "auth.reset_password",
}
# Routes on one account's own objects, with the demo account that owns the objects the test fills in.
OWNED = {
    **dict.fromkeys(["creator.cancel", "creator.delete_draft", "creator.deliveries", "creator.delivery_csv",
                     "creator.analytics_page", "creator.analytics_csv", "creator.backers_csv",
                     "creator.ship", "creator.import_tracking", "creator.explain", "creator.money",
                     "wizard.remove_document", "wizard.edit", "wizard.submit", "wizard.add_tier",
                     "wizard.change_tier", "updates.create", "updates.edit"], CREATOR),
    **dict.fromkeys(["pledges.show", "pledges.again", "pledges.cancel", "pledges.change", "pledges.claim",
                     "pledges.pay", "pledges.qr", "pledges.rating", "pledges.received", "comments.edit",
                     "comments.delete"], BACKER1),
    **dict.fromkeys(["messages.show", "messages.block", "messages.unblock", "messages.report"], BACKER),
    **dict.fromkeys(["notices.mark_read", "pledges.delete_address", "account.download", "account.revoke_session"],
                    BACKER1),
    # The project's creator curates its FAQ.
    **dict.fromkeys(["comments.promote", "comments.unpromote"], CREATOR),
}
# Owned routes a staff role may use on anyone's object too (admins hold every role).
STAFF_MAY = {"comments.delete": Role.MODERATOR, "comments.promote": Role.MODERATOR,
             "comments.unpromote": Role.MODERATOR}
# Owned routes even the owner may not use on the demo's objects: comments are editable for a short while only.
OWNER_TOO_LATE = {"comments.edit"}
REFUSED = (401, 403, 404)


def staff_roles(world, rule):
    return getattr(world.view_functions[rule.endpoint], "required_roles", ())


def test_every_route_with_arguments_is_classified(world):
    unclassified = [rule.endpoint for rule, _ in walked_rules(world)
                    if rule.arguments and rule.endpoint not in PUBLIC | set(OWNED) and not staff_roles(world, rule)]
    assert unclassified == []


def clients(world):
    made = {}

    def get(email):
        if email not in made:
            made[email] = world.test_client()
            if email:
                log_in(made[email], email)
        return made[email]

    return get


def refused(response, anonymous):
    if anonymous and response.status_code in (302, 303):
        return "/login" in response.headers["Location"]
    return response.status_code in REFUSED


def assert_all_refused(client_for, url, methods, emails):
    """Each of these accounts (None: anonymous) is refused the URL with each method; returns the tries."""
    tries = 0
    for email in emails:
        client = client_for(email)
        for method in methods:
            data = {"csrf_token": csrf_from(client.get("/"))} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert refused(response, email is None), f"{email or 'anonymous'} {method} {url}: {response.status_code}"
            tries += 1
    return tries


def test_owned_objects_refuse_everyone_else(world):
    client_for = clients(world)
    checked = owner_got_in = 0
    for rule, methods in walked_rules(world):
        owner = OWNED.get(rule.endpoint)
        if owner is None:
            continue
        with world.app_context():
            values = argument_values(owner)
        allowed = STAFF_MAY.get(rule.endpoint)
        others = [None, BACKER1 if owner != BACKER1 else BACKER, MAKER,
                  *[email for role, email in STAFF.items() if allowed is None or role not in (allowed, Role.ADMIN)]]
        for url in route_urls(rule, values, limit=1):
            if "GET" in methods and rule.endpoint not in OWNER_TOO_LATE:
                # (arguments are filled independently, so an update of another of the owner's projects is a 404)
                owner_got_in += client_for(owner).get(url).status_code not in REFUSED
            checked += assert_all_refused(client_for, url, methods, others)
    assert checked > 150 and owner_got_in >= 8  # the refusals are about who asks, not about broken URLs


def test_staff_routes_refuse_other_roles(world):
    client_for = clients(world)
    checked = 0
    for rule, methods in walked_rules(world):
        roles = staff_roles(world, rule)
        if not roles:
            continue
        with world.app_context():
            values = argument_values(STAFF[Role.ADMIN])
        outsiders = [None, BACKER, CREATOR] + [email for role, email in STAFF.items()
                                               if role not in roles and role != Role.ADMIN]
        for url in route_urls(rule, values, limit=1) if rule.arguments else [rule.rule]:
            checked += assert_all_refused(client_for, url, methods, outsiders)
            if "GET" in methods:
                holder = STAFF.get(roles[0], STAFF[Role.ADMIN])
                assert client_for(holder).get(url).status_code == 200, f"{holder} cannot GET {url}"
    assert checked > 50
