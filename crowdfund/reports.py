"""What people reported (a comment or a private message) and how moderators settle it."""
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, lazyload

from crowdfund.comments import CommentError, _authors, delete_comment
from crowdfund.extensions import db
from crowdfund.models import Comment, Message, Report, Role, User
from crowdfund.models.base import utcnow


@dataclass(frozen=True)
class ReportedItem:
    """One reported comment or private message with its open reports (oldest first)."""

    kind: str  # "comment" or "message"
    target_id: int
    reports: list  # [(Report, reporter User)]
    comment: Comment | None
    message: Message | None
    sender: User | None  # the message's sender


def open_reports(limit=200):
    """What people reported and moderators have not settled, one item per comment or message, oldest first."""
    reports = db.session.scalars(select(Report).where(Report.resolved_at.is_(None))
                                 .order_by(Report.created_at, Report.id).limit(limit)).all()
    wanted = defaultdict(set)
    for report in reports:
        wanted[report.target_kind].add(report.target_id)
    found = db.session.scalars(select(Comment).where(Comment.id.in_(wanted["comment"]))
                               .options(_authors(), joinedload(Comment.project), lazyload(Comment.replies)))
    comments = {c.id: c for c in found}
    messages = {m.id: m for m in db.session.scalars(select(Message).where(Message.id.in_(wanted["message"])))}
    user_ids = {r.reporter_id for r in reports} | {m.sender_id for m in messages.values()}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids))
                                                 .options(lazyload(User.role_rows)))}
    grouped = {}
    for report in reports:
        key = (report.target_kind, report.target_id)
        if key not in grouped:
            message = messages.get(report.target_id) if report.target_kind == "message" else None
            grouped[key] = ReportedItem(report.target_kind, report.target_id, [],
                                        comments.get(report.target_id) if report.target_kind == "comment" else None,
                                        message, users.get(message.sender_id) if message else None)
        grouped[key].reports.append((report, users.get(report.reporter_id)))
    return list(grouped.values())


def resolve_reports(report, moderator, delete=False, now=None):
    """Close every open report on the reported item; with `delete`, delete the reported comment (or hide the
    reported private message from both participants) first."""
    now = now or utcnow()
    if not moderator.has_role(Role.MODERATOR):
        raise CommentError("moderator")
    if delete and report.target_kind == "message":
        message = db.session.get(Message, report.target_id)
        if message is not None and message.hidden_at is None:
            message.hidden_at, message.hidden_by_id = now, moderator.id
    elif delete:
        comment = db.session.get(Comment, report.target_id) if report.target_kind == "comment" else None
        if comment is None:
            raise CommentError("not_comment")
        delete_comment(comment, moderator, now, commit=False)
    closed = db.session.execute(update(Report).where(
        Report.target_kind == report.target_kind, Report.target_id == report.target_id,
        Report.resolved_at.is_(None)).values(resolved_at=now, resolved_by_id=moderator.id)).rowcount
    db.session.commit()
    return closed
