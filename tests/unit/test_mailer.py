"""Notification e-mail (SPEC 3.5): delivered to a real SMTP server, in the reader's language, once, as they chose."""
from datetime import timedelta

import pytest

from crowdfund import mailer, notifications, pledging, refunds
from crowdfund.extensions import db
from crowdfund.models import EmailOptOut, Notification, Pledge, Project, SandboxTrade, User
from crowdfund.models.base import utcnow
from tests.conftest import wait_for


@pytest.fixture
def mail(app, smtp_server):
    """The test app sending to the test SMTP server; returns the server's inbox."""
    app.config.update(MAIL_ENABLED=True, MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port,
                      SITE_URL="https://crowdfund.example")
    return smtp_server.inbox


def project_of(app, make_project, **kwargs):
    slug = make_project(**kwargs)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        return project.id, project.title


def answer(app, user_id, project_id, title, key="answer:1", **extra):
    """The notification a question's author gets when it is answered, committed as a domain function would."""
    with app.app_context():
        notifications.notify(user_id, "question_answered", link="/projects/abc#comment-1", project_id=project_id,
                             key=key, title=title, **extra)
        db.session.commit()
        return db.session.scalar(db.select(Notification.id).filter_by(user_id=user_id, key=key))


def parts(message):
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def test_a_new_notification_is_mailed_at_once_with_text_html_link_and_unsubscribe(app, mail, make_user, make_project):
    project_id, title = project_of(app, make_project)
    user = make_user(email="asker@example.com", display_name="小明")
    answer(app, user, project_id, title)

    [message] = mail.messages
    assert mail.envelopes[0].rcpt_tos == ["asker@example.com"]
    assert message["To"].addresses[0].addr_spec == "asker@example.com"
    assert message["Subject"] == f"你对“{title}”的提问已有回复。"
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert "小明" in text and "https://crowdfund.example/projects/abc#comment-1" in text
    assert 'href="https://crowdfund.example/projects/abc#comment-1"' in html and "<html" in html
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://crowdfund.example/unsubscribe/") and unsubscribe.endswith(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"List-Unsubscribe: {unsubscribe}\r\n".encode() in mail.envelopes[0].original_content, \
        "on one line, not folded into an encoded word mail clients would not read"
    assert unsubscribe[1:-1] in text and unsubscribe[1:-1] in html
    assert "https://crowdfund.example/account/notifications/settings" in text


def test_the_mail_speaks_the_readers_language(app, mail, make_user, make_project):
    project_id, title = project_of(app, make_project)
    user = make_user()
    with app.app_context():
        db.session.get(User, user).locale = "en"
        db.session.commit()
    answer(app, user, project_id, title)
    [message] = mail.messages
    assert message["Subject"] == f"Your question about “{title}” was answered."
    assert "Stop e-mails like this one" in parts(message)[0]


def test_money_and_in_app_only_kinds(app, mail, make_user, make_project):
    project_id, title = project_of(app, make_project)
    user = make_user()
    with app.app_context():
        notifications.notify(user, "pledge_paid", link="/me/pledges/1", project_id=project_id, key="paid:1",
                             title=title, amount_fen=123_45)
        notifications.notify(user, "comment_replied", link="/projects/abc", project_id=project_id, key="reply:1",
                             name="Bo", title=title)  # in-app only
        db.session.commit()
    [message] = mail.messages
    assert "¥123.45" in message["Subject"]


def test_a_savepoint_inside_the_transaction_does_not_send_before_the_commit(app, mail, make_user, make_project):
    """Releasing a savepoint (begin_nested, e.g. booking points) fires SQLAlchemy's after_commit too: wait for the real one."""
    project_id, title = project_of(app, make_project)
    user = make_user()
    with app.app_context():
        notifications.notify(user, "pledge_paid", link="/me/pledges/1", project_id=project_id, key="paid:1",
                             title=title, amount_fen=123_45)
        with db.session.begin_nested():
            pass
        assert mail.messages == [], "nothing is committed yet"
        db.session.commit()
    [message] = mail.messages
    assert "¥123.45" in message["Subject"]


def test_opt_outs_by_group_by_project_and_for_everything(app, mail, make_user, make_project):
    first, title = project_of(app, make_project)
    second, other_title = project_of(app, make_project)
    user = make_user()
    with app.app_context():
        notifications.set_project_email(user, first, False)
    answer(app, user, first, title, key="a1")
    answer(app, user, second, other_title, key="a2")
    assert [m["Subject"] for m in mail.messages] == [f"你对“{other_title}”的提问已有回复。"]

    with app.app_context():
        notifications.save_email_settings(user, True, {"questions": False})
    answer(app, user, second, other_title, key="a3")
    with app.app_context():
        notifications.notify(user, "update_posted", link="/projects/x", project_id=second, key="u1",
                             title=other_title, update="进展")
        db.session.commit()
    assert len(mail.messages) == 2 and "进展" in mail.messages[1]["Subject"]

    with app.app_context():
        notifications.save_email_settings(user, False, {})
        notifications.notify(user, "update_posted", link="/projects/x", project_id=second, key="u2",
                             title=other_title, update="又一次")
        db.session.commit()
        # Every notification was handled once: the muted ones are claimed too, so no later run mails them.
        assert db.session.scalar(db.select(db.func.count(Notification.id)).where(
            Notification.emailed_at.is_(None))) == 0
    assert len(mail.messages) == 2


def test_running_the_senders_again_sends_nothing_twice(app, mail, make_user, make_project):
    project_id, title = project_of(app, make_project)
    user = make_user()
    notification_id = answer(app, user, project_id, title)
    with app.app_context():
        assert mailer.send_email(notification_id) == "skipped"
        assert mailer.send_pending_emails() == 0
    assert len(mail.messages) == 1


def test_a_fan_out_is_mailed_by_the_catch_up_job_in_batches(app, mail, make_user, make_project):
    project_id, title = project_of(app, make_project)
    users = [make_user() for _ in range(mailer.IMMEDIATE + 5)]
    with app.app_context():
        assert notifications.notify_many(users, "update_posted", "update:7", link="/projects/x",
                                         project_id=project_id, title=title, update="第一批") == len(users)
        db.session.commit()  # more than IMMEDIATE at once: one catch-up run sends them all
    assert sorted(e.rcpt_tos[0] for e in mail.envelopes) == sorted(f"user{i}@example.com"
                                                                    for i in range(1, len(users) + 1))
    with app.app_context():
        assert notifications.notify_many(users, "update_posted", "update:7", project_id=project_id,
                                         title=title, update="第一批") == 0
        db.session.commit()
        assert mailer.send_pending_emails(batch=7) == 0
    assert len(mail.envelopes) == len(users)


def test_catch_up_sends_what_was_left_batch_by_batch_and_ignores_old_ones(app, mail, make_user, make_project):
    project_id, title = project_of(app, make_project)
    users = [make_user() for _ in range(5)]
    app.config["MAIL_ENABLED"] = False  # as if the jobs were lost: nothing sent at commit time
    with app.app_context():
        notifications.notify_many(users, "project_ending", "ending:1", link="/projects/x", project_id=project_id,
                                  hours=47, title=title)
        notifications.notify(users[0], "project_ending", link="/projects/x", project_id=project_id, key="old", hours=47,
                             title=title)
        db.session.commit()
        old = db.session.scalar(db.select(Notification).filter_by(key="old"))
        old.created_at = utcnow() - timedelta(hours=mailer.CATCH_UP_HOURS + 1)
        db.session.commit()
    app.config["MAIL_ENABLED"] = True
    with app.app_context():
        assert mailer.send_pending_emails(batch=2) == 5
        assert mailer.send_pending_emails() == 0
    assert len(mail.envelopes) == 5


def test_a_refusing_server_gets_the_mail_later_and_a_dead_address_is_not_retried(app, mail, make_user,
                                                                                  make_project):
    project_id, title = project_of(app, make_project)
    user = make_user()
    mail.refuse = "451 4.3.0 Try again later"
    notification_id = answer(app, user, project_id, title)
    with app.app_context():
        assert db.session.get(Notification, notification_id).emailed_at is None  # released for a retry
        with pytest.raises(mailer.SendFailed):
            mailer.send_email(notification_id)
        mail.refuse = None
        assert mailer.send_pending_emails() == 1
    assert len(mail.messages) == 1

    mail.refuse = "550 5.1.1 No such mailbox"
    second = answer(app, user, project_id, title, key="answer:2")
    with app.app_context():
        assert db.session.get(Notification, second).emailed_at is not None  # given up, never sent twice
        mail.refuse = None
        assert mailer.send_pending_emails() == 0
    assert len(mail.messages) == 1


def test_an_unreachable_server_leaves_the_mail_for_later(app, mail, make_user, make_project, smtp_server):
    project_id, title = project_of(app, make_project)
    user = make_user()
    app.config["MAIL_PORT"] = 1  # nothing listens there
    notification_id = answer(app, user, project_id, title)
    with app.app_context():
        assert db.session.get(Notification, notification_id).emailed_at is None
        app.config["MAIL_PORT"] = smtp_server.port
        assert mailer.send_pending_emails() == 1


def test_payment_and_refund_notify_and_mail_the_backer(app, mail, make_user, make_project, live_server):
    backer = make_user(email="backer@example.com")
    project_id, title = project_of(app, make_project, tiers=[], paid=[(backer, 66_00, None)])
    with app.app_context():
        pledge = db.session.scalar(db.select(Pledge).filter_by(project_id=project_id))
        db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no=f"T{pledge.id}",
                                    app_id=app.config["ALIPAY_APP_ID"], total_fen=66_00, subject="x",
                                    status="TRADE_SUCCESS", channel="pc"))
        db.session.commit()
        refund = refunds.request_refund(pledge, "failed")  # its job runs inline, in its own session
        db.session.expire_all()
        assert refund.status == "succeeded"
        [notice] = db.session.scalars(db.select(Notification).filter_by(user_id=backer)).all()
        assert (notice.kind, notice.key, notice.project_id) == ("refund_done", f"refund:{refund.id}", project_id)

        project = db.session.get(Project, project_id)
        tier_less = pledging.start(db.session.get(User, backer), project, None, 20_00, idempotency_key="k1",
                                    risk_accepted=True)
        assert pledging.record_payment(tier_less.out_trade_no, "T-new", 20_00) == "paid"
        assert pledging.record_payment(tier_less.out_trade_no, "T-new", 20_00) == "duplicate"
        assert db.session.scalar(db.select(Notification.key).filter_by(kind="pledge_paid")) == f"paid:{tier_less.id}"
    subjects = [m["Subject"] for m in mail.messages]
    assert subjects == [f"“{title}”的 ¥66.00 退款已完成。", f"你为“{title}”支付的 ¥20.00 已到账。"]


def test_unsubscribe_tokens_are_signed_and_scoped(app, make_user, make_project):
    project_id, _title = project_of(app, make_project)
    user = make_user()
    with app.app_context():
        token = notifications.unsubscribe_token(user, "update_posted", project_id)
        assert notifications.read_unsubscribe_token(token) == (user, "update_posted", project_id)
        from itsdangerous import BadData

        for bad in (token[:-2] + "xy", "abc", notifications.unsubscribe_token(user, "update_posted")[:-1]):
            with pytest.raises(BadData):
                notifications.read_unsubscribe_token(bad)
        notifications.unsubscribe(user, "update_posted", project_id, "kind")
        assert {(r.kind, r.project_id) for r in db.session.scalars(db.select(EmailOptOut))} == {
            ("update_posted", None), ("project_ending", None)}
        assert notifications.email_settings(user)["updates"] is False


@pytest.mark.redis
def test_a_real_worker_sends_the_mail(redis_app, start_worker, smtp_server, make_user, make_project, monkeypatch):
    monkeypatch.setenv("MAIL_SERVER", smtp_server.host)  # the worker builds its app from the environment
    monkeypatch.setenv("MAIL_PORT", str(smtp_server.port))
    redis_app.config.update(MAIL_ENABLED=True, MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port)
    project_id, title = project_of(redis_app, make_project)
    user = make_user(email="far@example.com")
    start_worker("--no-cron")
    notification_id = answer(redis_app, user, project_id, title)

    wait_for(lambda: smtp_server.inbox.envelopes, timeout=30)
    [message] = smtp_server.inbox.messages
    assert message["To"].addresses[0].addr_spec == "far@example.com" and title in message["Subject"]
    with redis_app.app_context():
        assert db.session.get(Notification, notification_id).emailed_at is not None
        assert mailer.send_pending_emails() == 0
    assert len(smtp_server.inbox.envelopes) == 1


def test_a_large_fan_out_queues_one_catch_up_run_not_one_per_batch(redis_app, make_project):
    from rq import Queue

    from crowdfund import updates
    from crowdfund.queueing import redis_connection
    from tests.unit.test_updates import bulk_followers

    redis_app.config.update(MAIL_ENABLED=True)
    slug = make_project(status="live")
    with redis_app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        bulk_followers(project.id, 250)
        update = updates.post(project, project.creator, "进展", "正文")  # queues the fan-out, no worker runs it
        assert updates.send_notifications(update.id, batch=50) == 250  # five batches, five commits
        queued = Queue("notifications", connection=redis_connection()).jobs
        catch_ups = [job for job in queued if job.func_name.endswith("send_pending_emails")]
        assert len(catch_ups) == 1, [job.func_name for job in queued]
