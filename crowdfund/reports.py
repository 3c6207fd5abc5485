"""What people reported (a comment, a private message or a project) and how moderators settle it."""
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload

from crowdfund.comments import CommentError, _authors, delete_comment
from crowdfund.extensions import db
from crowdfund.models import Comment, Message, Project, Report, Role, User
from crowdfund.models.base import utcnow


@dataclass(frozen=True)
class ReportedItem:
    """One reported comment or private message with its open reports (oldest first)."""

    kind: str  # "comment", "message" or "project"
    target_id: int
    reports: list  # [(Report, reporter User)]
    comment: Comment | None
    message: Message | None
    sender: User | None  # the message's sender
    project: Project | None = None  # a reported project


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
    reported_projects = {p.id: p for p in db.session.scalars(select(Project).where(Project.id.in_(wanted["project"])))}
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
                                        message, users.get(message.sender_id) if message else None,
                                        reported_projects.get(report.target_id) if report.target_kind == "project"
                                        else None)
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
    elif delete and report.target_kind == "project":
        raise CommentError("not_comment")  # a project is suspended or cancelled from its alert, not deleted
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


PROJECT_REPORT_CATEGORIES = ("fraud", "prohibited", "infringement", "not_delivering", "other")
PROJECT_REPORT_TEXT_MAX = 500


class ReportError(Exception):
    """A report that cannot be taken; `code` says why."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def report_project(project, reporter, category, text="", now=None):
    """Report a project to the moderators (举报), once per person; returns False if this person already had.

    Project reports feed the complaints risk rule (crowdfund/risk.py) and are checked at once, in a job."""
    from crowdfund import lifecycle, risk

    if category not in PROJECT_REPORT_CATEGORIES:
        raise ReportError("category")
    if project.creator_id == reporter.id:
        raise ReportError("own")
    if not lifecycle.is_public(project):
        raise ReportError("not_public")
    done = db.session.scalar(select(Report.id).where(Report.target_kind == "project", Report.target_id == project.id,
                                                     Report.reporter_id == reporter.id))
    if done:
        return False
    db.session.add(Report(target_kind="project", target_id=project.id, reporter_id=reporter.id, category=category,
                          reason=(text or "").strip()[:PROJECT_REPORT_TEXT_MAX], created_at=now or utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # the same person, twice at once
        db.session.rollback()
        return False
    risk.queue_check(project.id)
    return True


def has_reported(project, user):
    """Whether this signed-in user already reported the project."""
    return bool(db.session.scalar(select(Report.id).where(Report.target_kind == "project",
                                                          Report.target_id == project.id,
                                                          Report.reporter_id == user.id)))
