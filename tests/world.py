"""A whole demo site for the enumerating tests: every route of the URL map, filled in with real objects.

The enumerating tests (tests/web/test_enumerate_*.py) walk `app.url_map`, so a new route is covered the day it
is added. `route_urls(app, rule, email)` fills a rule's arguments with objects the account owns (or any), and
`forms_on(html)` reads the forms a page offers, so bad input and XSS can go through each of them.
"""
import re
import shutil
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from crowdfund import create_app
from crowdfund.extensions import db

DEMO_PASSWORDS = {
    "admin@demo.crowdfund.test": "demo-admin-pass",
    "moderator@demo.crowdfund.test": "demo-moderator-pass",
    "finance@demo.crowdfund.test": "demo-finance-pass",
    "creator@demo.crowdfund.test": "demo-creator-pass",
    "maker@demo.crowdfund.test": "demo-maker-pass",
    "backer@demo.crowdfund.test": "demo-backer-pass",
    "backer1@demo.crowdfund.test": "demo-backer-pass",
}
# Routes no enumerating test posts to: logging out ends the walk; static files and assets have no arguments
# an account owns.
NOT_WALKED = {"auth.logout", "static", "assets.show", "media.show"}
NO_LIMITS = {f"RATELIMIT_{name}": "100000 per minute" for name in
             ("LOGIN", "SIGNUP", "SIGNUP_ATTEMPTS", "LOGIN_ACCOUNT", "ACCOUNT_EMAIL", "VERIFY_RESEND", "PLEDGE",
              "COMMENT", "MESSAGE", "NOTIFY", "SMS", "SMS_IP", "PASSWORD_RESET", "REPORT")}


def build_world(database_url, instance, sandbox_key_dir, **overrides):
    """An app on the test database seeded with the demo site (accounts of every role, projects in every state)."""
    from crowdfund.demo import seed_demo
    from tests.conftest import app_config

    if not (instance / "payments").exists():
        shutil.copytree(sandbox_key_dir, instance / "payments")
    app = create_app(app_config(database_url, instance, **{**NO_LIMITS, **overrides}))
    with app.app_context():
        seed_demo()
    return app


@pytest.fixture(scope="module")
def world(database_url, tmp_path_factory, sandbox_key_dir):
    """The seeded demo site, built once per test module and emptied after it."""
    from tests.conftest import wipe

    app = build_world(database_url, tmp_path_factory.mktemp("world"), sandbox_key_dir)
    yield app
    wipe(app)


def log_in(client, email):
    """Log the test client in as a demo account."""
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/login"))
    response = client.post("/login", data={"csrf_token": token, "email": email, "password": DEMO_PASSWORDS[email]})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def _ids(statement, limit=3):
    return [str(v) for v in db.session.scalars(statement.limit(limit)).all()]


def argument_values(email):
    """For each URL argument name, a few real values, the account's own objects first (call in an app context)."""
    from crowdfund.legal import DOCUMENTS
    from crowdfund.models import DataExport, LegalDocument, LoginSession, RiskAlert
    from crowdfund.models import (Address, Comment, CreatorVerification, FaqEntry, Message, MessageThread,
                                  Notification, Pledge, Project, ProjectDocument, ProjectUpdate, Refund, Report,
                                  RewardTier, SandboxTrade, User, Withdrawal)
    from crowdfund.projects import STEPS
    from crowdfund.email_verification import make_token
    from crowdfund.notifications import unsubscribe_token

    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    uid = user.id if user else None

    def own_first(column, condition, limit=3):
        mine = _ids(select(column).where(condition).order_by(column), limit) if uid else []
        return mine + [v for v in _ids(select(column).order_by(column.desc()), limit) if v not in mine]

    slugs = []
    if uid:
        for status in db.session.scalars(select(Project.status).where(Project.creator_id == uid).distinct()):
            slugs += _ids(select(Project.slug).where(Project.creator_id == uid, Project.status == status), 1)
    slugs += [s for s in _ids(select(Project.slug).order_by(Project.id), 2) if s not in slugs]
    thread = db.session.scalar(select(MessageThread).where(
        (MessageThread.member_id == uid) | (MessageThread.creator_id == uid)).limit(1)) if uid else None
    thread = thread or db.session.scalar(select(MessageThread).limit(1))
    return {
        "slug": slugs,
        "step": list(STEPS),
        "pledge_id": own_first(Pledge.id, Pledge.backer_id == uid),
        "comment_id": own_first(Comment.id, Comment.author_id == uid),
        "entry_id": _ids(select(FaqEntry.id)),
        "update_id": _ids(select(ProjectUpdate.id)),
        "thread_id": [str(thread.id)] if thread else ["1"],
        "message_id": _ids(select(Message.id).where(Message.thread_id == thread.id)) if thread else ["1"],
        "tier_id": own_first(RewardTier.id, RewardTier.project_id.in_(
            select(Project.id).where(Project.creator_id == uid))),
        "document_id": _ids(select(ProjectDocument.id)) or ["1"],
        "address_id": own_first(Address.id, Address.user_id == uid) or ["1"],
        "notification_id": own_first(Notification.id, Notification.user_id == uid) or ["1"],
        "project_id": _ids(select(Project.id)),
        "user_id": ([str(uid)] if uid else []) + _ids(select(User.id).order_by(User.id.desc()), 2),
        "report_id": _ids(select(Report.id)) or ["1"],
        "verification_id": _ids(select(CreatorVerification.id)) or ["1"],
        "withdrawal_id": _ids(select(Withdrawal.id)) or ["1"],
        "refund_id": _ids(select(Refund.id)) or ["1"],
        "trade_no": _ids(select(SandboxTrade.trade_no)) or ["1"],
        # An unsubscribe token, then a confirmation link's (each route's other token is refused as not its own; the
        # password-reset route refuses both). No valid reset token here: the bad-input walk posts one value to every
        # field, password and repeat alike, and "999…" would become the demo account's password mid-walk.
        # tests/web/test_password_reset.py covers the valid link.
        "token": [unsubscribe_token(uid or 1, "update")] + ([make_token(user)] if user else []),
        "document": list(DOCUMENTS),
        "version": _ids(select(LegalDocument.version).order_by(LegalDocument.id)) or ["1"],
        "export_id": _ids(select(DataExport.id)) or ["1"],
        "session_id": own_first(LoginSession.id, LoginSession.user_id == uid) or ["1"],
        "alert_id": _ids(select(RiskAlert.id)) or ["1"],
        "provider": ["alipay", "wechatpay", "unionpay", "nosuchpay"],
    }


def route_urls(rule, values, limit=4):
    """Up to `limit` URLs for the rule with its arguments filled from `values` (varying one argument at a time)."""
    names = sorted(rule.arguments)
    if any(name not in values or not values[name] for name in names):
        return []
    base = {name: values[name][0] for name in names}
    combos = [base]
    for name in names:
        for value in values[name][1:]:
            combos.append({**base, name: value})
    urls = []
    for combo in combos:
        url = build(rule, combo)
        if url not in urls:
            urls.append(url)
    return urls[:limit]


def build(rule, arguments):
    """The path of a rule with these (string) arguments, percent-encoded like a browser would send it."""
    from urllib.parse import quote

    path = rule.rule
    for name, value in arguments.items():
        path = re.sub(r"<(?:[^:<>]+:)?%s>" % re.escape(name), quote(str(value), safe=""), path)
    return path


def walked_rules(app, methods=("GET", "POST")):
    """Every rule of the URL map the enumerating tests visit, with the methods it answers."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in NOT_WALKED:
            continue
        wanted = [m for m in methods if m in rule.methods]
        if wanted:
            yield rule, wanted


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"method": (attrs.get("method") or "get").lower(), "action": attrs.get("action") or "",
                             "fields": {}, "enctype": attrs.get("enctype") or ""}
            self.forms.append(self._current)
        elif tag in ("input", "textarea", "select", "button") and self._current is not None and attrs.get("name"):
            if attrs.get("type") in ("submit", "image") or tag == "button":
                self._current["fields"].setdefault(attrs["name"], attrs.get("value") or "")
            elif attrs.get("type") in ("checkbox", "radio"):
                self._current["fields"].setdefault(attrs["name"], attrs.get("value") or "y")
            else:
                self._current["fields"][attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def forms_on(html):
    """The forms on a page: method, action, enctype and {field name: first value}."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms
