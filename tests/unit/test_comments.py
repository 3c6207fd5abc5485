"""Comments and questions (SPEC 3.1, 3.6): replies, official answers, edits, deletes, reports, reminders, FAQ."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crowdfund import comments, delivery, reports
from crowdfund.comments import CommentError
from crowdfund.extensions import db
from crowdfund.models import (Comment, FaqEntry, Message, MessageThread, Notification, Project, ProjectStatus, Report,
                              User)
from crowdfund.models.base import utcnow
from crowdfund.queueing import PERIODIC_JOBS, enqueue, run_periodic
from tests.conftest import wait_for

T0 = utcnow().replace(microsecond=0) - timedelta(days=3)  # every time below is T0 plus an explicit offset


@pytest.fixture
def people(make_project, make_user):
    """A live project by a creator, one backer of it, someone else, and a moderator (ids and the slug)."""
    creator = make_user(email="maker@example.com", display_name="造物者", roles=["creator"])
    backer = make_user(email="backer@example.com", display_name="支持者甲")
    other = make_user(email="other@example.com", display_name="路人乙")
    moderator = make_user(email="mod@example.com", display_name="管理员", roles=["moderator"])
    slug = make_project(status="live", creator=creator, paid=[(backer, 99_00, 0)])
    return dict(creator=creator, backer=backer, other=other, moderator=moderator, slug=slug)


def load(people):
    """(project, {name: User}) in the current app context."""
    project = db.session.scalar(select(Project).filter_by(slug=people["slug"]))
    return project, {name: db.session.get(User, people[name]) for name in ("creator", "backer", "other", "moderator")}


def notices(user_id, kind):
    return db.session.scalars(select(Notification).filter_by(user_id=user_id, kind=kind)
                              .order_by(Notification.id)).all()


def test_a_question_notifies_the_creator_and_the_first_official_reply_answers_it(app, people):
    with app.app_context():
        project, u = load(people)
        question = comments.add_comment(project, u["backer"], "什么时候发货？", is_question=True, now=T0)
        (asked,) = notices(u["creator"].id, "question_asked")
        assert asked.project_id == project.id and asked.link == f"/comments/{question.id}"
        assert asked.params == {"name": "支持者甲", "title": project.title}
        assert question.answered_at is None

        chat = comments.add_comment(project, u["other"], "我也想知道", parent=question, now=T0 + timedelta(hours=1))
        assert chat.reply_role is None and question.answered_at is None, "a backer's reply does not answer"
        answer = comments.add_comment(project, u["creator"], "下个月。", parent=question, now=T0 + timedelta(hours=2))
        assert answer.reply_role == "creator" and answer.parent_id == question.id
        assert question.answered_at == T0 + timedelta(hours=2)
        (told,) = notices(u["backer"].id, "question_answered")
        assert told.link == f"/comments/{question.id}#comment-{answer.id}", "the thread's page, whatever page it is on"

        official = comments.add_comment(project, u["moderator"], "平台已核实。", parent=question,
                                        now=T0 + timedelta(hours=3))
        assert official.reply_role == "moderator"
        assert question.answered_at == T0 + timedelta(hours=2), "answered_at is the first official reply"
        assert len(notices(u["backer"].id, "question_answered")) == 1, "the asker hears of the answer once"
        assert notices(u["backer"].id, "comment_replied"), "later replies are ordinary reply notices"
        assert not notices(u["creator"].id, "comment_replied"), "nobody hears of their own reply"


def test_replies_are_one_level_deep(app, people):
    with app.app_context():
        project, u = load(people)
        top = comments.add_comment(project, u["backer"], "做得真好", now=T0)
        first = comments.add_comment(project, u["other"], "同意", parent=top, now=T0)
        second = comments.add_comment(project, u["creator"], "谢谢两位", parent=first, now=T0)
        assert second.parent_id == top.id, "a reply to a reply joins the top-level thread"
        assert [r.id for r in comments.thread(second).items[0].replies] == [first.id, second.id]
        assert not top.is_question and not second.is_question
        assert {n.user_id for n in db.session.scalars(select(Notification).filter_by(kind="comment_replied"))} == {
            u["backer"].id, u["other"].id}, "the thread's author and the reply's author both hear of it"


def test_bodies_are_sanitized_and_limited(app, people, make_project):
    with app.app_context():
        project, u = load(people)
        comment = comments.add_comment(project, u["backer"],
                                       "**好** <script>alert(1)</script><a href=\"javascript:x\">x</a>")
        assert "<strong>好</strong>" in comment.body_html
        assert "<script" not in comment.body_html and "javascript:" not in comment.body_html
        for body, code in (("   ", "empty"), ("字" * (comments.BODY_MAX + 1), "too_long")):
            with pytest.raises(CommentError) as refused:
                comments.add_comment(project, u["backer"], body)
            assert refused.value.code == code
        assert comments.add_comment(project, u["backer"], "字" * comments.BODY_MAX).body
    draft_slug = make_project(status="draft")
    with app.app_context():
        draft = db.session.scalar(select(Project).filter_by(slug=draft_slug))
        with pytest.raises(CommentError) as refused:
            comments.add_comment(draft, db.session.get(User, people["backer"]), "抢先评论")
        assert refused.value.code == "closed", "only public projects take comments"


def test_the_author_may_edit_within_ten_minutes(app, people):
    with app.app_context():
        project, u = load(people)
        comment = comments.add_comment(project, u["backer"], "错别字", now=T0)
        assert comments.can_edit(comment, u["backer"], now=T0 + timedelta(minutes=10))
        assert not comments.can_edit(comment, u["other"], now=T0)
        comments.edit_comment(comment, u["backer"], "*改好了*", now=T0 + timedelta(minutes=9))
        assert comment.body_html == "<p><em>改好了</em></p>" and comment.edited_at == T0 + timedelta(minutes=9)
        with pytest.raises(CommentError) as late:
            comments.edit_comment(comment, u["backer"], "再改", now=T0 + timedelta(minutes=11))
        assert late.value.code == "edit_window"
        assert not comments.can_edit(comment, u["backer"], now=T0 + timedelta(minutes=11))
        with pytest.raises(CommentError) as stranger:
            comments.edit_comment(comment, u["other"], "别人的", now=T0)
        assert stranger.value.code == "owner"
        assert comment.body == "*改好了*"


def test_soft_delete_by_the_author_or_a_moderator_keeps_the_replies(app, people):
    with app.app_context():
        project, u = load(people)
        question = comments.add_comment(project, u["backer"], "能退款吗？", is_question=True, now=T0)
        answer = comments.add_comment(project, u["creator"], "可以。", parent=question, now=T0 + timedelta(hours=1))
        for someone in (u["other"], u["creator"]):
            with pytest.raises(CommentError) as refused:
                comments.delete_comment(question, someone)
            assert refused.value.code == "owner", "only the author or a moderator deletes"
        comments.delete_comment(answer, u["moderator"], now=T0 + timedelta(hours=2))
        assert answer.deleted_at and answer.deleted_by_id == u["moderator"].id
        assert question.answered_at is None, "a deleted answer no longer answers the question"
        comments.delete_comment(question, u["backer"])
        assert db.session.scalar(select(func.count(Comment.id))) == 2, "nothing is removed from the table"
        assert [r.id for r in comments.thread(question).items[0].replies] == [answer.id]
        with pytest.raises(CommentError) as refused:
            comments.add_comment(project, u["other"], "还在吗", parent=question)
        assert refused.value.code == "deleted"


def test_a_comment_is_reported_once_per_person(app, people):
    with app.app_context():
        project, u = load(people)
        comment = comments.add_comment(project, u["backer"], "广告广告")
        assert comments.report_comment(comment, u["other"], "垃圾广告") is True
        assert comments.report_comment(comment, u["other"]) is False
        assert comments.report_comment(comment, u["creator"]) is True
        with pytest.raises(CommentError) as own:
            comments.report_comment(comment, u["backer"])
        assert own.value.code == "own"
        reports = db.session.scalars(select(Report).order_by(Report.id)).all()
        assert [(r.target_kind, r.target_id, r.reporter_id, r.reason) for r in reports] == [
            ("comment", comment.id, u["other"].id, "垃圾广告"), ("comment", comment.id, u["creator"].id, "")]


def test_moderators_see_reports_grouped_and_settle_them(app, people):
    with app.app_context():
        project, u = load(people)
        spam = comments.add_comment(project, u["other"], "加微信领红包", now=T0)
        comments.report_comment(spam, u["backer"], now=T0 + timedelta(hours=1))
        comments.report_comment(spam, u["creator"], now=T0 + timedelta(hours=2))
        thread = MessageThread(project_id=project.id, creator_id=u["creator"].id, member_id=u["backer"].id)
        db.session.add(thread)
        db.session.flush()
        message = Message(thread_id=thread.id, sender_id=u["backer"].id, body="骂人的私信")
        db.session.add(message)
        db.session.flush()
        db.session.add(Report(target_kind="message", target_id=message.id, reporter_id=u["creator"].id,
                              created_at=T0 + timedelta(minutes=90)))
        db.session.commit()

        items = reports.open_reports()
        assert [(i.kind, i.target_id) for i in items] == [("comment", spam.id), ("message", message.id)], \
            "one item per reported thing, oldest report first"
        assert [reporter.id for _, reporter in items[0].reports] == [u["backer"].id, u["creator"].id]
        assert items[1].message.body == "骂人的私信" and items[1].sender.id == u["backer"].id

        first_report = items[0].reports[0][0]
        with pytest.raises(CommentError):
            reports.resolve_reports(first_report, u["other"], delete=True)
        assert reports.resolve_reports(first_report, u["moderator"], delete=True) == 2
        assert db.session.get(Comment, spam.id).deleted_at is not None
        assert reports.resolve_reports(items[1].reports[0][0], u["moderator"], delete=True) == 1
        assert db.session.get(Message, message.id).hidden_at is not None, "a reported message can be hidden"
        assert reports.open_reports() == []


def test_the_creator_is_reminded_at_12_and_24_hours_once_each(app, people):
    with app.app_context():
        project, u = load(people)
        question = comments.add_comment(project, u["backer"], "有保修吗？", is_question=True, now=T0)
        answered = comments.add_comment(project, u["other"], "颜色？", is_question=True, now=T0)
        comments.add_comment(project, u["creator"], "红色", parent=answered, now=T0 + timedelta(hours=1))
        comments.add_comment(project, u["creator"], "自问自答", is_question=True, now=T0)

        assert comments.remind_unanswered(now=T0 + timedelta(hours=11, minutes=59)) == 0
        assert comments.remind_unanswered(now=T0 + timedelta(hours=12)) == 1
        assert comments.remind_unanswered(now=T0 + timedelta(hours=13)) == 0, "the 12-hour reminder goes once"
        assert comments.remind_unanswered(now=T0 + timedelta(hours=24)) == 1
        assert comments.remind_unanswered(now=T0 + timedelta(hours=30)) == 0, "and so does the 24-hour one"
        waiting = notices(u["creator"].id, "question_waiting")
        assert [(n.key, n.params["hours"]) for n in waiting] == [(f"question12:{question.id}", 12),
                                                                 (f"question24:{question.id}", 24)]
        assert all(n.project_id == project.id and n.link == f"/comments/{question.id}" for n in waiting)


def test_a_late_first_run_sends_only_the_24_hour_reminder(app, people):
    with app.app_context():
        project, u = load(people)
        comments.add_comment(project, u["backer"], "在吗？", is_question=True, now=T0)
        assert comments.remind_unanswered(now=T0 + timedelta(hours=26)) == 1
        assert [n.params["hours"] for n in notices(u["creator"].id, "question_waiting")] == [24]


def test_no_reminders_while_a_project_is_suspended(app, people):
    with app.app_context():
        project, u = load(people)
        comments.add_comment(project, u["backer"], "还发货吗？", is_question=True, now=T0)
        project.status = ProjectStatus.SUSPENDED
        db.session.commit()
        assert comments.remind_unanswered(now=T0 + timedelta(hours=12)) == 0


def test_reminders_run_in_a_real_worker(redis_app, rq_worker, make_project, make_user):
    creator = make_user(email="busy@example.com", roles=["creator"])
    asker = make_user(email="asker@example.com")
    slug = make_project(status="live", creator=creator)
    with redis_app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=slug))
        question = comments.add_comment(project, db.session.get(User, asker), "多久回复？", is_question=True,
                                        now=utcnow() - timedelta(hours=13))
        question_id = question.id
        name = f"{comments.remind_unanswered.__module__}.{comments.remind_unanswered.__name__}"
        assert name in {job.name for job in PERIODIC_JOBS}
        jobs = [enqueue(run_periodic, name), enqueue(run_periodic, name)]
    for job in jobs:
        wait_for(lambda job=job: job.get_status(refresh=True) == "finished", timeout=30)

    def keys():
        with redis_app.app_context():
            return db.session.scalars(select(Notification.key).filter_by(user_id=creator,
                                                                         kind="question_waiting")).all()

    assert keys() == [f"question12:{question_id}"], "run twice, told once"


def test_reply_rate_over_the_last_30_days(app, people):
    now = utcnow()
    with app.app_context():
        project, u = load(people)

        def ask(hours_ago, answer_after=None, author=u["backer"]):
            asked = now - timedelta(hours=hours_ago)
            question = comments.add_comment(project, author, "问题", is_question=True, now=asked)
            if answer_after is not None:
                comments.add_comment(project, u["creator"], "回答", parent=question,
                                     now=asked + timedelta(hours=answer_after))

        assert comments.reply_rate(u["creator"].id, now=now).percent is None, "nothing to say without questions"
        ask(48, answer_after=2)  # in time
        ask(72, answer_after=30)  # late
        ask(25)  # unanswered past 24 h: counts against
        ask(2)  # unanswered, still inside its 24 hours: not counted
        ask(3, answer_after=1)  # answered quickly: counts even though it is young
        ask(31 * 24, answer_after=1)  # outside the 30 days
        ask(30, author=u["creator"])  # the creator's own question
        covered = comments.add_comment(project, u["other"], "问题", is_question=True, now=now - timedelta(hours=40))
        comments.add_comment(project, u["moderator"], "官方回答", parent=covered, now=now - timedelta(hours=39))
        assert covered.answered_at is not None, "answered for the queue and the asker…"
        ask(50, answer_after=30)  # late, although …
        late = db.session.scalars(select(Comment).where(Comment.is_question.is_(True))
                                  .order_by(Comment.created_at)).all()[1]
        comments.add_comment(project, u["moderator"], "官方先答", parent=late, now=late.created_at + timedelta(hours=1))
        # … neither counts for the creator: a moderator answering does not make the creator responsive.
        rate = comments.reply_rate(u["creator"].id, now=now)
        assert (rate.asked, rate.in_time, rate.percent) == (6, 2, 33)
        record = delivery.reliability(u["creator"].id)
        assert (record.questions, record.answered_in_time, record.reply_percent) == (6, 2, 33)
        assert record.score is None, "answering questions alone is no delivery record"


def test_reliability_weights_reply_rate_a_fifth():
    record = delivery.Reliability(due=1, on_time=1, shipped=1, confirmed=1, ratings=1, rating_sum=5)
    assert record.score == 100 and record.reply_percent is None
    half = delivery.Reliability(due=1, on_time=1, shipped=1, confirmed=1, ratings=1, rating_sum=5, questions=2,
                                answered_in_time=1)
    assert half.score == 90, "40 + 20 + 20 + 20 × 50%"


def test_answered_questions_go_into_the_faq_once(app, people):
    with app.app_context():
        project, u = load(people)
        question = comments.add_comment(project, u["backer"], "支持花呗吗？", is_question=True, now=T0)
        with pytest.raises(CommentError) as refused:
            comments.promote_to_faq(question, u["creator"])
        assert refused.value.code == "unanswered"
        comments.add_comment(project, u["creator"], "**支持**。", parent=question, now=T0)
        for someone in (u["backer"], u["other"]):
            with pytest.raises(CommentError) as refused:
                comments.promote_to_faq(question, someone)
            assert refused.value.code == "official"
        entry = comments.promote_to_faq(question, u["creator"])
        assert (entry.question, entry.answer_html) == ("支持花呗吗？", "<p><strong>支持</strong>。</p>")
        assert comments.promote_to_faq(question, u["moderator"]).id == entry.id, "promoting twice changes nothing"
        assert [e.id for e in comments.faq_entries(project)] == [entry.id]
        with pytest.raises(CommentError):
            comments.remove_faq(entry, u["backer"])
        comments.remove_faq(entry, u["moderator"])
        assert db.session.scalar(select(func.count(FaqEntry.id))) == 0
        assert db.session.get(Comment, question.id).deleted_at is None, "the question stays in the comments"


def test_the_faq_follows_deletions_in_the_thread(app, people):
    with app.app_context():
        project, u = load(people)
        question = comments.add_comment(project, u["backer"], "包邮吗？", is_question=True, now=T0)
        first = comments.add_comment(project, u["creator"], "包邮。", parent=question, now=T0)
        comments.add_comment(project, u["moderator"], "全国包邮，港澳台除外。", parent=question, now=T0)
        entry_id = comments.promote_to_faq(question, u["creator"]).id
        comments.delete_comment(first, u["moderator"])  # e.g. reported
        assert db.session.get(FaqEntry, entry_id).answer_html == "<p>全国包邮，港澳台除外。</p>"
        comments.delete_comment(question, u["backer"])
        assert db.session.get(FaqEntry, entry_id) is None, "a deleted question leaves the FAQ"


def test_officials_are_the_creator_and_moderators(app, people):
    with app.app_context():
        project, u = load(people)
        assert comments.is_official(u["creator"], project) and comments.is_official(u["moderator"], project)
        assert not comments.is_official(u["backer"], project) and not comments.is_official(None, project)


def test_pages_are_newest_first_and_questions_wait_in_the_queue(app, people, make_project):
    other_slug = make_project(status="live")
    with app.app_context():
        project, u = load(people)
        elsewhere = db.session.scalar(select(Project).filter_by(slug=other_slug))
        posted = [comments.add_comment(project, u["backer"], f"第{i}条", is_question=i in (3, 7),
                                       now=T0 + timedelta(hours=i)) for i in range(25)]
        comments.add_comment(project, u["creator"], "答", parent=posted[7], now=T0 + timedelta(hours=30))
        oldest = comments.add_comment(elsewhere, u["other"], "最早的问题", is_question=True, now=T0 - timedelta(days=1))
        first = comments.threads(project)
        assert [c.id for c in first.items] == [c.id for c in reversed(posted)][:comments.PAGE_SIZE] and first.more
        second = comments.threads(project, page=2)
        assert [c.id for c in second.items] == [c.id for c in reversed(posted[:5])] and not second.more
        assert comments.page_of(posted[0]) == 2 and comments.page_of(posted[24]) == 1
        comments.add_comment(project, u["other"], "翻页时新来的", now=T0 + timedelta(days=2))
        after = comments.threads(project, before=posted[5].id)
        assert [c.id for c in after.items] == [c.id for c in second.items], "paging by the last one shown"
        assert first.backers == {c.id for c in posted[5:]}, "the backer badge comes from the same query"
        assert [c.id for c in comments.threads(project, open_only=True).items] == [posted[3].id]

        queue = comments.open_questions().items
        assert [c.id for c in queue] == [oldest.id, posted[3].id], "unanswered questions, oldest first"
        counts = comments.waiting_counts([project.id, elsewhere.id], now=T0 + timedelta(hours=26))
        assert counts == {project.id: (1, 0), elsewhere.id: (1, 1)}, "(waiting, of which over 24 hours)"
