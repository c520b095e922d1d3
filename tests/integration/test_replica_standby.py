"""Against a real hot standby of the test server (TEST_REPLICA_URL, by default PostgreSQL on
port 5433 streaming from the primary; skipped when there is none): lag made deterministic
with pg_wal_replay_pause(). The writer reads their own change at once; another reader sees
the replica's older row only while the replica is within REPLICA_MAX_LAG_SECONDS."""

from __future__ import annotations

import os
import re
import time

import pytest
from sqlalchemy import create_engine, text

from config import database_url
from helpers import IN_CI, TEST_DB, AuthActions, make_app, make_product, make_vendor, place

pytestmark = pytest.mark.postgres

REPLICA_SERVER = os.environ.get("TEST_REPLICA_URL", "postgresql://postgres@127.0.0.1:5433/postgres")
REPLICA_URL = database_url(REPLICA_SERVER.rsplit("/", 1)[0] + "/" + TEST_DB)


def _unavailable(reason: str):
    """No standby: a skip on a laptop, a failure in CI (.ci/run makes one)."""
    if IN_CI:
        pytest.fail(f"{reason}: .ci/run should have made it with scripts/stack replica")
    pytest.skip(f"{reason}; README: A read replica")


@pytest.fixture
def standby():
    """An engine on the standby's copy of the test database, streaming (after a test that
    restarted the primary it reconnects within seconds), replaying again after the test."""
    engine = create_engine(REPLICA_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT pg_is_in_recovery()")):
                _unavailable(f"{REPLICA_SERVER} is not a hot standby")
            deadline = time.monotonic() + 30
            while conn.scalar(text("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) == 0:
                if time.monotonic() > deadline:
                    _unavailable(f"{REPLICA_SERVER} is not streaming from the primary")
                time.sleep(0.2)
    except (pytest.skip.Exception, pytest.fail.Exception):
        raise
    except Exception as error:
        _unavailable(f"no hot standby at {REPLICA_SERVER} ({error.__class__.__name__})")
    yield engine
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_resume()"))
    engine.dispose()


def _status_seen(client) -> str:
    """The status the orders list shows for the one order (its row's class)."""
    page = client.get("/dashboard/orders").get_data(as_text=True)
    (status,) = re.findall(r'<tr id="order-\d+" class="status-([a-z]+)', page)
    return status


def test_read_your_writes_holds_while_the_replica_is_paused(app, _schema, standby):
    vendor_id = make_vendor(app)
    order_id = place(app, vendor_id, {make_product(app, vendor_id, "Mango pickle", "120.00", 10): 1})
    binds = {"replica": {"url": REPLICA_URL, "connect_args": {"connect_timeout": 1}}}
    patient = make_app(_schema, None, SQLALCHEMY_BINDS=binds, REPLICA_CHECK_SECONDS=0, REPLICA_MAX_LAG_SECONDS=60)
    writer, other = patient.test_client(), patient.test_client()
    auth = AuthActions(writer)
    auth.login()
    AuthActions(other).login()
    deadline = time.monotonic() + 5
    while _status_seen(other) != "placed" and time.monotonic() < deadline:
        time.sleep(0.05)
    with standby.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
    other.delete_cookie("wal")  # its login is older than the pause: nothing of its own to wait for
    assert auth.post(f"/dashboard/orders/{order_id}/status", {"status": "confirmed"}, htmx=True).status_code == 200
    assert _status_seen(writer) == "confirmed", "the writer sees their own change at once"
    assert _status_seen(other) == "placed", "another reader may see the replica's older row"
    # The same replica, with a freshness limit it now breaks: reads leave it.
    strict = make_app(_schema, None, SQLALCHEMY_BINDS=binds, REPLICA_CHECK_SECONDS=0, REPLICA_MAX_LAG_SECONDS=0.2)
    reader = strict.test_client()
    AuthActions(reader).login()
    reader.delete_cookie("wal")
    time.sleep(0.3)
    assert _status_seen(reader) == "confirmed"
    with strict.app_context():
        from dukaan import replica

        standing = replica.measure(0.2)
    assert not standing.usable and standing.lag > 0.2
