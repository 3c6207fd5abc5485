"""Configuration from the environment."""
import pytest

from crowdfund import create_app
from crowdfund.config import ConfigError, normalize_database_url


def test_development_key_is_generated_once_into_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    first = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"]
    second = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"]
    assert first == second == (tmp_path / "secret_key").read_text()
    assert len(first) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("key", [None, "", "short", "dev-" + "a" * 64])
def test_production_refuses_missing_short_or_dev_key(tmp_path, monkeypatch, key):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CROWDFUND_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/crowdfund")
    if key is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_starts_with_a_real_key_and_secure_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CROWDFUND_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgres://user@db/crowdfund")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://user@db/crowdfund"
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_sqlite(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CROWDFUND_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app()


def test_embedded_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'crowdfund.sqlite'}"
    assert app.config["REDIS_URL"] is None
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert app.config["BABEL_DEFAULT_LOCALE"] == "zh_CN"
    assert app.config["BABEL_DEFAULT_TIMEZONE"] == "Asia/Shanghai"
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize("given, expected", [
    ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
    ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_database_url_is_normalised_to_psycopg3(given, expected):
    assert normalize_database_url(given) == expected
