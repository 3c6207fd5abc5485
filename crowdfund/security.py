"""Role checks, safe redirects and the security headers every response carries."""
import re
from functools import wraps
from urllib.parse import urljoin, urlsplit

from flask import abort, current_app, request, url_for
from flask_login import current_user
from werkzeug.urls import iri_to_uri

from crowdfund.models import Role

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; "
    # Project videos may be embedded from the allowlisted players only (crowdfund.media.EMBED_ORIGINS).
    "frame-src https://player.bilibili.com https://player.youku.com https://v.qq.com"
)


def role_required(*roles):
    """Let the view run only for a signed-in account holding one of the roles (any, if none given)."""
    wanted = [Role(r) for r in roles]

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from crowdfund.extensions import login_manager

                return login_manager.unauthorized()
            if wanted and not any(current_user.has_role(r) for r in wanted):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = tuple(wanted)
        return wrapped

    return decorator


login_required = role_required()


def email_verified_required(purpose, back_to=None):
    """Let the view run only for an account whose e-mail address is confirmed; others get the page (or, for htmx,
    the fragment) that explains why and offers a new link. `back_to(**view_args)` is where the link leads back
    to (default: this URL for a GET, its path for a POST)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if current_user.is_authenticated and current_user.email_verified_at is None:
                from crowdfund.blueprints.auth.routes import verification_needed

                if back_to is not None:
                    next_url = back_to(**kwargs)
                else:
                    next_url = request.full_path.rstrip("?") if request.method == "GET" else request.path
                return verification_needed(str(purpose), next_url)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def account_or_address():
    """Rate-limit key for posting: per account (many phones share one address behind carrier NAT), else per
    client address."""
    from flask_limiter.util import get_remote_address

    return f"account:{current_user.id}" if current_user.is_authenticated else get_remote_address()


def safe_next(target, default=None):
    """A path on this site to go to after login, percent-encoded (`/search?q=台灯` → `/search?q=%E5%8F%B0%E7%81%AF`);
    anything pointing elsewhere becomes the default."""
    default = default or url_for("public.index")
    if not target:
        return default
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(urljoin(request.host_url, target))
    host = urlsplit(request.host_url)
    if parts.scheme not in ("http", "https") or parts.netloc != host.netloc:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    fragment = parts.fragment if re.fullmatch(r"[\w-]{1,64}", parts.fragment) else ""  # e.g. back to #comments
    # Checked as text, then encoded: a Location header carries ASCII only (iri_to_uri keeps %-escapes as they are).
    return iri_to_uri(parts.path + (f"?{parts.query}" if parts.query else "") + (f"#{fragment}" if fragment else ""))


def content_security_policy():
    """The CSP; forms may post here only, and to (or be redirected on to) the enabled payment providers' pages:
    the pledge form's 303, UnionPay's front-end form. Images and videos may also come from the uploads' CDN."""
    from crowdfund.payments import enabled_providers, provider_class

    origins = []
    for name in enabled_providers():
        for address in provider_class(name).page_addresses(current_app.config):
            parts = urlsplit(address or "")
            origin = f"{parts.scheme}://{parts.netloc}"
            if parts.scheme == "https" and origin not in origins:
                origins.append(origin)
    policy = f"{CONTENT_SECURITY_POLICY}; form-action {' '.join(["'self'", *origins])}"
    cdn = urlsplit(current_app.config.get("S3_PUBLIC_BASE_URL") or "")
    if cdn.netloc:  # public images and videos come from the CDN (crowdfund.media.cdn_url)
        policy += f"; img-src 'self' {cdn.scheme}://{cdn.netloc}; media-src 'self' {cdn.scheme}://{cdn.netloc}"
    return policy


def add_security_headers(response):
    """CSP without inline script, nosniff, referrer policy, framing denied, HSTS under https."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


class SecureCookiesOverHttps:
    """WSGI middleware: every cookie set on an https request is marked Secure.

    It sits outside Flask so it also sees the session and remember-me cookies, which are
    written after the after-request hooks have run.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status, headers, exc_info=None):
            headers = [
                (name, value + "; Secure")
                if name.lower() == "set-cookie" and "; secure" not in value.lower() else (name, value)
                for name, value in headers
            ]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, secure_start_response)
