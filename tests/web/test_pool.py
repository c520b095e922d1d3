"""The connection pools: a connection PostgreSQL has closed is never handed out, and a live
one is handed out again without a round trip to check it."""

import pytest
from sqlalchemy import create_engine, event, text

from dukaan.extensions import db
from dukaan.models.common import SIDE, _closed_while_idle

pytestmark = pytest.mark.postgres


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def test_every_engine_of_the_app_checks_its_connections(app):
    with app.app_context():
        engines = db.engines
    assert SIDE in engines
    for engine in engines.values():
        assert engine.pool._pre_ping is False
        assert event.contains(engine, "checkout", _closed_while_idle)


def test_a_live_idle_connection_is_handed_out_again_with_no_statement_sent(app, queries):
    with app.app_context():
        engine = db.engine
        first = _backend(engine)
        queries.clear()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == first
    assert queries == ["SELECT pg_backend_pid()"]  # no ping before it


def test_a_connection_the_server_closed_while_idle_is_replaced(app, client):
    """What a restart of PostgreSQL does to every pooled connection, done to one: the next
    checkout gets a new connection, and the request that needed it does not fail."""
    with app.app_context():
        engine = db.engine
        doomed = _backend(engine)
        admin = create_engine(engine.url)
        with admin.connect() as conn:  # waits up to 5 s for the backend to have ended
            assert conn.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": doomed})
        admin.dispose()
        assert engine.pool.checkedin() == 1  # the dead one, waiting to be handed out
        assert client.get("/order/no-such-store").status_code == 404  # it asked the database: no 500
        assert _backend(engine) != doomed
