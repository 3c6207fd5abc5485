"""Comments and questions on a project, official replies, the FAQ and the 24-hour reply rate (SPEC 3.1, 3.6).

A top-level comment may be a question. Replies are one level deep: a reply to a reply joins the
top-level thread. A reply by the project's creator or a moderator is official (发起人回复 / 官方回复);
the first official reply to a question sets its `answered_at`. A question still unanswered after 12
and after 24 hours reminds the creator, once each (`remind_unanswered`). Moderators see unanswered
questions across projects (`open_questions`); reports are settled in crowdfund/reports.py.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from crowdfund import lifecycle
from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import Comment, FaqEntry, Pledge, PledgeStatus, Project, ProjectStatus, Report, Role, User
from crowdfund.models.base import utcnow
from crowdfund.notifications import notify, notify_many
from crowdfund.queueing import periodic
from crowdfund.sanitize import markdown_to_html

BODY_MAX = 2000
PAGE_SIZE = 20
EDIT_WINDOW = timedelta(minutes=10)
REPLY_WITHIN = timedelta(hours=24)
RATE_WINDOW = timedelta(days=30)
REMINDER_HOURS = (12, 24)
REMINDER_CATCH_UP = timedelta(hours=72)  # after that, a missed reminder is no longer worth sending


class CommentError(RuleError):
    """Not allowed; `code` says why."""


@dataclass(frozen=True)
class Clock:
    """The moments templates compare against: editable after, overdue before."""

    now: datetime

    @property
    def edit_after(self):
        return self.now - EDIT_WINDOW

    @property
    def overdue_before(self):
        return self.now - REPLY_WITHIN


@dataclass(frozen=True)
class ReplyRate:
    asked: int  # questions of the last 30 days that are answered or at least 24 hours old
    in_time: int  # of those, answered within 24 hours

    @property
    def percent(self):
        return 100 * self.in_time // self.asked if self.asked else None


def is_official(user, project):
    """Whether `user` speaks for the project: its creator or a moderator."""
    return bool(user is not None and user.is_authenticated
                and (user.id == project.creator_id or user.has_role(Role.MODERATOR)))


def _clean(body):
    body = (body or "").strip()
    if not body:
        raise CommentError("empty")
    if len(body) > BODY_MAX:
        raise CommentError("too_long")
    return body


def link(top_id, comment_id=None):
    """Where a notice about a comment takes you: its thread's own page, which shows it whatever page of the
    project's comments it has moved to."""
    return f"/comments/{top_id}" + (f"#comment-{comment_id}" if comment_id and comment_id != top_id else "")


def top_of(comment):
    """The top-level comment of the thread `comment` belongs to."""
    return comment if comment.parent_id is None else db.session.get(Comment, comment.parent_id)


def add_comment(project, author, body, is_question=False, parent=None, now=None):
    """Post a comment or question on a public project, or a reply to `parent`; returns the new comment."""
    if not lifecycle.is_public(project):
        raise CommentError("closed")
    body = _clean(body)
    now = now or utcnow()
    replied_to, top = parent, None
    if parent is not None:
        top = top_of(parent)
        if parent.project_id != project.id:
            raise CommentError("parent")
        if parent.deleted_at is not None or top.deleted_at is not None:
            raise CommentError("deleted")
    comment = Comment(project_id=project.id, author_id=author.id, parent_id=top.id if top else None,
                      is_question=bool(is_question) and top is None, body=body, body_html=markdown_to_html(body),
                      created_at=now)
    if top is not None and is_official(author, project):
        comment.reply_role = "creator" if author.id == project.creator_id else "moderator"
    db.session.add(comment)
    db.session.flush()
    _tell(project, author, comment, top, replied_to, now)
    db.session.commit()
    return comment


def _tell(project, author, comment, top, replied_to, now):
    """Notify the creator of a new question, the asker of an answer, and authors of replies to them."""
    where = dict(link=link(top.id if top else comment.id, comment.id), project_id=project.id)
    if top is None:
        if comment.is_question and author.id != project.creator_id:
            notify(project.creator_id, "question_asked", key=f"question:{comment.id}", name=author.display_name,
                   title=project.title, **where)
        return
    told = {author.id}
    if comment.reply_role and top.is_question and top.answered_at is None:
        top.answered_at = now
        if top.author_id not in told:
            notify(top.author_id, "question_answered", key=f"answered:{top.id}", title=project.title, **where)
            told.add(top.author_id)
    for user_id in (top.author_id, replied_to.author_id):
        if user_id not in told:
            notify(user_id, "comment_replied", key=f"reply:{comment.id}", name=author.display_name,
                   title=project.title, **where)
            told.add(user_id)


def can_edit(comment, user, now=None):
    """Only the author, within EDIT_WINDOW of posting, and not after deleting it."""
    return (user is not None and user.is_authenticated and comment.author_id == user.id
            and comment.deleted_at is None and (now or utcnow()) - comment.created_at <= EDIT_WINDOW)


def edit_comment(comment, user, body, now=None):
    """The author corrects their comment within 10 minutes of posting it."""
    now = now or utcnow()
    if comment.author_id != user.id:
        raise CommentError("owner")
    if comment.deleted_at is not None:
        raise CommentError("deleted")
    if now - comment.created_at > EDIT_WINDOW:
        raise CommentError("edit_window")
    body = _clean(body)
    comment.body, comment.body_html, comment.edited_at = body, markdown_to_html(body), now
    db.session.commit()


def delete_comment(comment, user, now=None, commit=True):
    """The author or a moderator deletes a comment: it shows as deleted, its replies stay."""
    if comment.author_id != user.id and not user.has_role(Role.MODERATOR):
        raise CommentError("owner")
    if comment.deleted_at is None:
        comment.deleted_at, comment.deleted_by_id = now or utcnow(), user.id
        top = top_of(comment)
        if comment.reply_role and top.is_question:
            # A deleted answer no longer answers: the earliest remaining official reply does, if any.
            top.answered_at = min((r.created_at for r in top.replies if r.reply_role and r.deleted_at is None),
                                  default=None)
        _refresh_faq(top)
    if commit:
        db.session.commit()


def _refresh_faq(question):
    """Keep a promoted question's FAQ entry true to the thread: gone with the question or its last official
    answer, otherwise showing the earliest official answer still standing."""
    entry = db.session.scalar(select(FaqEntry).where(FaqEntry.question_id == question.id))
    if entry is None:
        return
    answer = official_answer(question) if question.deleted_at is None else None
    if answer is None:
        db.session.delete(entry)
    else:
        entry.answer_html = answer.body_html


def report_comment(comment, reporter, reason="", now=None):
    """Report a comment to the moderators, once per person; returns False if this person already had."""
    if comment.author_id == reporter.id:
        raise CommentError("own")
    if comment.deleted_at is not None:
        raise CommentError("deleted")
    done = db.session.scalar(select(Report.id).where(Report.target_kind == "comment", Report.target_id == comment.id,
                                                     Report.reporter_id == reporter.id))
    if done:
        return False
    db.session.add(Report(target_kind="comment", target_id=comment.id, reporter_id=reporter.id,
                          reason=(reason or "").strip()[:500], created_at=now or utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # the same person, twice at once
        db.session.rollback()
        return False
    return True


def _authors():
    # Role rows are not needed to show a name: load them only if something asks.
    return joinedload(Comment.author).options(lazyload(User.role_rows))


@dataclass(frozen=True)
class Threads:
    items: list  # top-level comments, their `replies` loaded
    more: bool  # another page follows
    backers: set  # ids of the comments whose author backed the project


def _load(top_ids, *options):
    """The top-level comments `top_ids` selects, with replies, authors and backer flags: one query in all."""
    top_ids = top_ids.subquery()
    backed = select(Pledge.id).where(Pledge.project_id == Comment.project_id, Pledge.backer_id == Comment.author_id,
                                     Pledge.status == PledgeStatus.PAID).exists()
    rows = db.session.execute(
        select(Comment, backed.label("backed"))
        .where(or_(Comment.id.in_(select(top_ids.c.id)), Comment.parent_id.in_(select(top_ids.c.id))))
        .options(_authors(), lazyload(Comment.replies), *options).order_by(Comment.id)).all()
    tops, replies = [], defaultdict(list)
    for comment, _ in rows:
        (tops if comment.parent_id is None else replies[comment.parent_id]).append(comment)
    for top in tops:
        set_committed_value(top, "replies", replies[top.id])
    return tops, {comment.id for comment, is_backer in rows if is_backer}


def _unanswered():
    return (Comment.is_question.is_(True), Comment.parent_id.is_(None), Comment.answered_at.is_(None),
            Comment.deleted_at.is_(None))


def threads(project, page=1, open_only=False, before=None):
    """One page of top-level comments, newest first, with their replies: one query whatever their number.

    With `open_only`, unanswered questions only. With `before` (a comment id), the page after that
    comment rather than page number `page`: "load more" stays right while new comments arrive on top.
    """
    query = select(Comment.id).where(Comment.project_id == project.id, Comment.parent_id.is_(None))
    if open_only:
        query = query.where(*_unanswered())
    if before is not None:
        query = query.where(Comment.id < before)
    else:
        query = query.offset((page - 1) * PAGE_SIZE)
    tops, backers = _load(query.order_by(Comment.id.desc()).limit(PAGE_SIZE + 1))
    tops.reverse()
    shown = tops[:PAGE_SIZE]
    return Threads(shown, len(tops) > PAGE_SIZE, backers & {c.id for top in shown for c in [top, *top.replies]})


def thread(comment):
    """The thread `comment` belongs to, as a one-item Threads."""
    tops, backers = _load(select(Comment.id).where(Comment.id == (comment.parent_id or comment.id)))
    return Threads(tops, False, backers)


def page_of(comment):
    """The page of the project's comments on which this comment's thread is listed."""
    top = top_of(comment)
    newer = db.session.scalar(select(func.count(Comment.id)).where(
        Comment.project_id == top.project_id, Comment.parent_id.is_(None), Comment.id > top.id))
    return newer // PAGE_SIZE + 1


def faq_entries(project):
    return db.session.scalars(select(FaqEntry).where(FaqEntry.project_id == project.id).order_by(FaqEntry.id)).all()


def faq_question_ids(project):
    return set(db.session.scalars(select(FaqEntry.question_id).where(FaqEntry.project_id == project.id)))


def page_context(project, user):
    """What the project page needs from this module (template variables)."""
    page = threads(project)
    faq = faq_entries(project)
    return dict(comments=page.items, comments_more=page.more, comment_backers=page.backers, faq_entries=faq,
                faq_ids={entry.question_id for entry in faq}, comment_clock=Clock(utcnow()))


def official_answer(question):
    """The earliest official reply still standing, or None."""
    return next((r for r in question.replies if r.reply_role and r.deleted_at is None), None)


def promote_to_faq(question, user):
    """The creator or a moderator copies an answered question and its official answer into the FAQ (idempotent)."""
    project = question.project
    if not is_official(user, project):
        raise CommentError("official")
    if not question.is_question or question.parent_id is not None or question.deleted_at is not None:
        raise CommentError("question")
    existing = db.session.scalar(select(FaqEntry).where(FaqEntry.question_id == question.id))
    if existing is not None:
        return existing
    answer = official_answer(question)
    if answer is None:
        raise CommentError("unanswered")
    entry = FaqEntry(project_id=project.id, question_id=question.id, question=question.body,
                     answer_html=answer.body_html, promoted_by_id=user.id)
    db.session.add(entry)
    try:
        db.session.commit()
    except IntegrityError:  # promoted twice at once
        db.session.rollback()
        return db.session.scalar(select(FaqEntry).where(FaqEntry.question_id == question.id))
    return entry


def remove_faq(entry, user):
    """The creator or a moderator takes an entry out of the FAQ (the question stays in the comments)."""
    if not is_official(user, db.session.get(Project, entry.project_id)):
        raise CommentError("official")
    db.session.delete(entry)
    db.session.commit()


def reply_rate(creator_id, now=None):
    """The creator's 24-hour reply rate over questions others asked in the last 30 days (one query).

    Only the creator's own replies count: a moderator answering for them does not make them responsive.
    """
    now = now or utcnow()
    reply = aliased(Comment)
    answered = (select(func.min(reply.created_at))
                .where(reply.parent_id == Comment.id, reply.reply_role == "creator", reply.deleted_at.is_(None))
                .correlate(Comment).scalar_subquery())
    rows = db.session.execute(
        select(Comment.created_at, answered.label("answered_at")).join(Project, Project.id == Comment.project_id)
        .where(Project.creator_id == creator_id, Comment.is_question.is_(True), Comment.parent_id.is_(None),
               Comment.deleted_at.is_(None), Comment.author_id != creator_id,
               Comment.created_at >= now - RATE_WINDOW)).all()
    # A question still inside its 24 hours and unanswered says nothing yet.
    counted = [r for r in rows if r.answered_at is not None or now - r.created_at >= REPLY_WITHIN]
    in_time = sum(1 for r in counted if r.answered_at is not None and r.answered_at - r.created_at <= REPLY_WITHIN)
    return ReplyRate(len(counted), in_time)


def waiting_counts(project_ids, now=None):
    """Per project id: (unanswered questions, of which waiting over 24 hours), in one query."""
    cutoff = (now or utcnow()) - REPLY_WITHIN
    rows = db.session.execute(
        select(Comment.project_id, func.count(Comment.id),
               func.sum(case((Comment.created_at <= cutoff, 1), else_=0)))
        .where(*_unanswered(), Comment.project_id.in_(list(project_ids))).group_by(Comment.project_id)).all()
    return {project_id: (total, int(overdue or 0)) for project_id, total, overdue in rows}


def open_questions(limit=200):
    """Unanswered questions across every project, oldest first, for the moderators' queue."""
    tops, backers = _load(select(Comment.id).where(*_unanswered()).order_by(Comment.created_at, Comment.id)
                          .limit(limit), joinedload(Comment.project))
    tops.sort(key=lambda c: (c.created_at, c.id))
    return Threads(tops, False, backers)


@periodic(interval=900)
def remind_unanswered(now=None):
    """Remind creators of questions waiting 12 and 24 hours for a reply, once each; returns how many were new."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Comment.id, Comment.created_at, Project.id.label("project_id"), Project.slug, Project.title,
               Project.creator_id).join(Project, Project.id == Comment.project_id)
        .where(*_unanswered(), Comment.author_id != Project.creator_id,
               Project.status != ProjectStatus.SUSPENDED,  # under investigation: the moderators answer for now
               Comment.created_at <= now - timedelta(hours=min(REMINDER_HOURS)),
               Comment.created_at > now - REMINDER_CATCH_UP)).all()
    sent = 0
    for row in rows:
        age = now - row.created_at
        hours = max(h for h in REMINDER_HOURS if age >= timedelta(hours=h))
        sent += notify_many([row.creator_id], "question_waiting", f"question{hours}:{row.id}",
                            link=link(row.id), project_id=row.project_id,
                            title=row.title, hours=hours)
    db.session.commit()
    return sent
