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


def test_seed_demo_is_idempotent_and_covers_every_role(app, runner, forms):
    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    assert first.exit_code == second.exit_code == 0
    assert "0 users and 0 categories created" in second.output
    with app.app_context():
        users = db.session.query(User).all()
        assert len(users) == len(DEMO_USERS)
        held = set().union(*(u.roles for u in users))
        assert held == set(Role)
        assert any(not u.roles for u in users), "a plain backer account"
        top = db.session.query(Category).filter(Category.parent_id.is_(None)).count()
        assert top == len(CATEGORIES)
        assert db.session.query(Category).count() == len(CATEGORIES) + sum(len(c[3]) for c in CATEGORIES)
    email, _, password, _ = DEMO_USERS[0]
    assert forms.login(email=email, password=password).status_code == 303


def test_demo_passwords_are_listed_in_readme(repo_root):
    readme = (repo_root / "README.md").read_text()
    for email, _, password, _ in DEMO_USERS:
        assert email in readme and password in readme


def test_tick_command_runs_due_periodic_jobs(runner):
    result = runner.invoke(args=["tick"])
    assert result.exit_code == 0 and "ran crowdfund.jobs.heartbeat" in result.output
