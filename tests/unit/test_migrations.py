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


def test_sqlite_table_rebuilds_keep_the_rows_that_refer_to_the_table(tmp_path):
    """Batch mode rebuilds `users` on SQLite (0017 adds a unique phone): rows referring to it must survive."""
    from sqlalchemy import text

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/keep.sqlite",
                      "SECRET_KEY": secrets.token_hex(16)})
    with app.app_context():
        upgrade(revision="0016_email_verification")
        db.session.execute(text(
            "INSERT INTO users (id, email, display_name, password_hash, session_token, terms_version, "
            "privacy_version, agreed_at, created_at) VALUES (7, 'kept@example.com', 'Kept', '!', 'tok', 'a', 'b', "
            "'2026-11-27 08:00:00', '2026-11-27 08:00:00')"))
        db.session.execute(text("INSERT INTO user_roles (user_id, role, granted_at) "
                                "VALUES (7, 'creator', '2026-11-27 08:00:00')"))
        db.session.execute(text("INSERT INTO consents (user_id, document_key, version, accepted_at) "
                                "VALUES (7, 'terms', 'a', '2026-11-27 08:00:00')"))
        db.session.commit()
        upgrade()
        assert db.session.execute(text("SELECT user_id, role FROM user_roles")).all() == [(7, "creator")]
        assert db.session.execute(text("SELECT count(*) FROM consents WHERE user_id = 7")).scalar() == 1
