"""Personal data (个人信息保护法, SPEC 5.2): download everything held about an account, or delete the account.

An export is a zip of named sections, each as JSON and CSV, built by a job, stored privately
(crowdfund.storage, never under a public URL) and offered to its owner for EXPORT_HOURS. Deleting an
account (注销) erases or anonymises the personal data and keeps pledges, payments, refunds and the ledger
as anonymous financial records; it is refused while the account still has obligations.
"""
import csv
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from crowdfund import audit, ledger, lifecycle
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import (Address, Block, Comment, Consent, DataExport, EmailOptOut, Follow, Message,
                              MessageThread, Notification, Pledge, PledgeStatus, PointsEntry, Project, ProjectStatus,
                              Refund, Report, User, UserRole, Withdrawal)
from crowdfund.models.base import utcnow
from crowdfund.models.user import new_session_token
from crowdfund.queueing import enqueue
from crowdfund.storage import get_storage

EXPORT_HOURS = 24
DELETED_NAME = "已注销用户"  # stored; pages show User.public_name ("Deleted user" in the reader's language)
ERASED_TEXT = "内容已随账号注销删除"  # what erased comment and message bodies say
DELETED_EMAIL_DOMAIN = "deleted.invalid"  # RFC 2606: can never receive mail


class PrivacyError(RuleError):
    """An export or deletion request refused; `code` says why."""


# ---- export -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One part of the export: `<name>.json` and `<name>.csv` with these columns, rows from `rows(user)`."""

    name: str
    columns: tuple
    rows: object


def _iso(value):
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _profile(user):
    row = dict(id=user.id, email=user.email, display_name=user.display_name, locale=user.locale,
               created_at=user.created_at, last_login_at=user.last_login_at,
               roles=sorted(role.value for role in user.roles))
    row["phone"] = user.phone
    row["phone_verified_at"] = user.phone_verified_at
    row["share_code"] = user.share_code
    return [row]


def _legal(user):
    return [dict(document="terms", version=user.terms_version, accepted_at=user.agreed_at),
            dict(document="privacy", version=user.privacy_version, accepted_at=user.agreed_at)]


def _consents(user):
    from crowdfund.legal import consents_of

    return [dict(document=c.document_key, version=c.version, accepted_at=c.accepted_at, pledge=c.pledge_id,
                 project=c.project_id, ip_hash=c.ip_hash) for c in consents_of(user)]


def _pledges(user):
    pledges = db.session.scalars(select(Pledge).where(Pledge.backer_id == user.id).order_by(Pledge.id)).all()
    refunds = {}
    for refund in db.session.scalars(select(Refund).join(Pledge, Pledge.id == Refund.pledge_id)
                                     .where(Pledge.backer_id == user.id).order_by(Refund.id)):
        refunds.setdefault(refund.pledge_id, []).append(dict(
            out_request_no=refund.out_request_no, amount_fen=refund.amount_fen, coupon_fen=refund.coupon_fen,
            reason=refund.reason,
            status=refund.status, created_at=_iso(refund.created_at), completed_at=_iso(refund.completed_at)))
    return [dict(id=p.id, project=p.project.slug, project_title=p.project.title,
                 reward=p.tier.title if p.tier else None, amount_fen=p.amount_fen, shipping_fen=p.shipping_fen,
                 paid_fen=p.paid_fen, coupon_fen=p.coupon_fen, status=p.status.value, payment_provider=p.provider, out_trade_no=p.out_trade_no,
                 trade_no=p.trade_no, anonymous=p.anonymous, created_at=p.created_at, paid_at=p.paid_at,
                 ship_name=p.ship_name, ship_phone=p.ship_phone,
                 ship_address="".join(filter(None, [p.ship_province, p.ship_city, p.ship_district, p.ship_detail])),
                 shipped_at=p.shipped_at, carrier=p.carrier, tracking_number=p.tracking_number,
                 received_at=p.received_at, rating=p.rating, rating_comment=p.rating_comment,
                 refunds=refunds.get(p.id, [])) for p in pledges]


def _addresses(user):
    rows = db.session.scalars(select(Address).where(Address.user_id == user.id).order_by(Address.id)).all()
    return [dict(id=a.id, name=a.name, phone=a.phone, province=a.province, city=a.city, district=a.district,
                 detail=a.detail, region=a.region, created_at=a.created_at) for a in rows]


def _comments(user):
    rows = db.session.scalars(select(Comment).where(Comment.author_id == user.id).order_by(Comment.id)).all()
    return [dict(id=c.id, project=c.project.slug, reply_to=c.parent_id, is_question=c.is_question, body=c.body,
                 created_at=c.created_at, edited_at=c.edited_at, deleted_at=c.deleted_at) for c in rows]


def _messages(user):
    rows = db.session.execute(
        select(Message, MessageThread, Project.slug).join(MessageThread, MessageThread.id == Message.thread_id)
        .join(Project, Project.id == MessageThread.project_id)
        .where(or_(MessageThread.creator_id == user.id, MessageThread.member_id == user.id))
        .order_by(MessageThread.id, Message.created_at, Message.id)).all()
    names = {}
    result = []
    for message, thread, slug in rows:
        other_id = thread.member_id if thread.creator_id == user.id else thread.creator_id
        if other_id not in names:
            names[other_id] = db.session.get(User, other_id).public_name
        result.append({"thread": thread.id, "project": slug, "with": names[other_id],
                       "sent_by_me": message.sender_id == user.id, "body": message.body,
                       "created_at": message.created_at, "hidden_by_moderator": message.hidden_at is not None})
    return result


def _notifications(user):
    from crowdfund.notifications import text

    rows = db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                              .order_by(Notification.id)).all()
    return [dict(id=n.id, kind=n.kind, text=str(text(n)), link=n.link, created_at=n.created_at, read_at=n.read_at)
            for n in rows]


def _follows(user):
    rows = db.session.execute(select(Follow, Project.slug, Project.title).join(Project, Project.id == Follow.project_id)
                              .where(Follow.user_id == user.id).order_by(Follow.created_at)).all()
    return [dict(project=slug, title=title, remind_before_end=f.remind_before_end, created_at=f.created_at)
            for f, slug, title in rows]


def _points(user):
    rows = db.session.execute(select(PointsEntry, Project.slug).outerjoin(Project, Project.id == PointsEntry.project_id)
                              .where(PointsEntry.user_id == user.id).order_by(PointsEntry.id)).all()
    return [dict(day=e.day, delta=e.delta, reason=e.reason, project=slug, memo=e.memo, created_at=e.created_at)
            for e, slug in rows]


def _reports(user):
    rows = db.session.scalars(select(Report).where(Report.reporter_id == user.id).order_by(Report.id)).all()
    return [dict(target_kind=r.target_kind, target_id=r.target_id, category=r.category, reason=r.reason,
                 created_at=r.created_at, resolved_at=r.resolved_at) for r in rows]


def _coupons(user):
    from crowdfund.models import Coupon

    rows = db.session.scalars(select(Coupon).where(Coupon.user_id == user.id).order_by(Coupon.id)).all()
    return [dict(id=c.id, value_fen=c.value_fen, points=c.points, status=c.status, pledge=c.pledge_id,
                 created_at=c.created_at, expires_at=c.expires_at, used_at=c.used_at) for c in rows]


def _projects(user):
    rows = db.session.scalars(select(Project).where(Project.creator_id == user.id).order_by(Project.id)).all()
    return [dict(id=p.id, slug=p.slug, title=p.title, status=p.status.value, goal_fen=p.goal_fen,
                 created_at=p.created_at, launch_at=p.launch_at, end_at=p.end_at) for p in rows]


SECTIONS = [
    Section("profile", ("id", "email", "display_name", "phone", "phone_verified_at", "locale", "created_at",
                        "last_login_at", "roles", "share_code"),
            _profile),
    # The versions accepted at sign-up as the account row records them; every consent given is in `consents`.
    Section("legal_acceptances", ("document", "version", "accepted_at"), _legal),
    Section("consents", ("document", "version", "accepted_at", "pledge", "project", "ip_hash"), _consents),
    Section("pledges", ("id", "project", "project_title", "reward", "amount_fen", "shipping_fen", "paid_fen", "coupon_fen",
                        "status", "payment_provider", "out_trade_no", "trade_no", "anonymous", "created_at", "paid_at",
                        "ship_name", "ship_phone", "ship_address", "shipped_at", "carrier", "tracking_number",
                        "received_at", "rating", "rating_comment", "refunds"), _pledges),
    Section("addresses", ("id", "name", "phone", "province", "city", "district", "detail", "region", "created_at"),
            _addresses),
    Section("comments", ("id", "project", "reply_to", "is_question", "body", "created_at", "edited_at", "deleted_at"),
            _comments),
    Section("messages", ("thread", "project", "with", "sent_by_me", "body", "created_at", "hidden_by_moderator"),
            _messages),
    Section("notifications", ("id", "kind", "text", "link", "created_at", "read_at"), _notifications),
    Section("follows", ("project", "title", "remind_before_end", "created_at"), _follows),
    Section("points", ("day", "delta", "reason", "project", "memo", "created_at"), _points),
    Section("reports", ("target_kind", "target_id", "category", "reason", "created_at", "resolved_at"), _reports),

    Section("coupons", ("id", "value_fen", "points", "status", "pledge", "created_at", "expires_at", "used_at"),
            _coupons),
    Section("projects", ("id", "slug", "title", "status", "goal_fen", "created_at", "launch_at", "end_at"), _projects),
]


def _csv_cell(value):
    """Dates as ISO text, lists as JSON; never let a spreadsheet read a typed value as a formula."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    value = "" if value is None else str(_iso(value))
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def build_zip(user, sections=None):
    """The export's bytes: README.txt plus `<section>.json` and `<section>.csv` for every section."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        names = []
        for section in sections or SECTIONS:
            rows = [{column: row.get(column) for column in section.columns} for row in section.rows(user)]
            archive.writestr(f"{section.name}.json", json.dumps(
                rows, ensure_ascii=False, indent=2, default=_iso))
            out = io.StringIO()
            out.write("\ufeff")  # spreadsheet programs read UTF-8 with a BOM
            writer = csv.writer(out)
            writer.writerow(section.columns)
            for row in rows:
                writer.writerow([_csv_cell(row[column]) for column in section.columns])
            archive.writestr(f"{section.name}.csv", out.getvalue())
            names.append(section.name)
        archive.writestr("README.txt", "众筹 Crowdfund — personal data of account %d, made %s UTC.\n"
                                       "Each section is given as JSON and as CSV: %s.\n"
                         % (user.id, utcnow().strftime("%Y-%m-%d %H:%M"), ", ".join(names)))
    return buffer.getvalue()


def latest_export(user):
    """The account's most recent export request, or None."""
    return db.session.scalar(select(DataExport).where(DataExport.user_id == user.id)
                             .order_by(DataExport.id.desc()).limit(1))


def shown_status(export, now=None):
    """What the page says: pending, ready, failed or expired (a ready one past its time counts as expired)."""
    if export is None:
        return None
    if export.status == "ready" and export.expires_at <= (now or utcnow()):
        return "expired"
    return export.status


def request_export(user, now=None):
    """Record a pending export and queue the job that builds it; PrivacyError("pending") while one is waiting."""
    export = DataExport(user_id=user.id, status="pending", pending=True, requested_at=now or utcnow())
    db.session.add(export)
    try:
        db.session.commit()
    except IntegrityError:  # the unique (user_id, pending): an export is already being prepared
        db.session.rollback()
        raise PrivacyError("pending") from None
    enqueue(build_export, export.id, job_id=f"data-export-{export.id}", timeout=600, retries=0, background=True)
    return export


def build_export(export_id, now=None):
    """Job: build the zip, store it privately and mark the export ready for EXPORT_HOURS (a re-run does nothing)."""
    export = db.session.get(DataExport, export_id)
    if export is None or export.status != "pending":
        return "skipped"
    user = db.session.get(User, export.user_id)
    key = f"exports/{user.id}/{export.id}-{secrets.token_urlsafe(16)}.zip"
    try:
        data = build_zip(user)
        get_storage().save(key, data, "application/zip")
    except Exception:
        db.session.rollback()
        fail_export(export_id)  # the owner sees that it failed and may ask again
        raise
    now = now or utcnow()
    export.storage_key, export.size_bytes = key, len(data)
    export.status, export.pending = "ready", None
    export.ready_at, export.expires_at = now, now + timedelta(hours=EXPORT_HOURS)
    from crowdfund.notifications import notify

    notify(user.id, "data_export_ready", link="/account/data", key=f"data-export:{export.id}")
    db.session.commit()
    return "ready"


def fail_export(export_id):
    """Give up on an export whose job failed, so the owner may ask again."""
    db.session.execute(update(DataExport).where(DataExport.id == export_id, DataExport.status == "pending")
                       .values(status="failed", pending=None))
    db.session.commit()


def downloadable(user, export_id, now=None):
    """The owner's ready, unexpired export with this id, else None (anyone else's is None too)."""
    export = db.session.get(DataExport, export_id)
    if export is None or export.user_id != user.id or shown_status(export, now) != "ready":
        return None
    return export


def open_export(export):
    """The stored zip, opened for reading."""
    return get_storage().open(export.storage_key)


def _discard(export):
    if export.storage_key:
        get_storage().delete(export.storage_key)
    export.storage_key = None


def expire_exports(now=None):
    """Delete the files of exports past their 24 hours and mark them expired; returns how many."""
    now = now or utcnow()
    due = db.session.scalars(select(DataExport).where(DataExport.status == "ready",
                                                      DataExport.expires_at <= now)).all()
    for export in due:
        _discard(export)
        export.status = "expired"
    # A job that died midway leaves an export pending: after an hour it has failed, so another may be asked for.
    db.session.execute(update(DataExport).where(DataExport.status == "pending",
                                                DataExport.requested_at <= now - timedelta(hours=1))
                       .values(status="failed", pending=None))
    db.session.commit()
    return len(due)


# ---- deletion -----------------------------------------------------------------------------------------------

FINAL = {status for status, moves in lifecycle.TRANSITIONS.items() if not moves}
SHIPPING = (ProjectStatus.SUCCESSFUL, ProjectStatus.DELIVERING)


@dataclass(frozen=True)
class Blocker:
    """Why the account cannot be deleted yet: `code` names the reason, `project` the project it concerns."""

    code: str  # live_project | pending_refund | undelivered_reward | funds_held
    project: object


def deletion_blockers(user):
    """Everything that keeps the account from being deleted now (empty when it may go)."""
    blockers = []
    own = db.session.scalars(select(Project).where(Project.creator_id == user.id).order_by(Project.id)).all()
    blockers += [Blocker("live_project", p) for p in own if p.status not in FINAL]
    pending = db.session.execute(
        select(Pledge.project_id).outerjoin(Refund, Refund.pledge_id == Pledge.id)
        .join(Project, Project.id == Pledge.project_id)
        .where(or_(Pledge.backer_id == user.id, Project.creator_id == user.id),
               or_(Refund.status.in_(["pending", "failed"]), Pledge.status == PledgeStatus.REFUND_DUE))
        .distinct()).scalars().all()
    blockers += [Blocker("pending_refund", db.session.get(Project, pid)) for pid in sorted(pending)]
    waiting = db.session.scalars(
        select(Pledge.project_id).join(Project, Project.id == Pledge.project_id)
        .where(Pledge.backer_id == user.id, Pledge.status == PledgeStatus.PAID, Pledge.tier_id.is_not(None),
               Pledge.received_at.is_(None), Project.status.in_(SHIPPING)).distinct()).all()
    blockers += [Blocker("undelivered_reward", db.session.get(Project, pid)) for pid in sorted(waiting)]
    for project in own:
        if project.status not in FINAL:
            continue  # already listed as live
        # Money in escrow (not yet withdrawn) or approved but not yet paid out to the creator.
        open_withdrawal = db.session.scalar(select(func.count(Withdrawal.id)).where(
            Withdrawal.project_id == project.id, Withdrawal.status.in_(["requested", "approved"])))
        held = -ledger.balance(ledger.escrow(project.id))
        unpaid = -ledger.balance(f"creator_payable:project:{project.id}")
        if held > 0 or unpaid > 0 or open_withdrawal:
            blockers.append(Blocker("funds_held", project))
    return blockers


def _anonymise(user, now):
    user.display_name = DELETED_NAME
    user.email = f"deleted-{user.id}@{DELETED_EMAIL_DOMAIN}"
    user.password_hash = "!deleted"  # not an argon2 hash: nothing verifies against it
    user.session_token = new_session_token()  # every session and remember-me cookie stops working
    user.locale = None
    user.email_verified_at = None
    user.phone = user.phone_verified_at = None
    user.share_code = None  # old share links stop crediting anyone
    user.deleted_at = now
    db.session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    db.session.expire(user, ["role_rows"])


def _erase_content(user):
    erased_html = f"<p>{ERASED_TEXT}</p>"
    db.session.execute(update(Comment).where(Comment.author_id == user.id)
                       .values(body=ERASED_TEXT, body_html=erased_html))
    db.session.execute(update(Message).where(Message.sender_id == user.id).values(body=ERASED_TEXT))
    # Other people's notifications name the person ("Ann replied…"): the name goes too.
    keys = [f"message:{mid}" for mid in db.session.scalars(select(Message.id).where(Message.sender_id == user.id))]
    keys += [f"{kind}:{cid}" for cid in db.session.scalars(select(Comment.id).where(Comment.author_id == user.id))
             for kind in ("question", "reply")]
    for notification in db.session.scalars(select(Notification).where(Notification.key.in_(keys))) if keys else ():
        if "name" in (notification.params or {}):
            notification.params = {**notification.params, "name": DELETED_NAME}


def _forget(user):
    # Points go too: they are worth nothing without the account (a coupon already used stays in its pledge and
    # the ledger). A bulk delete: the points book refuses edits through the ORM, not the erasure the law asks for.
    for model, column in ((Address, Address.user_id), (Follow, Follow.user_id), (Notification, Notification.user_id),
                          (EmailOptOut, EmailOptOut.user_id), (Block, Block.blocker_id),
                          (PointsEntry, PointsEntry.user_id)):
        db.session.execute(delete(model).where(column == user.id))
    # Consents stay as anonymous records of what was accepted with each pledge and launch (the account row they
    # point at is anonymised); the hashed address, the one trace of the person, goes.
    db.session.execute(update(Consent).where(Consent.user_id == user.id).values(ip_hash=None))
    for export in db.session.scalars(select(DataExport).where(DataExport.user_id == user.id)).all():
        _discard(export)
        db.session.delete(export)


def delete_account(user, password, now=None):
    """注销: check the password and that nothing is owed, then erase or anonymise the personal data (commits).

    Pledges, payments, refunds and the ledger stay untouched, now pointing at an anonymous account.
    Raises PrivacyError("password") or PrivacyError("blocked").
    """
    from crowdfund.accounts import check_password

    if user.deleted_at is not None or not check_password(user, password):
        raise PrivacyError("password")
    if deletion_blockers(user):
        raise PrivacyError("blocked")
    now = now or utcnow()
    audit.record(user, "account.delete", user, deleted_at=now.isoformat())
    _erase_content(user)
    _forget(user)
    _anonymise(user, now)
    db.session.commit()
