"""DATABASE_REPLICA_URL: a second engine (the replica bind) with a short connect timeout."""

from config import DevelopmentConfig


def test_a_replica_url_becomes_the_replica_bind(monkeypatch):
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://reader@replica.internal:5432/dukaan")
    config = DevelopmentConfig()
    bind = config.SQLALCHEMY_BINDS["replica"]
    assert bind["url"] == "postgresql+psycopg2://reader@replica.internal:5432/dukaan"
    assert bind["connect_args"] == {"connect_timeout": 1}


def test_no_replica_no_bind(monkeypatch):
    monkeypatch.delenv("DATABASE_REPLICA_URL", raising=False)
    assert not getattr(DevelopmentConfig(), "SQLALCHEMY_BINDS", None)
