"""Command-line tools."""
from crowdfund.catalog import CATEGORIES
from crowdfund.demo import DEMO_USERS
from crowdfund.extensions import db
from crowdfund.models import Category, Role, User


def test_create_admin_creates_and_promotes(app, runner):
    result = runner.invoke(args=["create-admin", "--email", "Boss@Example.com", "--name", "Boss"],
                           input="a strong pass\na strong pass\n")
    assert result.exit_code == 0, result.output
    assert "Created administrator boss@example.com" in result.output
    with app.app_context():
        assert db.session.query(User).filter_by(email="boss@example.com").one().has_role(Role.ADMIN)
    again = runner.invoke(args=["create-admin", "--email", "boss@example.com", "--name", "Boss"],
                          input="a strong pass\na strong pass\n")
    assert again.exit_code == 0 and "Updated administrator" in again.output


def test_create_admin_refuses_a_short_password(app, runner):
    result = runner.invoke(args=["create-admin", "--email", "a@example.com", "--name", "A"], input="short\nshort\n")
    assert result.exit_code != 0 and "at least 8" in result.output
    with app.app_context():
        assert db.session.query(User).count() == 0


def test_seed_demo_is_idempotent_and_covers_every_role_and_state(app, runner, forms, repo_root):
    from crowdfund.demo import DEMO_BACKERS, PROJECTS
    from crowdfund.discovery import tier_counts
    from crowdfund.media import IMAGE_WIDTHS
    from crowdfund.models import Project, ProjectKind, ProjectStatus

    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    assert first.exit_code == second.exit_code == 0, first.output
    assert f"demo data: {len(DEMO_USERS) + len(DEMO_BACKERS)} users" in first.output, "every account it made counts"
    assert "1 conversations created" in first.output
    assert "0 users, 0 categories and 0 projects and 0 conversations created" in second.output
    with app.app_context():
        users = db.session.query(User).all()
        assert len(users) == len(DEMO_USERS) + len(DEMO_BACKERS)
        assert set().union(*(u.roles for u in users)) == set(Role)
        assert any(not u.roles for u in users), "a plain backer account"
        top = db.session.query(Category).filter(Category.parent_id.is_(None)).count()
        assert top == len(CATEGORIES)
        assert db.session.query(Category).count() == len(CATEGORIES) + sum(len(c[3]) for c in CATEGORIES)
        rows = db.session.query(Project).all()
        assert len(rows) == len(PROJECTS) >= 24
        assert {p.status for p in rows} == set(ProjectStatus)
        assert {p.category.parent.slug for p in rows} == {c[0] for c in CATEGORIES}
        assert any(p.kind == ProjectKind.CHARITY for p in rows)
        assert all(p.cover is not None and len(p.cover.variants) == len(IMAGE_WIDTHS) for p in rows)
        tiers = [t for p in rows for t in p.tiers]
        counts = tier_counts(tiers)
        assert any(t.quantity_limit is None for t in tiers)
        assert any(t.quantity_limit and counts[t.id].sold_out for t in tiers), "one sold-out tier"
        assert all(t.taken == counts[t.id].held + counts[t.id].paid for t in tiers), "slot counters agree"
        from crowdfund import ledger

        assert ledger.verify() == []
        successful = next(p for p in rows if p.status == ProjectStatus.SUCCESSFUL)
        funds = ledger.project_funds(successful.id)
        assert funds["fees"] == funds["raised"] * 5 // 100 and funds["escrow"] == funds["raised"] - funds["fees"]
        from crowdfund.models import Comment, FaqEntry, Follow, MessageThread, ProjectUpdate

        readme = (repo_root / "README.md").read_text()
        for project in rows:  # the README names who made the projects it describes
            if f"({project.title}, by " in readme:
                assert f"({project.title}, by {project.creator.email.split('@')[0]}@)" in readme, project.title
        lamp = next(p for p in rows if p.title == PROJECTS[0][0])
        assert db.session.query(Comment).filter_by(project_id=lamp.id).count() == 5
        assert db.session.query(FaqEntry).filter_by(project_id=lamp.id).count() == 1
        assert {u.backers_only for u in db.session.query(ProjectUpdate).filter_by(project_id=lamp.id)} == {True, False}
        assert db.session.query(Follow).filter_by(project_id=lamp.id).count() == 2
        assert db.session.query(MessageThread).filter_by(project_id=lamp.id).count() == 1
    email, _, password, _ = DEMO_USERS[0]
    assert forms.login(email=email, password=password).status_code == 303
    page = forms.client.get(f"/projects/{lamp.slug}").get_data(as_text=True)
    assert "台灯的色温可以手动调吗？" in page and "第一批样机完成" in page


def test_demo_passwords_are_listed_in_readme(repo_root):
    readme = (repo_root / "README.md").read_text()
    for email, _, password, _ in DEMO_USERS:
        assert email in readme and password in readme


def test_tick_command_runs_due_periodic_jobs(runner):
    result = runner.invoke(args=["tick"])
    assert result.exit_code == 0 and "ran crowdfund.jobs.heartbeat" in result.output
