"""Comments and questions on the project page, inline official replies, the moderators' queue and reports."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crowdfund import comments, updates
from crowdfund.extensions import db
from crowdfund.models import Comment, FaqEntry, Message, MessageThread, Notification, Project, Report, User
from crowdfund.models.base import utcnow
from tests.conftest import Browserless
from tests.web.test_discovery import _add_tiers, count_queries

@pytest.fixture
def site(app, make_project, make_user):
    """A live project; its creator, a backer, a stranger and a moderator, each with a browser of their own."""
    emails = dict(creator="maker@example.com", backer="backer@example.com", other="other@example.com",
                  moderator="mod@example.com")
    ids = dict(creator=make_user(email=emails["creator"], display_name="造物者", roles=["creator"]),
               backer=make_user(email=emails["backer"], display_name="支持者甲"),
               other=make_user(email=emails["other"], display_name="路人乙"),
               moderator=make_user(email=emails["moderator"], display_name="管理员", roles=["moderator"]))
    slug = make_project(status="live", creator=ids["creator"], paid=[(ids["backer"], 99_00, 0)])
    browsers = {}
    for name, email in emails.items():
        browsers[name] = Browserless(app.test_client())
        assert browsers[name].login(email=email).status_code == 303
    return dict(slug=slug, ids=ids, **browsers)


def post_comment(app, site, author, body, question=False, parent=None, ago=timedelta(0)):
    """Add a comment through the domain (for set-ups); returns its id."""
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=site["slug"]))
        comment = comments.add_comment(project, db.session.get(User, site["ids"][author]), body, is_question=question,
                                       parent=db.session.get(Comment, parent) if parent else None,
                                       now=utcnow() - ago)
        return comment.id


def text(response):
    return response.get_data(as_text=True)


def test_anonymous_readers_see_comments_but_need_an_account_to_post(app, client, site):
    question = post_comment(app, site, "backer", "**能寄到新疆吗？**", question=True)
    post_comment(app, site, "creator", "可以，包邮。", parent=question)
    page = text(client.get(f"/projects/{site['slug']}"))
    assert 'id="comments"' in page and "<strong>能寄到新疆吗？</strong>" in page and "可以，包邮。" in page
    assert "发起人回复" in page and 'id="comment_form"' in page
    assert f'href="/login?next=/projects/{site["slug"]}%23comments"' in page, "log in, then back to the comments"
    assert 'name="body"' not in page and "/reply" not in page, "no forms or reply links for anonymous readers"
    refused = Browserless(client).post(f"/projects/{site['slug']}/comments", {"body": "匿名"},
                                       form_path=f"/projects/{site['slug']}")
    assert refused.status_code in (302, 303) and "/login" in refused.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Comment.id))) == 2


def test_posting_a_question_plain_and_with_htmx(app, site):
    backer, slug = site["backer"], site["slug"]
    page = text(backer.client.get(f"/projects/{slug}"))
    assert 'name="csrf_token"' in page and 'name="body"' in page and 'name="is_question"' in page
    assert "这是向发起人提的问题" in page

    plain = backer.post(f"/projects/{slug}/comments", {"body": "什么时候发货？", "is_question": "y"})
    assert plain.status_code == 303
    with app.app_context():
        first = db.session.scalar(select(Comment).order_by(Comment.id.desc()))
        assert first.is_question and first.body == "什么时候发货？"
        (asked,) = db.session.scalars(select(Notification).filter_by(user_id=site["ids"]["creator"],
                                                                     kind="question_asked")).all()
        assert asked.project_id == first.project_id
    assert plain.headers["Location"].endswith(f"/projects/{slug}#comment-{first.id}")
    assert "你的问题已发布" in text(backer.client.get(plain.headers["Location"]))

    fragment = backer.post(f"/projects/{slug}/comments", {"body": "颜色好看"}, form_path=f"/projects/{slug}",
                           htmx=True)
    body = text(fragment)
    assert fragment.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<li id="comment-') and "颜色好看" in body, "the new entry, to put on top"
    assert 'id="comment_form"' in body and 'hx-swap-oob="true"' in body, "and an empty form, out of band"
    assert 'hx-swap="afterbegin"' in text(backer.client.get(f"/projects/{slug}")), "newest first"

    empty = backer.post(f"/projects/{slug}/comments", {"body": "  "}, htmx=True)
    assert empty.status_code == 422 and "请先写点内容" in text(empty) and "<html" not in text(empty)
    assert empty.headers["HX-Retarget"] == "#comment_form"
    too_long = backer.post(f"/projects/{slug}/comments", {"body": "长" * 2001})
    assert too_long.status_code == 422 and "<html" in text(too_long) and "2000" in text(too_long)
    assert "长" * 2001 in text(too_long), "what was typed comes back"


def test_the_creator_answers_inline_and_the_asker_is_told(app, site):
    slug, creator = site["slug"], site["creator"]
    question = post_comment(app, site, "backer", "有发票吗？", question=True)
    page = text(creator.client.get(f"/projects/{slug}"))
    reply_url = f"/comments/{question}/reply"
    assert f'href="{reply_url}" hx-get="{reply_url}" hx-target="#comment-{question}"' in page

    opened = creator.client.get(reply_url, headers={"HX-Request": "true"})
    block = text(opened)
    assert opened.status_code == 200 and "<html" not in block
    assert block.lstrip().startswith(f'<li id="comment-{question}"') and f'action="{reply_url}"' in block
    assert f'id="reply-body-{question}"' in block and "你的回答" in block
    assert "<html" in text(creator.client.get(reply_url)), "without JS it is a page of its own"

    answered = creator.post(reply_url, {"body": "有，电子发票。"})
    assert answered.status_code == 303 and answered.headers["Location"].endswith(f"/projects/{slug}#comment-{question}")
    page = text(creator.client.get(f"/projects/{slug}"))
    assert "发起人回复" in page and "有，电子发票。" in page and "已回答" in page

    moderator = site["moderator"]
    swapped = moderator.post(reply_url, {"body": "平台已核实。"}, form_path=f"/projects/{slug}", htmx=True)
    assert swapped.status_code == 200 and "<html" not in text(swapped) and "官方回复" in text(swapped)
    invalid = moderator.post(reply_url, {"body": ""}, form_path=f"/projects/{slug}", htmx=True)
    assert invalid.status_code == 422 and f'id="reply-body-{question}"' in text(invalid)
    with app.app_context():
        assert db.session.get(Comment, question).answered_at is not None
        assert db.session.scalar(select(func.count(Notification.id)).filter_by(
            user_id=site["ids"]["backer"], kind="question_answered")) == 1


def test_the_moderators_queue_lists_unanswered_questions_oldest_first(app, site):
    late = post_comment(app, site, "backer", "等了很久的问题", question=True, ago=timedelta(hours=30))
    fresh = post_comment(app, site, "other", "刚问的问题", question=True, ago=timedelta(hours=1))
    post_comment(app, site, "other", "普通评论")
    moderator = site["moderator"]
    assert "/moderation/questions" in text(moderator.client.get("/moderation/"))
    page = text(moderator.client.get("/moderation/questions"))
    assert page.index("等了很久的问题") < page.index("刚问的问题") and "普通评论" not in page
    assert re.search(rf'<li id="comment-{late}" class="[^"]*overdue', page) and "超过 24 小时未回复" in page
    assert not re.search(rf'<li id="comment-{fresh}" class="[^"]*overdue', page)
    assert site["backer"].client.get("/moderation/questions").status_code == 403

    reply_url = f"/comments/{late}/reply?from=queue"
    assert f'href="{reply_url}"' in page
    row = moderator.client.get(reply_url, headers={"HX-Request": "true"})
    assert "<html" not in text(row) and f'action="{reply_url}"' in text(row)
    done = moderator.post(reply_url, {"body": "已经在处理了。"}, form_path="/moderation/questions", htmx=True)
    assert done.status_code == 200 and "官方回复" in text(done) and "<html" not in text(done)
    plain = moderator.post(f"/comments/{fresh}/reply?from=queue", {"body": "好的"}, form_path="/moderation/questions")
    assert plain.status_code == 303 and plain.headers["Location"].endswith("/moderation/questions")
    assert "每个问题都有回答了" in text(moderator.client.get("/moderation/questions"))


def test_edit_within_ten_minutes_delete_and_report(app, site):
    slug, backer, other = site["slug"], site["backer"], site["other"]
    comment = post_comment(app, site, "backer", "写错了")
    edit_url = f"/comments/{comment}/edit"
    assert f'href="{edit_url}"' in text(backer.client.get(f"/projects/{slug}"))
    assert f'href="{edit_url}"' not in text(other.client.get(f"/projects/{slug}"))
    assert other.client.get(edit_url).status_code == 403
    edited = backer.post(edit_url, {"body": "改好了"}, form_path=f"/projects/{slug}", htmx=True)
    assert edited.status_code == 200 and "改好了" in text(edited) and "<html" not in text(edited)

    old = post_comment(app, site, "backer", "很早以前的评论", ago=timedelta(minutes=11))
    assert f'href="/comments/{old}/edit"' not in text(backer.client.get(f"/projects/{slug}"))
    late = backer.post(f"/comments/{old}/edit", {"body": "还想改"}, form_path=f"/projects/{slug}")
    assert late.status_code == 403 and "10 分钟" in text(late)

    assert other.post(f"/comments/{comment}/delete", {}, form_path=f"/projects/{slug}").status_code == 403
    reply = post_comment(app, site, "other", "回复一下", parent=comment)
    deleted = backer.post(f"/comments/{comment}/delete", {}, form_path=f"/projects/{slug}")
    assert deleted.status_code == 303
    page = text(backer.client.get(f"/projects/{slug}"))
    assert "此评论已删除" in page and "回复一下" in page and "改好了" not in page

    reported = backer.post(f"/comments/{reply}/report", {"reason": "跑题"}, form_path=f"/projects/{slug}",
                           htmx=True)
    assert reported.status_code == 200 and 'id="messages" hx-swap-oob="innerHTML"' in text(reported)
    entry = re.search(rf'<li id="comment-{reply}".*?</li>', text(reported), re.S).group(0)
    assert '<span class="tag" role="status">已举报</span>' in entry and "/report" not in entry, "said in place too"
    again = backer.post(f"/comments/{reply}/report", {}, form_path=f"/projects/{slug}")
    assert again.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(Report.id))) == 1
    assert other.post(f"/comments/{reply}/report", {}, form_path=f"/projects/{slug}").status_code == 403


def test_pages_of_comments_load_more_and_work_without_js(app, client, site):
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=site["slug"]))
        backer = db.session.get(User, site["ids"]["backer"])
        for i in range(25):
            comments.add_comment(project, backer, f"第{i:02d}条评论")
    slug = site["slug"]
    page = text(client.get(f"/projects/{slug}"))
    assert "第24条评论" in page and "第05条评论" in page and "第04条评论" not in page
    assert page.index("第24条评论") < page.index("第05条评论"), "newest first"
    with app.app_context():
        fifth = db.session.scalar(select(Comment.id).filter_by(body="第05条评论"))
    load_more = f"/projects/{slug}/comments?page=2&amp;before={fifth}"
    assert f'href="/projects/{slug}/comments?page=2" hx-get="{load_more}"' in page, "a real link, htmx loads in place"
    second = client.get(f"/projects/{slug}/comments?page=2")
    assert second.status_code == 200 and "<html" in text(second) and "第04条评论" in text(second)
    assert "第05条评论" not in text(second) and "?page=3" not in text(second)
    site["other"].post(f"/projects/{slug}/comments", {"body": "新来的评论"}, form_path=f"/projects/{slug}", htmx=True)
    more = client.get(load_more.replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert "<html" not in text(more) and text(more).lstrip().startswith("<li id=\"comment-")
    assert "第04条评论" in text(more) and "第00条评论" in text(more)
    assert "第05条评论" not in text(more), "a comment posted meanwhile does not repeat one already shown"
    assert client.get("/projects/nope/comments").status_code == 404


@pytest.mark.parametrize("reader", ["anonymous", "backer", "creator"])
def test_the_project_page_issues_the_same_queries_with_50_comments_and_10_tiers_as_with_none(app, client, site,
                                                                                               reader):
    slug = site["slug"]
    browser = client if reader == "anonymous" else site[reader].client

    def count():
        browser.get(f"/projects/{slug}")  # warm caches (categories and the like)
        with count_queries(app) as statements:
            assert browser.get(f"/projects/{slug}").status_code == 200
        return len(statements)

    empty = count()
    _add_tiers(app, slug, 10)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        people = [db.session.get(User, site["ids"][name]) for name in ("backer", "other", "creator")]
        for i in range(50):
            top = comments.add_comment(project, people[i % 2], f"评论 {i}", is_question=i % 5 == 0)
            comments.add_comment(project, people[2], f"回复 {i}", parent=top)
            comments.add_comment(project, people[(i + 1) % 2], f"再回复 {i}", parent=top)
        for i in range(5):
            updates.post(project, people[2], f"动态 {i}", f"进展 {i}", backers_only=i % 2 == 1)
        db.session.add(FaqEntry(project_id=project.id, question="问", answer_html="<p>答</p>"))
        db.session.commit()
    full = count()
    page = text(browser.get(f"/projects/{slug}"))
    assert "回复 49" in page and 'id="faq"' in page and "动态 4" in page and "加档9" in page
    assert full == empty, (empty, full)


def test_posting_is_rate_limited_per_account(make_app, site):
    app = make_app(RATELIMIT_COMMENT="2 per minute")
    browser = Browserless(app.test_client())
    browser.login(email="backer@example.com")
    slug = site["slug"]
    statuses = [browser.post(f"/projects/{slug}/comments", {"body": f"刷屏 {i}"}, form_path=f"/projects/{slug}")
                .status_code for i in range(3)]
    assert statuses == [303, 303, 429]
    limited = browser.post(f"/projects/{slug}/comments", {"body": "再来"}, form_path=f"/projects/{slug}", htmx=True)
    assert limited.status_code == 429 and limited.headers["HX-Retarget"] == "#messages"
    other = Browserless(app.test_client())
    other.login(email="other@example.com")
    assert other.post(f"/projects/{slug}/comments", {"body": "我没刷屏"}, form_path=f"/projects/{slug}").status_code \
        == 303, "the limit is per account"


def test_answered_questions_go_into_the_faq(app, client, site):
    slug = site["slug"]
    question = post_comment(app, site, "backer", "支持七天无理由吗？", question=True)
    assert 'id="faq"' not in text(client.get(f"/projects/{slug}")), "no empty FAQ section"
    post_comment(app, site, "creator", "支持。", parent=question)
    creator_page = text(site["creator"].client.get(f"/projects/{slug}"))
    assert f'action="/comments/{question}/faq"' in creator_page
    assert f'action="/comments/{question}/faq"' not in text(site["backer"].client.get(f"/projects/{slug}"))
    assert site["backer"].post(f"/comments/{question}/faq", {}, form_path=f"/projects/{slug}").status_code == 403
    promoted = site["creator"].post(f"/comments/{question}/faq", {}, form_path=f"/projects/{slug}")
    assert promoted.status_code == 303 and promoted.headers["Location"].endswith("#faq")
    page = text(client.get(f"/projects/{slug}"))
    assert 'id="faq"' in page and page.index('id="faq"') < page.index("支持七天无理由吗？")
    with app.app_context():
        entry_id = db.session.scalar(select(FaqEntry.id))
    assert site["other"].post(f"/faq/{entry_id}/remove", {}, form_path=f"/projects/{slug}").status_code == 403
    assert site["moderator"].post(f"/faq/{entry_id}/remove", {}, form_path=f"/projects/{slug}").status_code == 303
    assert 'id="faq"' not in text(client.get(f"/projects/{slug}"))


def test_comments_exist_only_on_public_projects(app, make_project, site):
    draft = make_project(status="draft", creator=site["ids"]["creator"])
    assert site["creator"].client.get(f"/projects/{draft}/comments").status_code == 404
    assert site["backer"].post(f"/projects/{draft}/comments", {"body": "?"},
                               form_path=f"/projects/{site['slug']}").status_code == 404


def test_my_projects_flags_questions_waiting_over_24_hours(app, site):
    post_comment(app, site, "backer", "一天了还没回", question=True, ago=timedelta(hours=25))
    post_comment(app, site, "other", "刚问", question=True)
    page = text(site["creator"].client.get("/me/projects"))
    assert "2 个问题等待你的回复" in page and "1 个超过 24 小时" in page
    assert re.search(r'class="questions-waiting overdue"', page)
    assert f'href="/projects/{site["slug"]}/comments?open=1"' in page
    waiting = text(site["creator"].client.get(f"/projects/{site['slug']}/comments?open=1"))
    assert "一天了还没回" in waiting and "刚问" in waiting and "超过 24 小时未回复" in waiting


def test_the_reply_rate_shows_on_the_project_page(app, client, site):
    assert "24 小时内回答" not in text(client.get(f"/projects/{site['slug']}")), "nothing without questions"
    question = post_comment(app, site, "backer", "问一下", question=True, ago=timedelta(hours=30))
    post_comment(app, site, "creator", "回答", parent=question, ago=timedelta(hours=29))
    post_comment(app, site, "backer", "没人回", question=True, ago=timedelta(hours=26))
    assert "发起人在 24 小时内回答了 50% 的问题" in text(client.get(f"/projects/{site['slug']}"))


def reported_message(app, site, body):
    """The backer wrote `body` to the creator, who reported it; returns (thread id, message id, report id)."""
    with app.app_context():
        project = db.session.scalar(select(Project).filter_by(slug=site["slug"]))
        thread = MessageThread(project_id=project.id, creator_id=site["ids"]["creator"],
                               member_id=site["ids"]["backer"])
        db.session.add(thread)
        db.session.flush()
        message = Message(thread_id=thread.id, sender_id=site["ids"]["backer"], body=body)
        db.session.add(message)
        db.session.flush()
        report = Report(target_kind="message", target_id=message.id, reporter_id=site["ids"]["creator"])
        db.session.add(report)
        db.session.commit()
        return thread.id, message.id, report.id


def test_moderators_settle_reports_of_comments_and_messages(app, site):
    comment = post_comment(app, site, "other", "加微信领红包")
    site["backer"].post(f"/comments/{comment}/report", {"reason": "广告"}, form_path=f"/projects/{site['slug']}")
    _, message_id, message_report = reported_message(app, site, "难听的私信")
    with app.app_context():
        comment_report = db.session.scalar(select(Report.id).where(Report.target_kind == "comment"))
    moderator = site["moderator"]
    assert site["backer"].client.get("/moderation/reports").status_code == 403
    page = text(moderator.client.get("/moderation/reports"))
    assert "加微信领红包" in page and "难听的私信" in page and "广告" in page
    assert page.index("加微信领红包") < page.index("难听的私信"), "oldest first"
    deleted = moderator.post(f"/moderation/reports/{comment_report}", {"action": "delete"},
                             form_path="/moderation/reports")
    assert deleted.status_code == 303
    dismissed = moderator.post(f"/moderation/reports/{message_report}", {"action": "dismiss"},
                               form_path="/moderation/reports", htmx=True)
    assert dismissed.status_code == 200 and f'id="report-message-{message_id}"' in text(dismissed)
    assert "<html" not in text(dismissed)
    with app.app_context():
        assert db.session.get(Comment, comment).deleted_at is not None
        assert db.session.scalar(select(func.count(Report.id)).where(Report.resolved_at.is_(None))) == 0
    assert "没有待处理的举报" in text(moderator.client.get("/moderation/reports"))


def test_a_moderator_hides_a_reported_private_message_from_both_sides(app, site):
    thread_id, _, report_id = reported_message(app, site, "骚扰内容")
    moderator = site["moderator"]
    assert "隐藏私信" in text(moderator.client.get("/moderation/reports"))
    hidden = moderator.post(f"/moderation/reports/{report_id}", {"action": "delete"}, form_path="/moderation/reports")
    assert hidden.status_code == 303
    assert "私信已隐藏" in text(moderator.client.get(hidden.headers["Location"]))
    for side in ("creator", "backer"):
        page = text(site[side].client.get(f"/messages/{thread_id}"))
        assert "骚扰内容" not in page and "管理员已隐藏这条被举报的私信" in page
