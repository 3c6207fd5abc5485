"""Machine review rules, on Chinese and English input, and the routing that follows."""
from datetime import datetime, timedelta, timezone

import pytest

from crowdfund import review
from crowdfund.extensions import db
from crowdfund.models import Project, ProjectStatus, ReviewFinding, User
from crowdfund.models.base import utcnow


def run(app, slug):
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        outcome = review.run_machine_review(project.id)
        findings = {(f.rule, f.severity.value, f.field) for f in review.findings_for(project)}
        return outcome, findings, project.status


@pytest.mark.parametrize("text, topic", [
    ("认购本公司原始股，每年分红", "securities"), ("Buy equity in our startup with annual yield", "securities"),
    ("每份回报附赠彩票一张", "lottery"), ("Win a raffle with every pledge", "lottery"),
    ("手工电子烟套装", "tobacco"), ("Handmade e-cigarette kit", "tobacco"),
    ("仿真枪模型", "weapons"), ("这款茶可以根治糖尿病、抗癌", "medical_claims"),
    ("Our tea cures cancer", "medical_claims"), ("比特币矿机众筹", "futures"),
    ("本品可治愈失眠", "medical_claims"),
])
def test_prohibited_words_send_the_project_back(app, make_project, text, topic):
    slug = make_project(status="submitted", story="正常的故事内容。" * 10 + text)
    outcome, findings, status = run(app, slug)
    assert outcome == "changes_requested" and status == ProjectStatus.CHANGES_REQUESTED
    assert (f"keyword:{topic}", "blocking", "story") in findings


def test_everyday_words_near_prohibited_ones_are_not_flagged(app, make_project):
    slug = make_project(status="submitted", story="一部治愈系猫咪漫画，画风温暖。" * 6 + "A healing, heart-warming comic.")
    outcome, findings, _ = run(app, slug)
    assert outcome == "in_review" and not any(rule.startswith("keyword") for rule, _, _ in findings)


def test_a_clean_project_goes_to_the_moderators(app, make_project):
    outcome, findings, status = run(app, make_project(status="submitted"))
    assert outcome == "in_review" and status == ProjectStatus.IN_REVIEW
    assert not any(sev == "blocking" for _, sev, _ in findings)


@pytest.mark.parametrize("today, month, blocking", [
    (datetime(2027, 1, 15, 4, tzinfo=timezone.utc), "2027-01", True),  # ends 14 February, promised for January
    (datetime(2027, 1, 1, 4, tzinfo=timezone.utc), "2026-12", True),  # the 1st of a 31-day month, last month
    (datetime(2027, 1, 1, 4, tzinfo=timezone.utc), "2027-01", False),  # ends 31 January, delivered by its end
    (datetime(2027, 1, 15, 4, tzinfo=timezone.utc), "2027-02", False),
])
def test_delivery_before_the_campaign_ends_is_blocking(app, make_project, today, month, blocking):
    slug = make_project(status="submitted", duration_days=30,
                        tiers=[dict(title="早鸟", price_fen=100_00, delivery_month=month)])
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        found = {(f.rule, f.severity.value, f.field) for f in review.machine_findings(project, now=today)}
    assert (("delivery_before_end", "blocking", "rewards") in found) is blocking


def test_goal_that_cannot_be_reached_is_blocking_and_below_cost_is_a_warning(app, make_project):
    slug = make_project(status="submitted", goal_fen=1_000_000_00,
                        tiers=[dict(title="限量", price_fen=50_00, quantity_limit=10, unit_cost_fen=80_00)])
    outcome, findings, _ = run(app, slug)
    assert ("goal_unreachable", "blocking", "funding") in findings
    assert ("below_cost", "warning", "rewards") in findings


def test_warnings_alone_reach_the_queue_with_findings_attached(app, make_project):
    slug = make_project(status="submitted", tiers=[dict(title="亏本", price_fen=50_00, unit_cost_fen=80_00)])
    outcome, findings, _ = run(app, slug)
    assert outcome == "in_review" and ("below_cost", "warning", "rewards") in findings
    with app.app_context():
        assert [p.slug for p in review.queue()] == [slug]


def test_a_near_duplicate_story_is_flagged(app, make_project):
    story = "我们设计了一款可以折叠的电动自行车，重量只有十二公斤，适合城市通勤和地铁换乘。" * 3
    make_project(status="live", story=story, title="折叠电动自行车")
    copy = make_project(status="submitted", story=story + "欢迎支持！", title="折叠电动自行车二代")
    _, findings, _ = run(app, copy)
    assert ("duplicate", "warning", "story") in findings


def test_shingled_jaccard():
    assert review.jaccard(review.shingles("智能台灯"), review.shingles("智能台灯")) == 1.0
    assert review.jaccard(review.shingles("smart lamp"), review.shingles("folding bike")) < 0.2


def test_a_blacklisted_creator_is_rejected(app, make_project):
    slug = make_project(status="submitted")
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        db.session.get(User, project.creator_id).blacklisted_at = utcnow()
        db.session.commit()
    outcome, _, status = run(app, slug)
    assert outcome == "rejected" and status == ProjectStatus.REJECTED


def test_missing_fields_are_blocking(app, make_project):
    slug = make_project(status="draft")
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        project.risk_disclosure = ""
        project.status = ProjectStatus.SUBMITTED
        db.session.commit()
    outcome, findings, _ = run(app, slug)
    assert outcome == "changes_requested" and ("required", "blocking", "risk") in findings


def test_reasons_reach_the_creator_per_step(app, make_project):
    slug = make_project(status="submitted", story="正常内容。" * 20 + "附赠彩票")
    run(app, slug)
    with app.app_context():
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        reasons = review.latest_change_request(project)
        assert "彩票" in reasons["story"]
        assert db.session.scalar(db.select(db.func.count(ReviewFinding.id))) >= 1


def test_scheduled_launch(app, make_project):
    later = utcnow() + timedelta(hours=2)
    slug = make_project(status="approved", launch_at=later)
    with app.app_context():
        assert review.launch_due() == 0
        assert review.launch_due(now=later + timedelta(seconds=1)) == 1
        project = db.session.scalar(db.select(Project).filter_by(slug=slug))
        assert project.status == ProjectStatus.LIVE and project.launch_at == later
