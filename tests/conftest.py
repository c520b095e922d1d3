"""Fixtures in the flaskr style: app, client, runner, queries, auth and a logged-in vendor.

The suite runs on the real servers: PostgreSQL, Redis and RabbitMQ when they
are reachable (TEST_DATABASE_URL, TEST_REDIS_URL, TEST_BROKER_URL: a virtual
host of the session's own, made if missing). When one is not, the general
tests fall back to SQLite or the in-process cache, the tests that need the
real server are skipped and the summary says which. With CI=true a missing
server fails the run instead.

Tests come in tiers, one folder and one marker each (``pytest -m web``):
unit (no request), web (the app through its test client), integration
(races, caches and migrations on the real servers) and e2e (a browser, the
native stack, the deploy files). ``pytest -m "unit or web"`` is the fast run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text

from config import database_url
from dukaan import jobs
from dukaan.extensions import cache, db
from helpers import (
    BROKER_URL,
    FIGURES,
    IN_CI,
    MADE_APPS,
    PG_URL,
    REDIS_URL,
    TABLES,
    TEST_DB,
    AuthActions,
    make_app,
    make_vendor,
    postgres_url,
    recording,
)

TIERS = {
    "unit": "no request: config, declarations, the jobs backend",
    "web": "the app through its test client, on the test servers",
    "integration": "races, caches and migrations on the real servers",
    "e2e": "a browser, the native stack with nginx, the deploy files",
}
HERE = Path(__file__).resolve().parent

_servers: dict[str, str | None] = {}  # name -> reason it is unreachable, or None


def _probe_postgres() -> str | None:
    try:
        engine = create_engine(database_url(PG_URL), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {TEST_DB}"))
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL is not reachable at {PG_URL}: {error.__class__.__name__}"
    return None


def _probe_redis() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as error:
        return f"Redis is not reachable at {REDIS_URL}: {error.__class__.__name__}"
    return None


def _probe_rabbitmq() -> str | None:
    """Reachable, with this session's virtual host (made here if missing)."""
    import subprocess

    from kombu import Connection

    try:
        with Connection(BROKER_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
        return None
    except Exception as error:
        reason = f"RabbitMQ is not reachable at {BROKER_URL}: {error.__class__.__name__}"
    vhost = BROKER_URL.rsplit("/", 1)[1]
    try:
        for command in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
            subprocess.run(["rabbitmqctl", "-q", *command], check=True, capture_output=True, timeout=30)
        with Connection(BROKER_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception:
        return reason
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs the real PostgreSQL server")
    config.addinivalue_line("markers", "redis: needs the real Redis server")
    config.addinivalue_line("markers", "rabbitmq: needs the real RabbitMQ server")
    for tier, what in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {what} (tests/{tier}/)")
    _servers["postgres"] = _probe_postgres()
    _servers["redis"] = _probe_redis()
    _servers["rabbitmq"] = _probe_rabbitmq()
    down = [reason for reason in _servers.values() if reason]
    if down and IN_CI:
        raise pytest.UsageError("CI=true but a server the tests need is down:\n  " + "\n  ".join(down))


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = item.path.relative_to(HERE).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: every test lives in one of {', '.join(TIERS)}")
        item.add_marker(getattr(pytest.mark, tier))
        # schemathesis 4.32 on pytest 9.2 gives every API operation's test one node id: name
        # each by its operation, so that reports, -k and pytest-xdist tell them apart.
        label = getattr(item, "operation_label", None)
        if label and item._id.params is None:
            item._id = item._id.with_params(label)
        for name in ("postgres", "redis", "rabbitmq"):
            if item.get_closest_marker(name) and _servers[name]:
                item.add_marker(pytest.mark.skip(reason=_servers[name]))


def pytest_report_header(config):
    return [
        f"database: {'SQLite (fallback)' if _servers['postgres'] else PG_URL.rsplit('/', 1)[0] + '/' + TEST_DB}",
        f"cache: {'SimpleCache (fallback)' if _servers['redis'] else REDIS_URL}",
        f"broker: {'none (its tests skipped)' if _servers['rabbitmq'] else BROKER_URL}",
    ]


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.write_sep("-", "figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
    down = [reason for reason in _servers.values() if reason]
    if down:
        skipped = terminalreporter.stats.get("skipped", [])
        terminalreporter.write_sep("!", "servers missing: tests skipped", yellow=True)
        for reason in down:
            terminalreporter.write_line(reason)
        terminalreporter.write_line(f"{len(skipped)} tests skipped; with CI=true this is a failure.")


@pytest.fixture(scope="session")
def _schema(tmp_path_factory):
    """Migrate the test database once; return its URL."""
    if _servers["postgres"]:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    else:
        url = postgres_url()
    app = make_app(url, None)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def app(_schema):
    """The app on the test database (emptied before each test) and Redis."""
    app = make_app(_schema, None if _servers["redis"] else REDIS_URL)
    with app.app_context():
        _empty(db.engine)
        cache.clear()
    yield app
    # Jobs still waiting belong to this test alone (retries against a dead cache, say).
    jobs.backend(app).drop_waiting()
    jobs.backend(app).shutdown()
    with app.app_context():
        try:
            cache.clear()
        except Exception:
            pass
        for engine in db.engines.values():  # the numbers bind's and the replica's too
            engine.dispose()


def _empty(engine) -> None:
    with engine.begin() as conn:
        # DELETE, not TRUNCATE: on tables this small it is ten times faster; on PostgreSQL
        # in one round trip, with the ids starting at 1 again.
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "".join(f"DELETE FROM {table}; " for table in TABLES)
                + "SELECT setval(pg_get_serial_sequence(t, 'id'), 1, false) FROM unnest(%(tables)s) AS t",
                {"tables": list(TABLES)},
            )
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(autouse=True)
def _close_idle_connections():
    """After each test, the idle connections of every app it made (each app has its pools)."""
    yield
    while MADE_APPS:
        made = MADE_APPS.pop()
        with made.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def queries(app):
    """A list that collects every SQL statement the app runs from now on."""
    seen: list[str] = []
    record = recording(seen)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def sent(monkeypatch):
    """Every mail the app hands to the mail server: (to, subject, body)."""
    from dukaan import mail

    seen: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send", lambda to, subject, body: seen.append((to, subject, body)))
    return seen


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def vendor(app, auth):
    """Ravi, logged in; his id."""
    vendor_id = make_vendor(app)
    auth.login()
    return vendor_id
