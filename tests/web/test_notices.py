"""The notification centre (SPEC 3.5): list, badge, mark read, e-mail settings and one-click unsubscribe."""
import re
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from crowdfund import notifications
from crowdfund.extensions import db
from crowdfund.models import EmailOptOut, Notification, Project
from tests.conftest import Browserless

CENTRE = "/account/notifications"


@contextmanager
def count_queries(app):
    statements = []
    with app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def signed_in(app, make_user, **kwargs):
    """(user id, a logged-in Browserless) for a new account."""
    email = f"reader-{uuid.uuid4().hex[:8]}@example.com"
    user_id = make_user(email=email, **kwargs)
    browser = Browserless(app.test_client())
    assert browser.login(email=email).status_code == 303
    return user_id, browser


def notify(app, user_id, count=1, kind="project_live", **params):
    """`count` notifications for the account, oldest first; returns their ids."""
    with app.app_context():
        for i in range(count):
            notifications.notify(user_id, kind, link=f"/projects/p{i}", title=params.get("title", f"项目{i}"))
        db.session.commit()
        return db.session.scalars(db.select(Notification.id).filter_by(user_id=user_id)
                                  .order_by(Notification.id)).all()


def is_read(app, notification_id):
    with app.app_context():
        return db.session.get(Notification, notification_id).read_at is not None


def test_the_centre_lists_newest_first_a_page_at_a_time(app, make_user):
    user_id, reader = signed_in(app, make_user)
    ids = notify(app, user_id, count=23)
    page = reader.client.get(CENTRE).get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'id="notification-(\d+)"', page)]
    assert shown == ids[::-1][:20]
    assert 'href="/projects/p22"' in page and "你的项目“项目22”已上线。" in page, "each one links to its subject"
    older = re.search(r'href="(/account/notifications\?before=\d+)" rel="next"', page).group(1)
    second = reader.client.get(older).get_data(as_text=True)
    assert [int(i) for i in re.findall(r'id="notification-(\d+)"', second)] == ids[::-1][20:]
    assert 'rel="next"' not in second


def test_the_header_badge_polls_a_small_endpoint(app, client, make_user):
    user_id, reader = signed_in(app, make_user)
    notify(app, user_id, count=3)
    page = reader.client.get("/").get_data(as_text=True)
    badge = re.search(r'<span id="notification-badge"[^>]*>[^<]*</span>', page).group(0)
    assert 'hx-get="/account/notifications/badge"' in badge and 'hx-trigger="every 60s"' in badge
    assert 'hx-swap="outerHTML"' in badge and ">3</span>" in badge and "hidden" not in badge

    with count_queries(app) as statements:
        fragment = reader.client.get("/account/notifications/badge", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and body.strip().startswith('<span id="notification-badge"')
    assert ">3</span>" in body and fragment.headers["Cache-Control"] == "no-store"
    counts = [s for s in statements if "notifications" in s]
    assert len(counts) == 1 and "count(" in counts[0].lower(), "one COUNT query for the badge"

    notify(app, user_id, count=100)
    assert ">99+</span>" in reader.client.get("/account/notifications/badge").get_data(as_text=True)
    signed_out = client.get("/account/notifications/badge").get_data(as_text=True)
    assert "hidden" in signed_out and "hx-get" not in signed_out, "signed out: nothing to show, polling stops"


def test_mark_one_read_plain_and_htmx(app, make_user):
    user_id, reader = signed_in(app, make_user)
    first, second = notify(app, user_id, count=2)
    plain = reader.post(f"{CENTRE}/{first}/read", {"next": f"{CENTRE}?before={second + 1}"}, form_path=CENTRE)
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"{CENTRE}?before={second + 1}")
    assert is_read(app, first)

    fragment = reader.post(f"{CENTRE}/{second}/read", {}, form_path=CENTRE, htmx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith(f'<li class="card" id="notification-{second}"') and "标为已读" not in body
    assert 'id="notification-badge"' in body and 'hx-swap-oob="true"' in body and " hidden" in body, \
        "the header badge is updated out of band"
    assert is_read(app, second)
    page = reader.client.get(CENTRE).get_data(as_text=True)
    assert "全部标为已读" not in page and 'class="card unread"' not in page


def test_mark_all_read_plain_and_htmx(app, make_user):
    user_id, reader = signed_in(app, make_user)
    ids = notify(app, user_id, count=3)
    page = reader.client.get(CENTRE).get_data(as_text=True)
    assert page.count('class="card unread"') == 3 and "全部标为已读" in page
    fragment = reader.post(CENTRE, {}, htmx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="notification_list"' in body
    assert "unread" not in re.sub(r'id="notification-badge"[^>]*>', "", body).replace("notification_list", "")
    assert all(is_read(app, i) for i in ids)

    more = notify(app, user_id, count=1)[-1]
    plain = reader.post(CENTRE, {})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(CENTRE) and is_read(app, more)


def test_nobody_marks_someone_elses_notification(app, make_user):
    owner, _ = signed_in(app, make_user)
    [theirs] = notify(app, owner)
    _, intruder = signed_in(app, make_user)
    assert intruder.post(f"{CENTRE}/{theirs}/read", {}, form_path=CENTRE).status_code == 404
    assert intruder.post(f"{CENTRE}/{theirs}/read", {}, form_path=CENTRE, htmx=True).status_code == 404
    assert not is_read(app, theirs)
    intruder.post(CENTRE, {})
    assert not is_read(app, theirs), "mark all read touches only your own"
    assert f"notification-{theirs}" not in intruder.client.get(CENTRE).get_data(as_text=True)


def test_every_page_header_links_to_the_centre_at_its_old_address(app, make_user):
    user_id, reader = signed_in(app, make_user)
    notify(app, user_id)
    home = reader.client.get("/projects/search").get_data(as_text=True)
    assert re.search(r'<a href="/account/notifications"><svg[^>]*>.*?</svg><span class="nav-label">通知</span>'
                     r'<span id="notification-badge"[^>]*>1</span></a>', home, re.S)


def opt_outs(app, user_id):
    with app.app_context():
        return {(row.kind, row.project_id) for row in db.session.scalars(db.select(EmailOptOut).filter_by(
            user_id=user_id))}


def test_email_settings_by_group_plain_and_htmx(app, make_user):
    user_id, reader = signed_in(app, make_user)
    settings = "/account/notifications/settings"
    page = reader.client.get(settings).get_data(as_text=True)
    assert page.count('type="checkbox"') == 1 + 5 and "checked" in page, "finance alerts only for finance staff"
    everything_on = {"everything": "y", "projects": "y", "pledges": "y", "questions": "y", "messages": "y"}
    saved = reader.post(settings, everything_on)  # "updates" left unticked
    assert saved.status_code == 303
    assert opt_outs(app, user_id) == {("update_posted", None), ("project_ending", None)}

    fragment = reader.post(settings, {**everything_on, "updates": "y", "questions": ""}, htmx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and body.lstrip().startswith('<form id="email_settings"')
    assert "邮件设置已保存" in body
    assert opt_outs(app, user_id) == {(kind, None) for kind in notifications.EMAIL_GROUPS["questions"][1]}

    reader.post(settings, {})
    assert ("", None) in opt_outs(app, user_id), "everything off"
    assert 'name="everything" type="checkbox" value="y">' in reader.client.get(settings).get_data(as_text=True)


def test_email_about_one_project_off_and_on(app, make_user, make_project):
    user_id, reader = signed_in(app, make_user)
    slug = make_project(paid=[(user_id, 99_00, 0)])
    with app.app_context():
        project_id = db.session.scalar(db.select(Project.id).filter_by(slug=slug))
    settings = "/account/notifications/settings"
    page = reader.client.get(settings).get_data(as_text=True)
    assert f'id="project-email-{project_id}"' in page, "backed projects are listed"
    action = f"{settings}/projects/{project_id}"
    assert reader.post(action, {"email": "off"}, form_path=settings).status_code == 303
    assert opt_outs(app, user_id) == {("", project_id)}
    fragment = reader.post(action, {"email": "on"}, form_path=settings, htmx=True)
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith(f'<li class="card" id="project-email-{project_id}"') and "<html" not in body
    assert opt_outs(app, user_id) == set()
    assert reader.post(action, {"email": "maybe"}, form_path=settings).status_code == 400
    assert reader.post(f"{settings}/projects/999999", {"email": "off"}, form_path=settings).status_code == 404


@pytest.fixture
def token_for(app):
    def factory(user_id, kind="update_posted", project_id=None):
        with app.app_context():
            return notifications.unsubscribe_token(user_id, kind, project_id)

    return factory


def test_one_click_unsubscribe_needs_no_login_and_no_csrf(app, client, make_user, make_project, token_for):
    user_id = make_user(email="reader@example.com")
    slug = make_project(title="追更项目")
    with app.app_context():
        project_id = db.session.scalar(db.select(Project.id).filter_by(slug=slug))
    token = token_for(user_id, "update_posted", project_id)
    page = client.get(f"/unsubscribe/{token}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "r***@example.com" in body and "追更项目" in body
    assert opt_outs(app, user_id) == set(), "nothing changes on GET"

    # What a mail client does for RFC 8058: a bare POST, no cookie, no CSRF token.
    one_click = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert opt_outs(app, user_id) == {("", project_id)}, "an e-mail about a project: no more about that project"
    assert "你不再收到关于“追更项目”的邮件" in client.get(f"/unsubscribe/{token}").get_data(as_text=True)

    from_page = client.post(f"/unsubscribe/{token}", data={"scope": "kind"})
    assert from_page.status_code == 303 and from_page.headers["Location"].endswith(f"/unsubscribe/{token}")
    assert opt_outs(app, user_id) == {("", project_id), ("update_posted", None), ("project_ending", None)}
    client.post(f"/unsubscribe/{token}", data={"scope": "kind"})
    assert len(opt_outs(app, user_id)) == 3, "twice is the same as once"

    general = token_for(user_id, "pledge_paid")
    assert client.post(f"/unsubscribe/{general}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert {("pledge_paid", None), ("refund_done", None)} <= opt_outs(app, user_id)


def test_a_tampered_unsubscribe_link_is_refused_kindly(app, client, make_user, token_for):
    user_id = make_user()
    token = token_for(user_id)
    payload, _, signature = token.partition(".")
    with app.app_context():
        forged = notifications.unsubscribe_token(user_id + 1, "update_posted").partition(".")[0] + "." + signature
    for bad in (forged, token[:-3], "nonsense"):
        for response in (client.get(f"/unsubscribe/{bad}"), client.post(f"/unsubscribe/{bad}",
                                                                         data={"List-Unsubscribe": "One-Click"})):
            assert response.status_code == 400 and "退订链接无效" in response.get_data(as_text=True)
    assert opt_outs(app, user_id) == set()
