"""Private messages (私信) between a creator and a backer, follower or asker of their project (SPEC 3.3).

Who may start a thread: someone related to the project — a pledge in any status but an abandoned checkout
(expired or closed unpaid), a follow, or a comment or question that is not deleted. The creator answers in
the thread. Once a thread exists its two participants may keep writing (its existence is the proof that a
relation existed); nobody else may read or write in it. A block between two accounts, by either of them,
stops messages both ways in all their threads until the blocker lifts it.
"""
from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from crowdfund.domain import RuleError
from crowdfund.extensions import db
from crowdfund.models import Notification, Pledge, PledgeStatus, Project, User
from crowdfund.models.base import utcnow
from crowdfund.models.community import Block, Comment, Follow, Message, MessageThread, Report
from crowdfund.notifications import notify

MAX_BODY = 2000
MAX_REASON = 500
# A checkout that was never paid is no relation to the project.
ABANDONED = (PledgeStatus.EXPIRED, PledgeStatus.CLOSED)


class MessagingError(RuleError):
    """A message that may not be sent; `code` names why (self, unrelated, blocked, empty, too_long, ...)."""


def _related(project_id, user_id):
    """A SQL condition: the account backed, follows or commented on the project."""
    return or_(
        exists().where(Pledge.project_id == project_id, Pledge.backer_id == user_id, Pledge.status.not_in(ABANDONED)),
        exists().where(Follow.project_id == project_id, Follow.user_id == user_id),
        exists().where(Comment.project_id == project_id, Comment.author_id == user_id, Comment.deleted_at.is_(None)),
    )


def is_related(project, user_id):
    """Whether the account may start a thread with the project's creator (one query)."""
    if user_id is None or user_id == project.creator_id:
        return False
    return bool(db.session.scalar(select(_related(project.id, user_id))))


def _blocked_condition(a, b):
    return exists().where(or_(and_(Block.blocker_id == a, Block.blocked_id == b),
                              and_(Block.blocker_id == b, Block.blocked_id == a)))


def is_blocked(a, b):
    """Whether either account has blocked the other (a deleted account takes no messages either)."""
    deleted = exists().where(User.id.in_([a, b]), User.deleted_at.is_not(None))
    return bool(db.session.scalar(select(or_(_blocked_condition(a, b), deleted))))


def has_blocked(blocker_id, blocked_id):
    """Whether `blocker_id` blocked `blocked_id` (only the blocker can lift it)."""
    return db.session.get(Block, (blocker_id, blocked_id)) is not None


def page_context(project, user):
    """What the project page needs: whether to offer 'Message the creator', and the existing thread (one query)."""
    if not getattr(user, "is_authenticated", False) or user.id == project.creator_id or project.creator.deleted_at:
        return {}
    thread_id = (select(MessageThread.id).where(MessageThread.project_id == project.id,
                                                MessageThread.member_id == user.id).scalar_subquery())
    row = db.session.execute(select(_related(project.id, user.id), thread_id)).one()
    if not row[0] and row[1] is None:
        return {}
    return {"message_contact": {"thread_id": row[1]}}


def thread_for(project, member_id):
    """The thread between the project's creator and this member, if any."""
    return db.session.scalar(select(MessageThread).where(MessageThread.project_id == project.id,
                                                         MessageThread.member_id == member_id))


def role_in(thread, user_id):
    """'creator' or 'member' for a participant, None for anyone else."""
    if user_id == thread.creator_id:
        return "creator"
    if user_id == thread.member_id:
        return "member"
    return None


def other_party(thread, user_id):
    """The id of the other participant."""
    return thread.member_id if user_id == thread.creator_id else thread.creator_id


def get_thread(thread_id, user_id):
    """A thread the account takes part in, or None (a forged or foreign id looks like a missing one)."""
    thread = db.session.get(MessageThread, thread_id)
    if thread is None or role_in(thread, user_id) is None:
        return None
    return thread


def clean_body(body):
    """The message text, trimmed; raises MessagingError when empty or too long."""
    body = (body or "").strip()
    if not body:
        raise MessagingError("empty")
    if len(body) > MAX_BODY:
        raise MessagingError("too_long")
    return body


def start(project, member, body, now=None):
    """A member writes to the project's creator: into their existing thread, or a new one. Returns the message."""
    if member.id == project.creator_id:
        raise MessagingError("self")
    thread = thread_for(project, member.id)
    if thread is not None:
        return send(thread, member, body, now=now)
    body = clean_body(body)
    if not is_related(project, member.id):
        raise MessagingError("unrelated")
    if is_blocked(member.id, project.creator_id):
        raise MessagingError("blocked")
    now = now or utcnow()
    thread = MessageThread(project_id=project.id, creator_id=project.creator_id, member_id=member.id,
                           last_message_at=now, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(thread)
    except IntegrityError:
        # Two first messages at once (double submit): the other request made the thread; write into it.
        return send(thread_for(project, member.id), member, body, now=now)
    return send(thread, member, body, now=now)


def send(thread, sender, body, now=None):
    """Add a message from a participant, mark the thread read for them and notify the other. Commits."""
    if role_in(thread, sender.id) is None:
        raise MessagingError("unrelated")
    body = clean_body(body)
    recipient_id = other_party(thread, sender.id)
    if is_blocked(sender.id, recipient_id):
        raise MessagingError("blocked")
    now = now or utcnow()
    message = Message(thread_id=thread.id, sender_id=sender.id, body=body, created_at=now)
    db.session.add(message)
    thread.last_message_at = now
    _set_read(thread, sender.id, now)
    db.session.flush()
    project = db.session.get(Project, thread.project_id)
    notify(recipient_id, "message_received", link=f"/messages/{thread.id}", project_id=project.id,
           key=f"message:{message.id}", name=sender.display_name, title=project.title)
    db.session.commit()
    return message


def _set_read(thread, user_id, now):
    if user_id == thread.creator_id:
        thread.creator_read_at = now
    else:
        thread.member_read_at = now


def mark_read(thread, user_id, now=None):
    """The participant has seen everything in the thread up to now. Commits only when something changed."""
    read_at = thread.creator_read_at if user_id == thread.creator_id else thread.member_read_at
    if read_at is not None and read_at >= thread.last_message_at:
        return
    now = now or utcnow()
    _set_read(thread, user_id, now)
    # The "new message" notices of this thread are read too: one message is not two unread things.
    db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.kind == "message_received",
        Notification.link == f"/messages/{thread.id}", Notification.read_at.is_(None)).values(read_at=now))
    db.session.commit()


def messages_of(thread):
    """The thread's messages, oldest first."""
    return db.session.scalars(select(Message).where(Message.thread_id == thread.id)
                              .order_by(Message.created_at, Message.id)).all()


def _my_read_at(user_id):
    return case((MessageThread.creator_id == user_id, MessageThread.creator_read_at),
                else_=MessageThread.member_read_at)


def _mine(user_id):
    return or_(MessageThread.creator_id == user_id, MessageThread.member_id == user_id)


def _unread(user_id):
    read_at = _my_read_at(user_id)
    return or_(read_at.is_(None), MessageThread.last_message_at > read_at)


def unread_count(user_id):
    """How many of the account's threads have a message it has not read (one query, for the header badge)."""
    return db.session.scalar(select(func.count(MessageThread.id)).where(_mine(user_id), _unread(user_id)))


INBOX_PAGE = 50


def inbox(user_id, page=1):
    """One page of the account's threads, newest first: (thread, other party's name and whether their account was
    deleted, project title, project slug, unread), and whether there are more."""
    read_at = _my_read_at(user_id)
    other_id = case((MessageThread.creator_id == user_id, MessageThread.member_id), else_=MessageThread.creator_id)
    unread = (select(func.count(Message.id))
              .where(Message.thread_id == MessageThread.id, Message.sender_id != user_id,
                     or_(read_at.is_(None), Message.created_at > read_at))
              .correlate(MessageThread).scalar_subquery())
    rows = db.session.execute(
        select(MessageThread, User.display_name, User.deleted_at, Project.title, Project.slug, unread)
        .join(User, User.id == other_id).join(Project, Project.id == MessageThread.project_id)
        .where(_mine(user_id)).order_by(MessageThread.last_message_at.desc(), MessageThread.id.desc())
        .offset((page - 1) * INBOX_PAGE).limit(INBOX_PAGE + 1)
    ).all()
    return [dict(thread=t, other_name=name, other_deleted=deleted is not None, title=title, slug=slug, unread=count)
            for t, name, deleted, title, slug, count in rows[:INBOX_PAGE]], len(rows) > INBOX_PAGE


def block(blocker_id, blocked_id, now=None):
    """Stop private messages between the two accounts, both ways (safe to repeat). Commits."""
    if blocker_id == blocked_id:
        raise MessagingError("self")
    if not has_blocked(blocker_id, blocked_id):
        try:
            with db.session.begin_nested():
                db.session.add(Block(blocker_id=blocker_id, blocked_id=blocked_id, created_at=now or utcnow()))
        except IntegrityError:
            pass  # a double click: the block is there either way
    db.session.commit()


def unblock(blocker_id, blocked_id):
    """Lift one's own block (a block the other side made stays). Commits."""
    row = db.session.get(Block, (blocker_id, blocked_id))
    if row is not None:
        db.session.delete(row)
    db.session.commit()


def report(message, reporter_id, reason="", now=None):
    """A participant reports the other's message to the moderators, once. Commits; returns the Report."""
    thread = db.session.get(MessageThread, message.thread_id)
    if role_in(thread, reporter_id) is None:
        raise MessagingError("unrelated")
    if message.sender_id == reporter_id:
        raise MessagingError("own")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise MessagingError("reason_too_long")
    if reported(message.id, reporter_id):
        raise MessagingError("reported")
    row = Report(target_kind="message", target_id=message.id, reporter_id=reporter_id, reason=reason,
                 created_at=now or utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise MessagingError("reported") from None
    db.session.commit()
    return row


def reported(message_id, reporter_id):
    """Whether the account already reported the message."""
    return bool(db.session.scalar(select(exists().where(
        Report.target_kind == "message", Report.target_id == message_id, Report.reporter_id == reporter_id))))


def reported_in(thread, reporter_id):
    """Ids of the thread's messages this account has reported (one query)."""
    return set(db.session.scalars(select(Report.target_id).join(Message, and_(
        Report.target_kind == "message", Report.target_id == Message.id))
        .where(Message.thread_id == thread.id, Report.reporter_id == reporter_id)))


def get_message(thread, message_id):
    """A message of this thread, or None."""
    message = db.session.get(Message, message_id)
    return message if message is not None and message.thread_id == thread.id else None

