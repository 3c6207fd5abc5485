"""Private messages (SPEC 3.3): who may write to whom, blocks, unread counts and read marking, reports."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crowdfund import messaging
from crowdfund.extensions import db
from crowdfund.models import Notification, Pledge, PledgeStatus, Project, User
from crowdfund.models.base import utcnow
from crowdfund.models.community import Comment, Follow, Message, MessageThread, Report

T0 = utcnow().replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def people(app, make_project, make_user):
    """A live project and its people: creator, backer, follower, asker, lapsed (expired pledge), stranger."""
    ids = {name: make_user(email=f"{name}@example.com", display_name=name.title())
           for name in ("backer", "follower", "asker", "lapsed", "stranger", "deleted")}
    slug = make_project(status="live", paid=[(ids["backer"], 99_00, 0)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        ids["creator"] = project.creator_id
        db.session.add(Follow(user_id=ids["follower"], project_id=project.id))
        db.session.add(Comment(project_id=project.id, author_id=ids["asker"], is_question=True, body="何时发货？",
                               body_html="<p>何时发货？</p>"))
        db.session.add(Comment(project_id=project.id, author_id=ids["deleted"], body="x", body_html="<p>x</p>",
                               deleted_at=utcnow()))
        db.session.add(Pledge(project_id=project.id, backer_id=ids["lapsed"], amount_fen=10_00,
                              status=PledgeStatus.EXPIRED))
        db.session.commit()
    return slug, ids


def load(slug, ids, name):
    return (db.session.scalar(db.select(Project).filter_by(slug=slug)), db.session.get(User, ids[name]))


def test_backers_followers_and_askers_may_write_and_nobody_else(app, people):
    slug, ids = people
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        may = {name: messaging.is_related(project, user_id) for name, user_id in ids.items()}
        assert may == {"backer": True, "follower": True, "asker": True, "lapsed": False, "stranger": False,
                       "deleted": False, "creator": False}
        for name in ("stranger", "lapsed", "deleted"):
            with pytest.raises(messaging.MessagingError) as refused:
                messaging.start(project, db.session.get(User, ids[name]), "你好")
            assert refused.value.code == "unrelated"
        with pytest.raises(messaging.MessagingError) as refused:
            messaging.start(project, db.session.get(User, ids["creator"]), "自言自语")
        assert refused.value.code == "self"
        db.session.rollback()
        assert db.session.scalar(db.select(db.func.count(MessageThread.id))) == 0, "nothing half-saved"


def test_a_thread_is_a_conversation_between_two_people_only(app, people):
    slug, ids = people
    with app.app_context():
        project, follower = load(slug, ids, "follower")
        first = messaging.start(project, follower, "  请问支持海外发货吗？\n谢谢  ", now=T0)
        thread = db.session.get(MessageThread, first.thread_id)
        assert first.body == "请问支持海外发货吗？\n谢谢", "trimmed, line breaks kept"
        again = messaging.start(project, follower, "补充一句", now=T0 + timedelta(minutes=1))
        assert again.thread_id == thread.id, "one thread per project and member"
        creator = db.session.get(User, ids["creator"])
        reply = messaging.send(thread, creator, "支持，运费另计。", now=T0 + timedelta(minutes=2))
        assert [m.body for m in messaging.messages_of(thread)] == ["请问支持海外发货吗？\n谢谢", "补充一句",
                                                                    "支持，运费另计。"]
        for outsider in ("stranger", "backer"):
            assert messaging.get_thread(thread.id, ids[outsider]) is None
            with pytest.raises(messaging.MessagingError) as refused:
                messaging.send(thread, db.session.get(User, ids[outsider]), "插一句")
            assert refused.value.code == "unrelated"
        assert messaging.get_thread(thread.id, ids["creator"]) is thread
        notices = db.session.scalars(db.select(Notification).filter_by(kind="message_received")
                                     .order_by(Notification.id)).all()
        assert [(n.user_id, n.key, n.link, n.project_id) for n in notices] == [
            (ids["creator"], f"message:{first.id}", f"/messages/{thread.id}", project.id),
            (ids["creator"], f"message:{again.id}", f"/messages/{thread.id}", project.id),
            (ids["follower"], f"message:{reply.id}", f"/messages/{thread.id}", project.id)]
        assert notices[0].params == {"name": "Follower", "title": project.title}


@pytest.mark.parametrize("body, code", [("", "empty"), ("   \n ", "empty"), ("字" * 2001, "too_long")])
def test_a_message_has_between_1_and_2000_characters(app, people, body, code):
    slug, ids = people
    with app.app_context():
        project, backer = load(slug, ids, "backer")
        with pytest.raises(messaging.MessagingError) as refused:
            messaging.start(project, backer, body)
        assert refused.value.code == code
        assert messaging.start(project, backer, "字" * 2000).body == "字" * 2000


@pytest.mark.parametrize("blocker", ["creator", "backer"])
def test_a_block_by_either_side_stops_messages_both_ways_until_lifted(app, people, blocker):
    slug, ids = people
    with app.app_context():
        project, backer = load(slug, ids, "backer")
        creator = db.session.get(User, ids["creator"])
        thread = db.session.get(MessageThread, messaging.start(project, backer, "你好").thread_id)
        blocked = "backer" if blocker == "creator" else "creator"
        messaging.block(ids[blocker], ids[blocked])
        messaging.block(ids[blocker], ids[blocked])  # a double click changes nothing
        assert messaging.is_blocked(ids["creator"], ids["backer"])
        assert messaging.is_blocked(ids["backer"], ids["creator"])
        for sender in (creator, backer):
            with pytest.raises(messaging.MessagingError) as refused:
                messaging.send(thread, sender, "还在吗")
            assert refused.value.code == "blocked"
        with pytest.raises(messaging.MessagingError) as refused:
            messaging.start(project, backer, "换个方式")
        assert refused.value.code == "blocked"
        messaging.unblock(ids[blocked], ids[blocker])
        assert messaging.is_blocked(ids["creator"], ids["backer"]), "only the blocker can lift a block"
        messaging.unblock(ids[blocker], ids[blocked])
        assert not messaging.is_blocked(ids["creator"], ids["backer"])
        assert messaging.send(thread, backer, "恢复了").body == "恢复了"


def test_a_block_covers_every_project_of_the_pair(app, people, make_project):
    slug, ids = people
    other_slug = make_project(status="live", creator=ids["creator"], paid=[(ids["backer"], 99_00, 0)])
    with app.app_context():
        messaging.block(ids["creator"], ids["backer"])
        other = db.session.scalar(db.select(Project).filter_by(slug=other_slug))
        with pytest.raises(messaging.MessagingError) as refused:
            messaging.start(other, db.session.get(User, ids["backer"]), "另一个项目")
        assert refused.value.code == "blocked"


def test_unread_counts_and_reading(app, people):
    slug, ids = people
    with app.app_context():
        project, backer = load(slug, ids, "backer")
        follower = db.session.get(User, ids["follower"])
        creator = db.session.get(User, ids["creator"])
        assert messaging.unread_count(ids["creator"]) == 0 and messaging.inbox(ids["creator"]) == ([], False)
        one = db.session.get(MessageThread, messaging.start(project, backer, "一", now=T0).thread_id)
        messaging.send(one, backer, "二", now=T0 + timedelta(minutes=1))
        two = db.session.get(MessageThread, messaging.start(project, follower, "三", now=T0 + timedelta(minutes=2))
                             .thread_id)
        assert messaging.unread_count(ids["creator"]) == 2, "counted in threads"
        assert messaging.unread_count(ids["backer"]) == 0, "what one sent oneself is read"
        rows, more = messaging.inbox(ids["creator"])
        assert not more
        assert [(r["thread"].id, r["other_name"], r["title"], r["unread"]) for r in rows] == [
            (two.id, "Follower", project.title, 1), (one.id, "Backer", project.title, 2)], "newest first"

        unread_notices = select(func.count(Notification.id)).where(
            Notification.user_id == ids["creator"], Notification.kind == "message_received",
            Notification.read_at.is_(None))
        assert db.session.scalar(unread_notices) == 3
        messaging.mark_read(one, ids["creator"], now=T0 + timedelta(minutes=3))
        assert messaging.unread_count(ids["creator"]) == 1
        assert db.session.scalar(unread_notices) == 1, "reading a thread reads its message notices, not others"
        messaging.send(one, creator, "收到", now=T0 + timedelta(minutes=4))
        assert messaging.unread_count(ids["backer"]) == 1
        assert [(r["thread"].id, r["unread"]) for r in messaging.inbox(ids["creator"])[0]] == [(one.id, 0), (two.id, 1)]
        assert [(r["other_name"], r["unread"]) for r in messaging.inbox(ids["backer"])[0]] == [
            (creator.display_name, 1)]
        messaging.send(one, backer, "好的", now=T0 + timedelta(minutes=5))
        assert messaging.unread_count(ids["backer"]) == 0, "replying means having read"
        assert messaging.inbox(ids["creator"])[0][0]["unread"] == 1, "only what came after the last read counts"


def test_a_message_is_reported_once_by_the_other_participant(app, people):
    slug, ids = people
    with app.app_context():
        project, asker = load(slug, ids, "asker")
        message = messaging.start(project, asker, "加我微信 spam")
        for who, code in (("asker", "own"), ("stranger", "unrelated")):
            with pytest.raises(messaging.MessagingError) as refused:
                messaging.report(message, ids[who], "广告")
            assert refused.value.code == code
        row = messaging.report(message, ids["creator"], "  广告  ")
        assert (row.target_kind, row.target_id, row.reporter_id, row.reason) == ("message", message.id,
                                                                                ids["creator"], "广告")
        with pytest.raises(messaging.MessagingError) as again:
            messaging.report(message, ids["creator"], "又是广告")
        assert again.value.code == "reported"
        db.session.rollback()
        assert db.session.scalar(db.select(db.func.count(Report.id))) == 1
        thread = db.session.get(MessageThread, message.thread_id)
        assert messaging.reported_in(thread, ids["creator"]) == {message.id}
        assert messaging.reported_in(thread, ids["asker"]) == set()


def test_page_context_offers_messaging_to_related_people_in_one_query(app, people):
    from tests.web.test_discovery import count_queries

    slug, ids = people
    with app.app_context():
        project, backer = load(slug, ids, "backer")
        stranger = db.session.get(User, ids["stranger"])
        creator = db.session.get(User, ids["creator"])
        with count_queries(app) as statements:
            assert messaging.page_context(project, backer) == {"message_contact": {"thread_id": None}}
        assert len(statements) == 1
        assert messaging.page_context(project, stranger) == {}
        assert messaging.page_context(project, creator) == {}
        message = messaging.start(project, backer, "你好")
        assert messaging.page_context(project, backer) == {"message_contact": {"thread_id": message.thread_id}}
        assert db.session.scalar(db.select(db.func.count(Message.id))) == 1
