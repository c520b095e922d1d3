"""config.py: URLs, the production guard, development defaults, Redis timeouts."""

from __future__ import annotations

import gc
import logging
import secrets
import socket
import time

import pytest
from sqlalchemy import create_engine

import config
from config import (
    REDIS_SOCKET_OPTIONS,
    Config,
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    database_url,
    from_environment,
)
from helpers import make_product, make_vendor

ENV = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DUKAAN_ENV", "CACHE_KEY_PREFIX",
       "SESSION_COOKIE_SECURE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


# --- database URLs ----------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    ("postgres://shop:pw@db.example:5432/dukaan", "postgresql+psycopg2://shop:pw@db.example:5432/dukaan"),
    ("postgresql://shop:pw@db.example/dukaan", "postgresql+psycopg2://shop:pw@db.example/dukaan"),
    ("postgresql://postgres@127.0.0.1/test?sslmode=require",
     "postgresql+psycopg2://postgres@127.0.0.1/test?sslmode=require"),
    ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
    ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:////tmp/dukaan.sqlite", "sqlite:////tmp/dukaan.sqlite"),
    ("", ""),
])
def test_database_url_makes_psycopg2_explicit(given, expected):
    assert database_url(given) == expected


@pytest.mark.parametrize("url", ["postgres://u@h/d", "postgresql://u@h/d"])
def test_rewritten_url_uses_the_installed_driver(url):
    engine = create_engine(database_url(url))
    assert engine.dialect.driver == "psycopg2"
    engine.dispose()


@pytest.mark.parametrize("env_class", [Config, DevelopmentConfig])
def test_database_url_from_the_environment_is_rewritten(monkeypatch, env_class):
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    assert env_class().SQLALCHEMY_DATABASE_URI == "postgresql+psycopg2://shop@db/dukaan"


# --- production ---------------------------------------------------------------------------

STRONG = secrets.token_hex(32)


def test_production_needs_secret_key_and_database_url(monkeypatch):
    with pytest.raises(ConfigError, match="SECRET_KEY and DATABASE_URL must be set"):
        ProductionConfig()
    monkeypatch.setenv("SECRET_KEY", STRONG)
    with pytest.raises(ConfigError) as raised:
        ProductionConfig()
    assert "DATABASE_URL" in str(raised.value) and "SECRET_KEY" not in str(raised.value)
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    with pytest.raises(ConfigError) as raised:
        ProductionConfig()
    assert "SECRET_KEY" in str(raised.value) and "DATABASE_URL" not in str(raised.value)


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL"])
def test_production_refuses_an_empty_setting(monkeypatch, name):
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    monkeypatch.setenv(name, "")
    with pytest.raises(ConfigError, match=name):
        ProductionConfig()


def test_dukaan_env_production_is_guarded(monkeypatch):
    monkeypatch.setenv("DUKAAN_ENV", "production")
    with pytest.raises(ConfigError):
        from_environment()
    with pytest.raises(ConfigError):
        from dukaan import create_app

        create_app()


def test_production_with_its_settings(monkeypatch):
    monkeypatch.setenv("DUKAAN_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    settings = from_environment()
    assert isinstance(settings, ProductionConfig)
    assert settings.SECRET_KEY == STRONG
    assert settings.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg2://shop@db/dukaan"
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CACHE_TYPE == "RedisCache"
    assert settings.PASSWORD_HASH_METHOD == "scrypt:131072:8:1"
    assert settings.SESSION_REFRESH_EACH_REQUEST is False
    assert not hasattr(settings, "WARNINGS") or not settings.WARNINGS
    # nginx serves the photos: the app never does in production.
    assert settings.MEDIA_SERVE is False and settings.MEDIA_URL == "/media/"


def test_production_secure_cookie_can_be_turned_off_for_plain_http(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
    assert ProductionConfig().SESSION_COOKIE_SECURE is False


def test_unknown_environment_name(monkeypatch):
    monkeypatch.setenv("DUKAAN_ENV", "staging")
    with pytest.raises(ConfigError, match="'staging' is not one of development, production"):
        from_environment()


# --- development ----------------------------------------------------------------------------


def test_development_defaults_to_sqlite_and_the_in_process_cache():
    settings = from_environment()
    assert isinstance(settings, DevelopmentConfig)
    expected = config.BASE_DIR / "instance" / "dukaan.sqlite"
    assert settings.SQLALCHEMY_DATABASE_URI == f"sqlite:///{expected}"
    assert settings.CACHE_TYPE == "SimpleCache"
    assert settings.SECRET_KEY
    assert len(settings.WARNINGS) == 3
    assert any("SECRET_KEY is not set" in w for w in settings.WARNINGS)
    assert any("DATABASE_URL is not set" in w for w in settings.WARNINGS)
    assert any("REDIS_URL is not set" in w for w in settings.WARNINGS)


def test_development_warns_only_about_what_is_missing(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "mine")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/x.sqlite")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = DevelopmentConfig()
    assert settings.WARNINGS == []
    assert settings.SECRET_KEY == "mine"


def test_development_app_logs_its_warnings(monkeypatch, tmp_path, caplog):
    from dukaan import create_app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'dev.sqlite'}")
    with caplog.at_level(logging.WARNING, logger="dukaan"):
        app = create_app()
    assert app.config["CACHE_TYPE"] == "SimpleCache"
    messages = [r.getMessage() for r in caplog.records if r.name == "dukaan"]
    assert any("SECRET_KEY is not set" in m for m in messages)
    assert any("REDIS_URL is not set: caching in this process only" in m for m in messages)


def test_redis_url_selects_redis_cache_with_short_timeouts(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    settings = DevelopmentConfig()
    assert settings.CACHE_TYPE == "RedisCache"
    assert settings.CACHE_REDIS_URL == "redis://cache.internal:6379/2"
    assert settings.CACHE_OPTIONS["socket_timeout"] <= 0.5
    assert settings.CACHE_OPTIONS["socket_connect_timeout"] <= 0.5
    # Each instance gets its own copy: one app cannot change another's options.
    settings.CACHE_OPTIONS["socket_timeout"] = 99
    assert REDIS_SOCKET_OPTIONS["socket_timeout"] <= 0.5


@pytest.fixture
def hung_redis():
    """A TCP port that accepts connections and never answers: a hung Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def test_a_hung_redis_costs_the_storefront_milliseconds(app, monkeypatch, hung_redis):
    """With the real config's timeouts, a Redis that never answers does not hang a sale."""
    from dukaan import create_app
    from dukaan.extensions import db

    make_product(app, make_vendor(app), "Mango pickle", "120.00", 5)
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("REDIS_URL", hung_redis)
    hung = create_app(DevelopmentConfig())
    client = hung.test_client()
    gc.collect()  # a full collection in the middle would be the test worker's cost, not the app's
    started = time.monotonic()
    response = client.get("/order/ravi")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert "Mango pickle" in response.get_data(as_text=True)
    assert elapsed < 2, f"the storefront waited {elapsed:.2f} s on a hung Redis"
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["cache"] == "unreachable"
    with hung.app_context():
        db.engine.dispose()
        from dukaan.extensions import cache

        for pool in (cache.cache._read_client.connection_pool, cache.cache._write_client.connection_pool):
            pool.disconnect()


@pytest.mark.parametrize("name", ["SECRET_KEY", "CACHE_REFRESH_KEY"])
@pytest.mark.parametrize("value, why", [
    ("change-me-to-a-long-random-string", "placeholder"),  # .env.example's
    ("change-me-as-well", "placeholder"),
    ("dev-only-secret-change-me", "placeholder"),
    ("s3cret", "shorter than 32"),
    ("a" * 64, "too few characters"),
    ("abababababababababababababababababab", "too few characters"),
])
def test_production_refuses_a_guessable_secret(monkeypatch, name, value, why):
    """Started with .env.example's key, anyone who read the repository could sign a session."""
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        ProductionConfig()
    message = str(raised.value)
    assert message.startswith(name) and why in message
    assert "secrets.token_hex(32)" in message


def test_production_takes_random_secrets(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    monkeypatch.setenv("CACHE_REFRESH_KEY", secrets.token_hex(16))
    monkeypatch.setenv("SHARED_CACHE_URL", "http://nginx")
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    assert ProductionConfig().CACHE_REFRESH_KEY


def test_production_needs_a_refresh_key_with_a_shared_cache(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db/dukaan")
    monkeypatch.setenv("SHARED_CACHE_URL", "http://nginx")
    with pytest.raises(ConfigError, match="CACHE_REFRESH_KEY must be set"):
        ProductionConfig()


def test_jobs_and_mail_settings_from_the_environment(monkeypatch):
    for name in ("CELERY_BROKER_URL", "MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_DEFAULT_SENDER"):
        monkeypatch.delenv(name, raising=False)
    config = Config()
    assert (config.CELERY_BROKER_URL, config.MAIL_SERVER, config.MAIL_PORT, config.MAIL_USE_TLS) == ("", "", 25, False)
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.com")
    monkeypatch.setenv("MAIL_PORT", "587")
    monkeypatch.setenv("MAIL_USE_TLS", "1")
    config = Config()
    assert (config.CELERY_BROKER_URL, config.MAIL_SERVER, config.MAIL_PORT, config.MAIL_USE_TLS) == (
        "amqp://guest:guest@127.0.0.1:5672/", "smtp.example.com", 587, True)
    monkeypatch.setenv("MAIL_PORT", "smtp")
    with pytest.raises(ConfigError, match="MAIL_PORT must be a whole number, not 'smtp'"):
        Config()
