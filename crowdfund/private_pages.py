"""Pages that show one person's own account, pledges or payments: never stored by a browser, a proxy, htmx's
history cache or our page cache (ASVS 14.3). Decided once, here, for the header and the template alike."""
from functools import wraps

from flask import current_app, has_request_context, request

# Every view of these blueprints is private; a view elsewhere opts in with @private.
PRIVATE_BLUEPRINTS = frozenset({"account", "notices", "pledges", "payments"})


def private(view):
    """Mark one view outside PRIVATE_BLUEPRINTS as private."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        return view(*args, **kwargs)

    wrapped.private_page = True
    return wrapped


def is_private(endpoint):
    """Whether the endpoint's responses must not be stored anywhere."""
    if not endpoint:
        return False
    if endpoint.rpartition(".")[0] in PRIVATE_BLUEPRINTS:
        return True
    view = current_app.view_functions.get(endpoint)
    return bool(getattr(view, "private_page", False))


def private_page():
    """Template global: the page being rendered is private (base.html adds hx-history="false")."""
    return has_request_context() and is_private(request.endpoint)


def add_no_store(response):
    """After-request hook: Cache-Control: no-store on every response of a private page."""
    if is_private(request.endpoint):
        response.headers["Cache-Control"] = "no-store"
    return response
