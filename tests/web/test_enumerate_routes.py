"""Every route of the URL map, not a sample: CSRF on every state-changing one, security headers on every answer."""
import pytest

from crowdfund.extensions import csrf
from tests.conftest import csrf_from
from tests.world import world  # noqa: F401 - the seeded demo site, one per module
from tests.world import argument_values, log_in, route_urls, walked_rules

# Only callers that cannot hold our token may post without one, and each proves itself otherwise: a provider's
# notification (its signature), the browser coming back from UnionPay with its signed front notification, a mail client's one-click unsubscribe (a signed token, RFC 8058), and the
# sandbox gateway, which plays Alipay's own server (its app signature).
CSRF_EXEMPT = {
    "crowdfund.blueprints.payments.routes.notify",
    "crowdfund.blueprints.notices.routes.unsubscribe",
    "crowdfund.blueprints.sandbox.routes.gateway",
    "crowdfund.blueprints.sandbox_wechatpay.routes.api",
    "crowdfund.blueprints.payments.routes.return_",
    "crowdfund.blueprints.sandbox_unionpay.routes.front",
    "crowdfund.blueprints.sandbox_unionpay.routes.query",
    "crowdfund.blueprints.sandbox_unionpay.routes.back",
}
HEADERS = {
    "Content-Security-Policy": "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=()",
}


def test_the_csrf_exemptions_are_exactly_the_signed_callers(world):
    assert set(csrf._exempt_views) == CSRF_EXEMPT


@pytest.mark.parametrize("email", ["admin@demo.crowdfund.test", "creator@demo.crowdfund.test", None])
def test_every_post_route_refuses_a_missing_or_foreign_token(world, email):
    client = world.test_client()
    if email:
        log_in(client, email)
    other = world.test_client()
    foreign = None
    with world.app_context():
        values = argument_values(email)
    checked = 0
    for rule, methods in walked_rules(world, methods=("POST",)):
        view = world.view_functions[rule.endpoint]
        if f"{view.__module__}.{view.__name__}" in CSRF_EXEMPT:
            continue
        for url in route_urls(rule, values, limit=1):
            for data, headers in (({}, {}), ({}, {"HX-Request": "true"}), ({"csrf_token": "forged"}, {})):
                response = client.post(url, data=data, headers=headers)
                assert response.status_code == 400, f"POST {url} without a valid token: {response.status_code}"
                checked += 1
            if foreign is None:
                foreign = csrf_from(other.get("/login"))  # a genuine token, of another visitor's session
            response = client.post(url, data={"csrf_token": foreign})
            assert response.status_code == 400, f"POST {url} with another session's token"
    assert checked > 150


@pytest.mark.parametrize("email", [None, "admin@demo.crowdfund.test", "backer1@demo.crowdfund.test"])
def test_every_answer_carries_the_security_headers(world, email):
    """Pages, fragments, redirects, errors, files: each response, whatever its status."""
    client = world.test_client()
    if email:
        log_in(client, email)
    with world.app_context():
        values = argument_values(email)
    checked = 0
    urls = ["/static/css/site.css", "/no-such-page", "/projects/no-such-project"]
    for rule, methods in walked_rules(world, methods=("GET",)):
        urls += route_urls(rule, values, limit=2)
    for url in urls:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            for name, expected in HEADERS.items():
                assert expected in response.headers.get(name, ""), f"GET {url} ({response.status_code}) lacks {name}"
            checked += 1
    response = client.post("/login", data={})
    assert all(name in response.headers for name in HEADERS)
    assert checked > 100
