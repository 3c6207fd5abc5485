"""Migrations build the schema, and the models agree with them."""
import secrets

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from crowdfund import create_app
from crowdfund.extensions import db
from crowdfund.models.base import render_item


def differences(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "render_item": render_item})
        return compare_metadata(context, db.metadata)


def test_models_match_migrations_on_the_test_database(app):
    """The session database (PostgreSQL under `make test`) was built by `flask db upgrade`."""
    assert differences(app) == []


def test_fresh_sqlite_upgrade_downgrade_upgrade(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/fresh.sqlite",
                      "SECRET_KEY": secrets.token_hex(16)})
    with app.app_context():
        upgrade()
        assert differences(app) == []
        downgrade(revision="base")
        assert set(db.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
    assert differences(app) == []


def test_flask_db_upgrade_command(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/cli.sqlite"})
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert {"users", "user_roles", "categories", "periodic_runs"} <= set(db.inspect(db.engine).get_table_names())
