"""Personal data (个人信息保护法): the export's contents and lifetime, and what deleting an account erases and keeps."""
import csv
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from crowdfund import (accounts, comments, follows, growth, ledger, lifecycle, messaging, points, privacy, refunds,
                       reports)
from crowdfund.extensions import db
from crowdfund.jobs import expire_data_exports
from crowdfund.models import (Address, AuditEntry, Comment, DataExport, Follow, LedgerEntry, Message, Notification,
                              Pledge, PledgeStatus, PointsEntry, Project, ProjectStatus, Refund, Role, User)
from crowdfund.notifications import notify
from crowdfund.queueing import PERIODIC_JOBS
from crowdfund.storage import get_storage

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=timezone.utc)  # the fixed clock every date here derives from


def project_by_slug(slug):
    return db.session.scalar(select(Project).where(Project.slug == slug))


def close(project, status):
    """End the campaign at NOW and move it on (successful, delivering, completed, cancelled...)."""
    if status in ("successful", "delivering", "completed", "failed"):
        project.end_at = NOW - timedelta(seconds=1)
    path = {"successful": ["successful"], "delivering": ["successful", "delivering"],
            "completed": ["successful", "delivering", "completed"], "failed": ["failed"],
            "cancelled": ["cancelled"]}[status]
    for step in path:
        lifecycle.transition(project, step, reason="test", now=NOW)


@pytest.fixture
def people(app, make_user, make_project):
    """Ann backs Bob's project and leaves a trail everywhere; Carl (another backer) leaves his own."""
    ann = make_user(email="ann@example.com", display_name="Ann")
    carl = make_user(email="carl@example.com", display_name="Carl")
    slug = make_project(status="live", paid=[(ann, 99_00, 0), (carl, 50_00, None)])
    with app.app_context():
        project = project_by_slug(slug)
        a, c = db.session.get(User, ann), db.session.get(User, carl)
        accounts.add_address(a, name="安娜", phone="13800000001", province="北京市", city="北京市", district="东城区",
                             detail="安娜的街道 1 号")
        accounts.add_address(c, name="卡尔", phone="13900000002", province="上海市", city="上海市", district="黄浦区",
                             detail="卡尔的路 2 号")
        comments.add_comment(project, a, "Ann's comment about the lamp", now=NOW)
        comments.add_comment(project, c, "Carl's comment", now=NOW)
        messaging.start(project, a, "Ann writes to Bob privately", now=NOW)
        messaging.start(project, c, "Carl writes to Bob", now=NOW)
        follows.follow(project, a, now=NOW)
        follows.follow(project, c, now=NOW)
        notify(ann, "pledge_paid", link="/me/pledges", commit=True, title="Ann's lamp", amount_fen=99_00)
        notify(carl, "pledge_paid", link="/me/pledges", commit=True, title="Carl's lamp", amount_fen=50_00)
        reports.report_project(project, a, "fraud", "Ann's report of the lamp", now=NOW)
        reports.report_project(project, c, "other", "Carl's report", now=NOW)
        points.book(ann, 9, "backing", "backing:ann", project_id=project.id, memo="Ann's points", now=NOW)
        points.book(carl, 5, "backing", "backing:carl", project_id=project.id, memo="Carl's points", now=NOW)
        db.session.commit()  # share_code writes on a connection of its own: nothing may hold Ann's row meanwhile
        growth.share_code(a)
        return dict(ann=ann, carl=carl, slug=slug, creator=project.creator_id)


def read_zip(data):
    archive = zipfile.ZipFile(io.BytesIO(data))
    sections = {}
    for name in {n.rsplit(".", 1)[0] for n in archive.namelist() if n != "README.txt"}:
        rows = json.loads(archive.read(f"{name}.json"))
        table = list(csv.DictReader(io.StringIO(archive.read(f"{name}.csv").decode("utf-8-sig"))))
        sections[name] = (rows, table)
    return sections


def test_export_has_every_section_as_json_and_csv_with_only_the_owners_rows(app, people):
    with app.app_context():
        ann = db.session.get(User, people["ann"])
        sections = read_zip(privacy.build_zip(ann))
    assert set(sections) == {s.name for s in privacy.SECTIONS} == {
        "profile", "legal_acceptances", "consents", "pledges", "addresses", "comments", "messages", "notifications",
        "follows", "points", "reports", "coupons", "projects"}
    for name, (rows, table) in sections.items():
        assert len(rows) == len(table), name
        text = json.dumps(rows, ensure_ascii=False) + json.dumps(table, ensure_ascii=False)
        for foreign in ("carl@example.com", "卡尔", "Carl's comment", "Carl writes", "Carl's lamp", "Carl's report",
                        "Carl's points"):
            assert foreign not in text, f"{name} leaks another user's data: {foreign}"
    profile, table = sections["profile"]
    assert profile[0]["email"] == table[0]["email"] == "ann@example.com" and profile[0]["display_name"] == "Ann"
    legal, _ = sections["legal_acceptances"]
    assert {row["document"] for row in legal} == {"terms", "privacy"} and all(row["version"] for row in legal)
    consents, table = sections["consents"]
    assert {row["document"] for row in consents} == {"terms", "privacy", "risk", "creator_rules"}
    assert all(row["version"] and row["accepted_at"] for row in table)
    pledges, table = sections["pledges"]
    assert [(p["amount_fen"], p["status"], p["project"]) for p in pledges] == [(99_00, "paid", people["slug"])]
    assert table[0]["amount_fen"] == "9900" and pledges[0]["refunds"] == []
    addresses, table = sections["addresses"]
    assert [a["detail"] for a in addresses] == ["安娜的街道 1 号"] and table[0]["phone"] == "13800000001"
    assert [c["body"] for c in sections["comments"][0]] == ["Ann's comment about the lamp"]
    assert sections["comments"][1][0]["body"] == "Ann's comment about the lamp"
    messages, table = sections["messages"]
    assert [(m["body"], m["sent_by_me"]) for m in messages] == [("Ann writes to Bob privately", True)]
    assert table[0]["body"] == "Ann writes to Bob privately"
    notifications, _ = sections["notifications"]
    assert [n["kind"] for n in notifications] == ["pledge_paid"] and "Ann's lamp" in notifications[0]["text"]
    assert [f["project"] for f in sections["follows"][0]] == [people["slug"]]
    assert sections["projects"] == ([], [])  # Ann created nothing
    points_rows, table = sections["points"]
    assert [(p["delta"], p["reason"], p["project"], p["memo"]) for p in points_rows] == [
        (9, "backing", people["slug"], "Ann's points")] and table[0]["delta"] == "9"
    reported, _ = sections["reports"]
    assert [(r["target_kind"], r["category"], r["reason"]) for r in reported] == [
        ("project", "fraud", "Ann's report of the lamp")]
    assert profile[0]["share_code"] and len(profile[0]["share_code"]) >= 6


def test_a_creators_export_lists_their_projects_and_both_sides_of_their_conversations(app, people):
    with app.app_context():
        bob = db.session.get(User, people["creator"])
        sections = read_zip(privacy.build_zip(bob))
    assert [p["slug"] for p in sections["projects"][0]] == [people["slug"]]
    bodies = {(m["body"], m["sent_by_me"]) for m in sections["messages"][0]}
    assert bodies == {("Ann writes to Bob privately", False), ("Carl writes to Bob", False)}


def test_export_lists_refunds_of_a_pledge(app, people):
    with app.app_context():
        pledge = db.session.scalar(select(Pledge).where(Pledge.backer_id == people["ann"]))
        refunds.request_refund(pledge, "withdrawn", commit=False)
        db.session.commit()
        rows, table = read_zip(privacy.build_zip(db.session.get(User, people["ann"])))["pledges"]
    assert [(r["amount_fen"], r["status"]) for r in rows[0]["refunds"]] == [(99_00, "pending")]
    assert json.loads(table[0]["refunds"])[0]["status"] == "pending"


def test_csv_cells_that_look_like_formulas_are_defused(app, make_user):
    user = make_user(display_name="=HYPERLINK(1)")
    with app.app_context():
        rows, table = read_zip(privacy.build_zip(db.session.get(User, user)))["profile"]
    assert rows[0]["display_name"] == "=HYPERLINK(1)" and table[0]["display_name"] == "'=HYPERLINK(1)"


def test_one_more_section_can_be_added(app, make_user):
    user = make_user()
    extra = privacy.Section("consents", ("document", "version"), lambda u: [dict(document="risk", version="1")])
    with app.app_context():
        sections = read_zip(privacy.build_zip(db.session.get(User, user), privacy.SECTIONS + [extra]))
    assert sections["consents"][0] == [{"document": "risk", "version": "1"}]


def test_export_job_stores_privately_offers_24_hours_then_cleanup_deletes_the_file(app, make_user):
    user = make_user()
    with app.app_context():
        export = DataExport(user_id=user, status="pending", pending=True, requested_at=NOW)
        db.session.add(export)
        db.session.commit()
        assert privacy.build_export(export.id, now=NOW) == "ready"
        assert privacy.build_export(export.id, now=NOW) == "skipped"  # safe to run twice
        export = db.session.get(DataExport, export.id)
        owner = db.session.get(User, user)
        assert export.storage_key.startswith(f"exports/{user}/") and export.size_bytes > 0
        assert export.expires_at == NOW + timedelta(hours=24)
        assert get_storage().exists(export.storage_key)
        with privacy.open_export(export) as stored:
            assert zipfile.ZipFile(io.BytesIO(stored.read())).read("profile.json")
        assert db.session.scalar(select(Notification.kind).where(Notification.user_id == user)) == "data_export_ready"
        almost = NOW + timedelta(hours=23, minutes=59)
        assert privacy.downloadable(owner, export.id, now=almost) is export
        assert privacy.expire_exports(now=almost) == 0 and get_storage().exists(export.storage_key)
        later = NOW + timedelta(hours=24)
        assert privacy.downloadable(owner, export.id, now=later) is None
        assert privacy.shown_status(export, now=later) == "expired"
        key = export.storage_key
        assert expire_data_exports(now=later) == 1
        db.session.expire_all()
        export = db.session.get(DataExport, export.id)
        assert export.status == "expired" and export.storage_key is None and not get_storage().exists(key)


def test_cleanup_is_a_periodic_job():
    assert f"{expire_data_exports.__module__}.{expire_data_exports.__name__}" in {job.name for job in PERIODIC_JOBS}


def test_another_users_export_is_not_downloadable(app, make_user):
    owner, other = make_user(), make_user()
    with app.app_context():
        export = DataExport(user_id=owner, status="pending", pending=True, requested_at=NOW)
        db.session.add(export)
        db.session.commit()
        privacy.build_export(export.id, now=NOW)
        assert privacy.downloadable(db.session.get(User, other), export.id, now=NOW) is None
        assert privacy.downloadable(db.session.get(User, owner), export.id, now=NOW) is not None


def test_one_pending_export_at_a_time(app, make_user, monkeypatch):
    user = make_user()
    monkeypatch.setattr(privacy, "enqueue", lambda *args, **kwargs: None)  # leave it pending
    with app.app_context():
        owner = db.session.get(User, user)
        privacy.request_export(owner, now=NOW)
        with pytest.raises(privacy.PrivacyError) as refused:
            privacy.request_export(owner, now=NOW)
        assert refused.value.code == "pending"
        # A job that never finished: after an hour the cleanup gives up on it, and a new one may be asked for.
        privacy.expire_exports(now=NOW + timedelta(hours=2))
        assert db.session.scalar(select(DataExport.status)) == "failed"
        privacy.request_export(owner, now=NOW + timedelta(hours=2))
        assert db.session.scalar(select(func.count(DataExport.id))) == 2


def test_a_failing_export_job_marks_the_export_failed(app, make_user, monkeypatch):
    user = make_user()

    def broken(user, sections=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(privacy, "build_zip", broken)
    with app.app_context():
        export = DataExport(user_id=user, status="pending", pending=True, requested_at=NOW)
        db.session.add(export)
        db.session.commit()
        with pytest.raises(RuntimeError):
            privacy.build_export(export.id, now=NOW)
        db.session.expire_all()
        export = db.session.get(DataExport, export.id)
        assert export.status == "failed" and export.pending is None


# ---- deletion -----------------------------------------------------------------------------------------------


def codes(user_id):
    return sorted(b.code for b in privacy.deletion_blockers(db.session.get(User, user_id)))


def test_a_live_project_blocks_its_creators_deletion(app, people):
    with app.app_context():
        assert codes(people["creator"]) == ["live_project"]
        with pytest.raises(privacy.PrivacyError) as refused:
            privacy.delete_account(db.session.get(User, people["creator"]), "correct horse 1")
        assert refused.value.code == "blocked"
        assert db.session.get(User, people["creator"]).deleted_at is None


def test_a_draft_blocks_deletion_until_cancelled(app, make_project, make_user):
    creator = make_user(roles=["creator"])
    slug = make_project(status="draft", creator=creator)
    with app.app_context():
        assert codes(creator) == ["live_project"]
        lifecycle.transition(project_by_slug(slug), "cancelled")
        assert codes(creator) == []


def test_a_pending_refund_blocks_the_backer_and_the_creator(app, people):
    with app.app_context():
        project = project_by_slug(people["slug"])
        close(project, "failed")
        pledge = db.session.scalar(select(Pledge).where(Pledge.backer_id == people["ann"]))
        refund = refunds.request_refund(pledge, "failed", commit=False)
        db.session.commit()
        assert codes(people["ann"]) == ["pending_refund"]
        assert codes(people["creator"]) == ["funds_held", "pending_refund"]  # escrow still holds the money too
        assert codes(people["carl"]) == []  # Carl's pledge has no refund outstanding in this test
        refund.status = "succeeded"
        db.session.commit()
        assert codes(people["ann"]) == []


def test_an_undelivered_reward_blocks_its_backer(app, people):
    with app.app_context():
        project = project_by_slug(people["slug"])
        close(project, "successful")
        assert codes(people["ann"]) == ["undelivered_reward"]  # a paid reward not yet received
        assert codes(people["carl"]) == []  # Carl pledged without a reward
        pledge = db.session.scalar(select(Pledge).where(Pledge.backer_id == people["ann"]))
        pledge.shipped_at, pledge.carrier, pledge.tracking_number = NOW, "顺丰", "SF1"
        db.session.commit()
        assert codes(people["ann"]) == ["undelivered_reward"]  # shipped is not enough: received and confirmed
        pledge.received_at = NOW
        db.session.commit()
        assert codes(people["ann"]) == []


def test_money_awaiting_withdrawal_blocks_the_creator(app, people):
    with app.app_context():
        project = project_by_slug(people["slug"])
        close(project, "completed")
        assert codes(people["creator"]) == ["funds_held"]


def anonymised(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id)


def test_deletion_erases_personal_data_and_keeps_financial_records(app, people, runner):
    with app.app_context():
        project = project_by_slug(people["slug"])
        close(project, "successful")
        pledge = db.session.scalar(select(Pledge).where(Pledge.backer_id == people["ann"]))
        pledge.shipped_at = pledge.received_at = NOW  # reward delivered: nothing stands in the way now
        export = DataExport(user_id=people["ann"], status="pending", pending=True, requested_at=NOW)
        db.session.add(export)
        db.session.commit()
        privacy.build_export(export.id, now=NOW)
        export_key = db.session.get(DataExport, export.id).storage_key
        ann = db.session.get(User, people["ann"])
        accounts.grant_role(ann, Role.MODERATOR)
        old_token = ann.session_token
        pledges_before = db.session.execute(select(Pledge.id, Pledge.amount_fen, Pledge.status, Pledge.backer_id)
                                            .order_by(Pledge.id)).all()
        entries_before = db.session.scalar(select(func.count(LedgerEntry.id)))
        with pytest.raises(privacy.PrivacyError) as refused:
            privacy.delete_account(ann, "wrong password")
        assert refused.value.code == "password"

        privacy.delete_account(ann, "correct horse 1", now=NOW)
        db.session.expire_all()
        ann = db.session.get(User, people["ann"])
        assert ann.deleted_at == NOW and ann.display_name == privacy.DELETED_NAME
        assert ann.email == f"deleted-{ann.id}@deleted.invalid"
        assert ann.session_token != old_token and ann.roles == set()
        assert not accounts.check_password(ann, "correct horse 1")
        assert ann.public_name == "已注销用户"  # outside a request: the default locale (Chinese)
        assert db.session.scalar(select(func.count(Address.id)).where(Address.user_id == ann.id)) == 0
        assert db.session.scalar(select(func.count(Follow.user_id)).where(Follow.user_id == ann.id)) == 0
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == ann.id)) == 0
        assert db.session.scalar(select(func.count(DataExport.id)).where(DataExport.user_id == ann.id)) == 0
        assert db.session.scalar(select(func.count(PointsEntry.id)).where(PointsEntry.user_id == ann.id)) == 0
        assert ann.share_code is None, "her old share links credit nobody"
        assert not get_storage().exists(export_key)
        assert set(db.session.scalars(select(Comment.body).where(Comment.author_id == ann.id))) == {privacy.ERASED_TEXT}
        assert set(db.session.scalars(select(Message.body).where(Message.sender_id == ann.id))) == {privacy.ERASED_TEXT}
        # Carl's data is untouched.
        assert db.session.scalar(select(Comment.body).where(Comment.author_id == people["carl"])) == "Carl's comment"
        assert db.session.scalar(select(func.count(Address.id)).where(Address.user_id == people["carl"])) == 1
        assert points.balance(people["carl"]) == 5
        # Bob's notification about Ann's message no longer carries her name.
        bob_heard = db.session.scalar(select(Notification).where(Notification.user_id == people["creator"],
                                                                 Notification.kind == "message_received"))
        assert bob_heard.params["name"] == privacy.DELETED_NAME
        # Financial records stay exactly as they were, now belonging to an anonymous account.
        assert db.session.execute(select(Pledge.id, Pledge.amount_fen, Pledge.status, Pledge.backer_id)
                                  .order_by(Pledge.id)).all() == pledges_before
        assert db.session.scalar(select(func.count(LedgerEntry.id))) == entries_before
        assert ledger.verify() == []
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.delete"))
        assert entry.actor_id == ann.id and entry.object_id == ann.id
        result = runner.invoke(args=["ledger", "verify"])
        assert result.exit_code == 0 and "ledger verifies" in result.output


def test_a_deleted_account_cannot_log_in_and_its_email_is_free_again(app, make_user):
    user = make_user(email="gone@example.com")
    with app.app_context():
        privacy.delete_account(db.session.get(User, user), "correct horse 1", now=NOW)
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate("gone@example.com", "correct horse 1")
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate(f"deleted-{user}@deleted.invalid", "correct horse 1")
        again = accounts.register("gone@example.com", "New Gone", "another horse 2")
        assert again.id != user and accounts.authenticate("gone@example.com", "another horse 2").id == again.id
        with pytest.raises(privacy.PrivacyError):
            privacy.delete_account(db.session.get(User, user), "correct horse 1")  # only once


def test_a_deleted_creator_takes_no_more_messages(app, make_project, make_user):
    creator = make_user(roles=["creator"])
    fan = make_user()
    slug = make_project(status="live", creator=creator)
    with app.app_context():
        project = project_by_slug(slug)
        follows.follow(project, db.session.get(User, fan), now=NOW)
        message = messaging.start(project, db.session.get(User, fan), "hello", now=NOW)
        close(project, "cancelled")
        assert codes(creator) == []  # a cancelled campaign that raised nothing
        privacy.delete_account(db.session.get(User, creator), "correct horse 1", now=NOW)
        thread = db.session.get(Message, message.id)
        with pytest.raises(messaging.MessagingError) as refused:
            messaging.send(messaging.get_thread(thread.thread_id, fan), db.session.get(User, fan), "still there?")
        assert refused.value.code == "blocked"
        assert project_by_slug(slug).creator.public_name == "已注销用户"


def test_pending_pledge_refund_due_blocks(app, people):
    with app.app_context():
        pledge = db.session.scalar(select(Pledge).where(Pledge.backer_id == people["carl"]))
        pledge.status = PledgeStatus.REFUND_DUE
        db.session.commit()
        assert codes(people["carl"]) == ["pending_refund"]
        assert db.session.scalar(select(func.count(Refund.id))) == 0
