"""Reads that may be a moment old, from a streaming replica (``DATABASE_REPLICA_URL``).

``session()`` is the session such a read uses: the replica's while it answers,
is at most ``REPLICA_MAX_LAG_SECONDS`` behind, and has replayed this visitor's
own last write; the primary's (``db.session``) otherwise, so no request fails
and nobody misses their own change. Anything that writes or locks rows uses
``db.session`` as always, and ``session()`` is the primary's for every read of a
request that writes (a POST) or has committed: a helper shared by a page and the
form that changes it may ask it either way.

Read your own writes: after a request that committed, the app sends the
primary's WAL position in the ``wal`` cookie (for
``REPLICA_READ_OWN_WRITES_SECONDS``); while the replica has not replayed that
far, this visitor's reads go to the primary. Each process checks where the
replica stands at most every ``REPLICA_CHECK_SECONDS`` (two one-row queries),
asks the replica again (one query) when a read needs a position newer than it
last saw, and leaves a replica that failed alone for ``REPLICA_RETRY_SECONDS``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from .extensions import db
from .models.common import SIDE

log = logging.getLogger(__name__)

BIND = "replica"
EXTENSION = "dukaan.replica"
COOKIE = "wal"
READING = ("GET", "HEAD")
LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")

# Where the server stands: a replica has replayed up to this position; a primary (a replica
# promoted, or a test that uses one database for both) has written up to it.
STANDING = text("""
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
           CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())
                ELSE 0 END
""")
WRITTEN = text("SELECT pg_current_wal_lsn()")
REPLAYED = text("SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END")
# What read-your-writes asks the servers (their WAL positions): no table, none of the store's data.
POSITIONS = frozenset(statement.text for statement in (STANDING, WRITTEN, REPLAYED))


def lsn(value: str | None) -> int | None:
    """A WAL position (``16/B374D848``) as a number; None if it is not one."""
    found = LSN.fullmatch(value or "")
    return (int(found[1], 16) << 32) | int(found[2], 16) if found else None


@dataclass(frozen=True)
class Standing:
    usable: bool
    replayed: int  # the WAL position the replica has replayed
    lag: float  # seconds behind the primary (0: it has replayed all the primary wrote)


DOWN = Standing(False, 0, math.inf)


def measure(max_lag: float) -> Standing:
    """Where the replica stands now (one query on it, one on the primary); ``DOWN`` if it fails."""
    try:
        with db.engines[BIND].connect() as replica:
            replayed, replayed_ago = replica.execute(STANDING).one()
        with db.engine.connect() as primary:
            written = primary.scalar(WRITTEN)
    except Exception as error:  # a replica down costs the primary some reads, never a request
        log.warning("replica: unreachable, reads go to the primary: %s", error.__class__.__name__)
        return DOWN
    replayed, written = lsn(str(replayed)), lsn(str(written))
    if replayed is None or written is None:
        return DOWN
    lag = 0.0 if replayed >= written else (math.inf if replayed_ago is None else float(replayed_ago))
    return Standing(lag <= max_lag, replayed, lag)


def replayed() -> int | None:
    """The WAL position the replica has replayed, asked now (one query on it); None if it fails."""
    try:
        with db.engines[BIND].connect() as replica:
            return lsn(str(replica.scalar(REPLAYED)))
    except Exception as error:
        log.warning("replica: unreachable, reads go to the primary: %s", error.__class__.__name__)
        return None


class Watch:
    """This process's view of the replica, refreshed at most every ``every`` seconds, and
    asked again when a read needs a position newer than the last it saw (``has_replayed``)."""

    def __init__(self, every: float, retry: float, max_lag: float) -> None:
        self.every, self.retry, self.max_lag = every, retry, max_lag
        self.lock = threading.Lock()
        self.standing = DOWN
        self.next_check = 0.0

    def now(self) -> Standing:
        if time.monotonic() < self.next_check:
            return self.standing
        with self.lock:
            if time.monotonic() >= self.next_check:
                self.standing = measure(self.max_lag)
                wait = self.every if self.standing is not DOWN else self.retry
                self.next_check = time.monotonic() + wait
        return self.standing

    def has_replayed(self, position: int) -> bool:
        """Whether the replica (usable: up and not too far behind) has replayed ``position``:
        by what this process last saw, or else by asking it now. A change made a moment ago
        is usually replayed within milliseconds, long before the next measure is due."""
        standing = self.now()
        if not standing.usable:
            return False
        if position <= standing.replayed:
            return True
        now = replayed()
        with self.lock:
            if now is None:  # down: leave it alone until the retry, as a measure would
                self.standing, self.next_check = DOWN, time.monotonic() + self.retry
                return False
            if self.standing.usable and now > self.standing.replayed:
                self.standing = Standing(True, now, self.standing.lag)
        return position <= now


def configured(app: Flask | None = None) -> bool:
    return BIND in ((app or current_app).config.get("SQLALCHEMY_BINDS") or {})


def session(at_least: int | None = None, not_written_here: bool = False) -> Session:
    """The session for a read that may be a moment old (see the module's docstring); with
    ``at_least``, a WAL position the read must see (the change that outdated what it fills),
    the replica's only once it has replayed that far.

    A request that writes (any method but GET and HEAD), or has committed, reads the
    primary throughout: what it reads may decide what it writes, and what it shows after
    must show its own change. ``not_written_here``: the read is of none of that (what a
    cart shows of its other products, after the change of one line), so it goes where a
    GET's would: the visitor's earlier writes still keep it on the primary until replayed."""
    if not configured() or (_writing() and not not_written_here):
        return db.session
    own = lsn(request.cookies.get(COOKIE)) if has_request_context() else None
    if not current_app.extensions[EXTENSION].has_replayed(max(at_least or 0, own or 0)):
        return db.session
    if "_replica_session" not in g:
        g._replica_session = Session(bind=db.engines[BIND])
    return g._replica_session


def _writing() -> bool:
    return has_request_context() and (request.method not in READING or g.get("_dukaan_committed", False))


def position_now() -> str | None:
    """The primary's WAL position now, at or past every change committed so far (a fill that
    must see them waits for the replica to replay this far); None without a replica, or when
    the primary does not answer."""
    if not configured():
        return None
    try:
        with db.engines[SIDE].connect() as primary:
            return str(primary.scalar(WRITTEN))
    except Exception:  # the caller goes on without it: fills then read the primary
        log.warning("replica: the primary's WAL position could not be read", exc_info=True)
        return None


def _committed(_session) -> None:
    if has_request_context():
        g._dukaan_committed = True


def init_app(app: Flask) -> None:
    if not configured(app):
        return
    config = app.config
    app.extensions[EXTENSION] = Watch(config["REPLICA_CHECK_SECONDS"], config["REPLICA_RETRY_SECONDS"],
                                      config["REPLICA_MAX_LAG_SECONDS"])
    if not event.contains(db.session, "after_commit", _committed):
        event.listen(db.session, "after_commit", _committed)

    @app.after_request
    def remember_own_write(response):
        if g.pop("_dukaan_committed", False):
            try:
                written = db.session.scalar(WRITTEN)
            except Exception:  # the write is done; without its position the visitor reads the primary
                log.warning("replica: the primary's WAL position could not be read", exc_info=True)
                return response
            response.set_cookie(COOKIE, str(written), max_age=int(config["REPLICA_READ_OWN_WRITES_SECONDS"]),
                                httponly=True, samesite="Lax", secure=config.get("SESSION_COOKIE_SECURE", False))
        return response

    @app.teardown_appcontext
    def close_replica_session(_error=None) -> None:
        replica = g.pop("_replica_session", None)
        if replica is not None:
            replica.close()
