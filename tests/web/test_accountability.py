"""Cancelling a pledge before the last 24 hours, creators' explanations, and the blacklist."""
from datetime import timedelta

from crowdfund import ledger
from crowdfund.extensions import db
from crowdfund.models import Pledge, PledgeStatus, Project, ProjectStatus, RewardTier, SandboxTrade, User
from crowdfund.models.base import utcnow
from tests.conftest import Browserless, csrf_from


def test_backer_cancels_a_paid_pledge_and_is_refunded(app, client, make_project, make_user, live_server):
    backer = make_user(email="fickle@example.com")
    make_project(status="live", tiers=[dict(title="限量", price_fen=50_00, quantity_limit=1)],
                        paid=[(backer, 50_00, 0)])
    with app.app_context():
        pledge = db.session.scalar(db.select(Pledge))
        db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no="T9", app_id=app.config["ALIPAY_APP_ID"],
                                    total_fen=50_00, subject="x", status="TRADE_SUCCESS", channel="pc"))
        db.session.commit()
        pledge_id, tier_id, project_id = pledge.id, pledge.tier_id, pledge.project_id
    forms = Browserless(client)
    forms.login(email="fickle@example.com")
    page = client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    assert "取消这笔支持" in page
    response = client.post(f"/me/pledges/{pledge_id}/cancel",
                           data={"csrf_token": csrf_from(client.get("/me/pledges")), "confirm": "1"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.REFUNDED
        assert db.session.get(RewardTier, tier_id).taken == 0, "the slot is free for someone else"
        assert ledger.project_funds(project_id)["escrow"] == 0 and ledger.verify() == []


def test_no_cancelling_in_the_last_24_hours(app, client, make_project, make_user):
    backer = make_user(email="late@example.com")
    slug = make_project(status="live", paid=[(backer, 99_00, 0)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.end_at = utcnow() + timedelta(hours=23)
        db.session.commit()
        pledge_id = db.session.scalar(db.select(Pledge.id))
    Browserless(client).login(email="late@example.com")
    assert "取消这笔支持" not in client.get(f"/me/pledges/{pledge_id}").get_data(as_text=True)
    client.post(f"/me/pledges/{pledge_id}/cancel",
                data={"csrf_token": csrf_from(client.get("/me/pledges")), "confirm": "1"})
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == PledgeStatus.PAID


def test_blacklist_suspends_live_projects_and_blocks_new_ones(app, client, make_project, make_user, login_as):
    creator = make_user(email="shady@example.com", roles=["creator"])
    slug = make_project(status="live", creator=creator)
    login_as("moderator")
    token = csrf_from(client.get(f"/projects/{slug}"))
    assert client.post(f"/moderation/users/{creator}/blacklist",
                       data={"csrf_token": token, "confirm": "1"}).status_code == 422
    with app.app_context():
        assert db.session.get(User, creator).blacklisted_at is None, "a reason is required"
    client.post(f"/moderation/users/{creator}/blacklist", data={"csrf_token": token, "reason": "多次未发货", "confirm": "1"})
    with app.app_context():
        assert db.session.get(User, creator).blacklisted_at is not None
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.SUSPENDED
    shady = Browserless(app.test_client())
    shady.login(email="shady@example.com")
    response = shady.client.post("/me/projects/new", data={"csrf_token": csrf_from(shady.client.get("/me/projects"))})
    assert response.status_code == 303 and response.location == "/me/projects"
    assert "该账户不得发起项目" in shady.client.get("/me/projects").get_data(as_text=True)
    # The creator explains; the explanation is shown prominently on the project page.
    token = csrf_from(shady.client.get("/me/projects"))
    shady.client.post(f"/me/projects/{slug}/explanation", data={"csrf_token": token, "explanation": "工厂倒闭，正在退款"})
    assert "工厂倒闭，正在退款" in client.get(f"/projects/{slug}").get_data(as_text=True)


def test_cancelling_a_campaign_refunds_every_backer(app, client, make_project, make_user, login_as, live_server):
    from crowdfund.models import Notification, Refund

    backers = [make_user(), make_user()]
    slug = make_project(status="live", paid=[(backers[0], 99_00, 0), (backers[1], 150_00, 0)])
    with app.app_context():
        for pledge in db.session.scalars(db.select(Pledge)):
            db.session.add(SandboxTrade(out_trade_no=pledge.out_trade_no, trade_no=f"T{pledge.id}",
                                        app_id=app.config["ALIPAY_APP_ID"], total_fen=pledge.amount_fen, subject="x",
                                        status="TRADE_SUCCESS", channel="pc"))
        db.session.commit()
    stranger = Browserless(app.test_client())
    stranger.login(email=login_as_email(make_user))
    stranger.post(f"/me/projects/{slug}/cancel", {"reason": "x", "confirm": "1"}, form_path="/me/projects")
    login_as("moderator")
    token = csrf_from(client.get(f"/projects/{slug}"))
    assert "取消众筹" in client.get(f"/projects/{slug}").get_data(as_text=True)
    client.post(f"/moderation/projects/{slug}/cancel", data={"csrf_token": token, "reason": " ", "confirm": "1"})
    with app.app_context():
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.LIVE, \
            "no reason, no cancellation; and only the creator or a moderator may cancel"
    assert client.post(f"/moderation/projects/{slug}/cancel",
                       data={"csrf_token": token, "reason": "发起人无法履约", "confirm": "1"}).status_code == 303
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        assert project.status == ProjectStatus.CANCELLED
        refunds = db.session.scalars(db.select(Refund).order_by(Refund.id)).all()
        assert [(r.reason, r.status) for r in refunds] == [("project_cancelled", "succeeded")] * 2
        assert all(p.status == PledgeStatus.REFUNDED for p in db.session.scalars(db.select(Pledge)))
        assert ledger.project_funds(project.id)["escrow"] == 0 and ledger.verify() == []
        notes = db.session.scalars(db.select(Notification).filter_by(kind="backer_cancelled")).all()
        assert len(notes) == 2 and notes[0].params["reason"] == "发起人无法履约"


def login_as_email(make_user):
    email = "nosy@example.com"
    make_user(email=email)
    return email


def test_a_creator_cancels_their_own_live_campaign(app, make_project, make_user):
    creator = make_user(email="quitter@example.com", roles=["creator"])
    slug = make_project(status="live", creator=creator)
    forms = Browserless(app.test_client())
    forms.login(email="quitter@example.com")
    assert "取消众筹" in forms.client.get("/me/projects").get_data(as_text=True)
    response = forms.post(f"/me/projects/{slug}/cancel", {"reason": "供应商倒闭", "confirm": "1"}, form_path="/me/projects")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(Project.status).filter_by(slug=slug)) == ProjectStatus.CANCELLED
