"""What every model file shares: money, the clock, and rows that belong to a vendor."""

from __future__ import annotations

import select as sockets
from datetime import datetime, timezone

from sqlalchemy import Engine, Numeric, Select, event, select
from sqlalchemy.exc import DisconnectionError

from ..extensions import db

# Up to ₹9,99,99,99,99,999.99: wider than any total orders.MAX_ORDER_TOTAL lets through.
Money = Numeric(14, 2)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(moment: datetime) -> datetime:
    """``moment`` with its zone: SQLite hands back naive UTC where PostgreSQL gives UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session has loaded, for a write that ends its
    request: the caller reads back only what it wrote itself or did not change. (A
    Core UPDATE of a loaded row must expire that row by hand first.)"""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


class VendorOwned:
    """A row that belongs to one vendor (it has a ``vendor_id``)."""

    @classmethod
    def owned_by(cls, vendor) -> Select:
        """The vendor's rows of this kind and nobody else's: the one place a query is scoped
        to a vendor. Takes a vendor, not the logged-in user, so the web and an API share it."""
        return select(cls).where(cls.vendor_id == vendor.id)


# A pool apart from the sessions' (PostgreSQL only): one-statement work beside a session's
# transaction, each statement its own transaction, none waiting for the disk (the primary's
# WAL position after a write, for read-your-writes on the replica). A thread that holds a
# session's connection never waits for a second one from the same pool.
SIDE = "side"


def side_bind(url: str) -> dict | None:
    """The engine options of the ``side`` bind for the database at ``url``; None for SQLite."""
    if not url.startswith("postgresql"):
        return None
    return {
        "url": url, "isolation_level": "AUTOCOMMIT", "pool_size": 1, "max_overflow": 8,
        "connect_args": {"options": "-c synchronous_commit=off -c lock_timeout=5s"},
    }


def check_on_checkout(engine: Engine) -> None:
    """Make ``engine``'s pool hand out no PostgreSQL connection the server has closed, at the
    cost of a system call instead of a round trip (SQLAlchemy's ``pool_pre_ping`` sends
    ``SELECT 1`` at every checkout: two of an order's ten round trips, and PostgreSQL's work
    for each).

    An idle connection hears nothing from PostgreSQL unless it is being closed: a server
    that stops or restarts sends each session a last message (FATAL 57P01) and closes the
    socket, and one that dies leaves the socket closed by the kernel. Either way the socket
    is readable while the connection sits in the pool; such a connection is thrown away and
    the pool connects anew (``DisconnectionError`` from a checkout handler)."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _closed_while_idle)


def _closed_while_idle(dbapi_connection, _record, _proxy) -> None:
    readable, _, _ = sockets.select([dbapi_connection], [], [], 0)
    if readable:
        raise DisconnectionError("PostgreSQL closed this connection while it was idle in the pool")
