"""Legal documents (SPEC 5.1): versions published in the database, and the consents people give to them.

The database is the source of truth. Version 1 of each document is seeded by migration 0015 from
crowdfund/data/legal/<key>.<zh|en>.md; administrators publish later versions (append-only, audited).
A person accepts the user agreement and the privacy policy at sign-up, the platform's risk disclosure
and the project's own one at each pledge, and the creator rules when sending a project to review.
After a new version of a document they accepted, `needs_consent` names it until they accept again.

The files are what a fresh database starts from (labelled INITIAL_VERSIONS): a change of wording for a running
site is published as a new version from /admin/legal, never by editing the files.
"""
import functools
import hashlib
import re
from pathlib import Path

from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, select

from crowdfund import audit
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import Consent, LegalDocument
from crowdfund.models.base import utcnow
from crowdfund.sanitize import clean_html

DATA = Path(__file__).parent / "data" / "legal"
# Every document, in the order the footer lists them, with the name used wherever no version is at hand.
DOCUMENTS = {
    "terms": _l("User agreement"),
    "privacy": _l("Privacy policy"),
    "risk": _l("Risk disclosure"),
    "creator_rules": _l("Project rules"),
}
# What every account accepts when it is created: a missing acceptance of these is always asked for.
SIGNUP = ("terms", "privacy")
# Accepted with each pledge (with the project's own risk text) and with each launch.
PLEDGE = ("terms", "privacy", "risk")
LAUNCH = ("terms", "privacy", "creator_rules")
PROJECT_RISK = "project_risk"
INITIAL_VERSIONS = {"terms": "2026-11-26", "privacy": "2026-12-04", "risk": "2026-12-03",
                    "creator_rules": "2026-12-03"}
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")


class LegalError(RuleError):
    """A version that cannot be published; `code` says why (version_format, version_taken, unknown_document)."""


class AppendOnly(Exception):
    """Published versions are never updated or deleted."""


@event.listens_for(LegalDocument, "before_update")
@event.listens_for(LegalDocument, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise AppendOnly("published legal documents are append-only")


def render_markdown(source):
    """A document's Markdown as clean HTML (the site's one sanitizer)."""
    import markdown as md

    return clean_html(md.markdown(source or "", extensions=["extra", "sane_lists"], output_format="html"))


def _split(text):
    """A document file's first line is its title ("# 用户协议"), the rest its body."""
    first, _, rest = text.strip().partition("\n")
    return first.lstrip("#").strip(), rest.strip() + "\n"


def initial_documents():
    """Version 1 of every document, read from crowdfund/data/legal, as rows for the legal_documents table."""
    return [dict(row) for row in _initial_documents()]


@functools.cache
def _initial_documents():
    # The files are part of the release: read and render them once per process (each test wipe seeds them).
    rows = []
    for key in DOCUMENTS:
        title_zh, body_zh = _split((DATA / f"{key}.zh.md").read_text(encoding="utf-8"))
        title_en, body_en = _split((DATA / f"{key}.en.md").read_text(encoding="utf-8"))
        rows.append(dict(key=key, version=INITIAL_VERSIONS[key], title_zh=title_zh, title_en=title_en,
                         body_zh=body_zh, body_en=body_en, body_zh_html=render_markdown(body_zh),
                         body_en_html=render_markdown(body_en)))
    return tuple(rows)


def seed_documents(now=None):
    """Insert version 1 of every document that has no version yet (the migration does this; so does a test wipe)."""
    present = set(db.session.scalars(select(LegalDocument.key).distinct()))
    for row in initial_documents():
        if row["key"] not in present:
            db.session.add(LegalDocument(**row, published_at=now or utcnow()))
    db.session.commit()


def current(key):
    """The newest published version of a document, or None."""
    return db.session.scalar(select(LegalDocument).where(LegalDocument.key == key)
                             .order_by(LegalDocument.id.desc()).limit(1))


def current_versions(keys=None):
    """{key: version label} of the newest version of each document."""
    return {key: doc.version for key in (keys or DOCUMENTS) if (doc := current(key)) is not None}


def history(key):
    """Every version of a document, newest first."""
    return db.session.scalars(select(LegalDocument).where(LegalDocument.key == key)
                              .order_by(LegalDocument.id.desc())).all()


def version(key, label):
    """One version of a document, or None."""
    return db.session.scalar(select(LegalDocument).where(LegalDocument.key == key, LegalDocument.version == label))


def publish(actor, key, label, *, title_zh, body_zh, title_en, body_en, now=None):
    """Publish a new version of a document (never touching older ones), audited; returns it. Commits."""
    label = (label or "").strip()
    if key not in DOCUMENTS:
        raise LegalError("unknown_document")
    if not VERSION_RE.fullmatch(label):
        raise LegalError("version_format")
    if version(key, label) is not None:
        raise LegalError("version_taken")
    doc = LegalDocument(key=key, version=label, title_zh=title_zh.strip(), title_en=title_en.strip(),
                        body_zh=body_zh, body_en=body_en, body_zh_html=render_markdown(body_zh),
                        body_en_html=render_markdown(body_en), published_at=now or utcnow(),
                        published_by_id=actor.id if actor else None)
    db.session.add(doc)
    db.session.flush()
    audit.record(actor, "legal.publish", doc, document=key, version=label)
    db.session.commit()
    return doc


def _client_address(address):
    if address is None and has_request_context():
        return request.remote_addr
    return address


def _hash_ip(address):
    from crowdfund.sessions import hash_ip

    return hash_ip(_client_address(address))


def record(user, keys, *, pledge=None, project=None, address=None, now=None):
    """Add consent rows for the current versions of these documents (the caller commits); returns them."""
    now, ip_hash = now or utcnow(), _hash_ip(address)
    rows = []
    for key, label in current_versions(keys).items():
        rows.append(Consent(user_id=user.id, document_key=key, version=label, accepted_at=now, ip_hash=ip_hash,
                            pledge_id=pledge.id if pledge else None, project_id=project.id if project else None))
    db.session.add_all(rows)
    return rows


def accept(user, keys, *, project=None, address=None, now=None):
    """`user` accepts the current versions of these documents (with the project they launch, if any). Commits."""
    rows = record(user, keys, project=project, address=address, now=now)
    db.session.commit()
    return rows


def project_risk_version(project):
    """A version for a project's own risk disclosure: the first 12 hex digits of the SHA-256 of its text."""
    return hashlib.sha256((project.risk_disclosure or "").encode()).hexdigest()[:12]


def record_pledge(user, pledge, project, *, address=None, now=None):
    """The pledge's risk checkbox: the platform's risk disclosure and the project's own, with the pledge id.

    The caller commits (pledging.start, in the pledge's own transaction)."""
    now = now or utcnow()
    rows = record(user, ("risk",), pledge=pledge, project=project, address=address, now=now)
    own = Consent(user_id=user.id, document_key=PROJECT_RISK, version=project_risk_version(project), accepted_at=now,
                  ip_hash=_hash_ip(address), pledge_id=pledge.id, project_id=project.id)
    db.session.add(own)
    return rows + [own]


def accepted_versions(user, keys=None):
    """{key: set of versions} the user has accepted."""
    query = select(Consent.document_key, Consent.version).where(Consent.user_id == user.id).distinct()
    if keys:
        query = query.where(Consent.document_key.in_(keys))
    accepted = {}
    for key, label in db.session.execute(query):
        accepted.setdefault(key, set()).add(label)
    return accepted


def needs_consent(user, keys):
    """The current versions (LegalDocument rows) among `keys` the user has to accept before going on.

    A document is due when the user accepted an older version of it and not the current one, or when it is
    one every account accepts at sign-up and the account has not. A document never accepted otherwise is
    taken by the form the user is on (the pledge's risk checkbox, the launch's rules checkbox).
    """
    accepted = accepted_versions(user, keys)
    due = []
    for key in keys:
        doc = current(key)
        if doc is None or doc.version in accepted.get(key, ()):
            continue
        if key in accepted or key in SIGNUP:
            due.append(doc)
    return due


def last_accepted(user, key):
    """The user's most recent consent to a document, or None."""
    return db.session.scalar(select(Consent).where(Consent.user_id == user.id, Consent.document_key == key)
                             .order_by(Consent.accepted_at.desc(), Consent.id.desc()).limit(1))


def consents_of(user):
    """Every consent the user gave, oldest first (for the personal-data export)."""
    return db.session.scalars(select(Consent).where(Consent.user_id == user.id)
                              .order_by(Consent.accepted_at, Consent.id)).all()


def count_consents(key, label):
    """How many consents a version has received (shown to administrators)."""
    return db.session.scalar(select(func.count(Consent.id)).where(Consent.document_key == key,
                                                                  Consent.version == label))
