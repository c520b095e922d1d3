"""The sale day's hot statements, prepared once per PostgreSQL connection.

PostgreSQL parses and plans every statement it is sent as text; for an order's
statements that was more of its work than running them (``pgbench`` over an
order's five statements on our 2-core machine: 1,190 a second sent as text,
2,030 prepared; README, "Prepared statements"). A statement built with
``prepared(statement)`` is sent as ``EXECUTE`` of a statement the connection
prepared the first time it ran it, with its values as the arguments: the same
rows come back, so Core and the ORM read them as before.

The prepared statements live as long as their connection (PostgreSQL keeps them
through a rollback); the pool's record of which a connection has is cleared with
the connection, and a connection whose prepared statement a migration made stale
(a column it returns changed type) is replaced. ``DATABASE_PREPARED_STATEMENTS=off``
sends everything as text, for a pooler in front of PostgreSQL that hands one
client's statements to several server connections (PgBouncer in transaction mode).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, NamedTuple

from sqlalchemy import Engine, event
from sqlalchemy.sql import Executable
from sqlalchemy.types import NullType

OPTION = "dukaan_prepared"
# Which statements a DBAPI connection has prepared (in its pool record's info: cleared with it).
_PREPARED = "dukaan_prepared_names"
# psycopg2's named placeholders, and a literal percent sign (doubled in a statement with values).
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")


def prepared(statement: Executable) -> Executable:
    """``statement``, to be sent prepared on PostgreSQL (where the app allows it)."""
    return statement.execution_options(**{OPTION: True})


class Plan(NamedTuple):
    """How one statement text is prepared (``prepare``, sent once per connection as it is)
    and executed (``execute``, with the statement's own values)."""

    name: str
    prepare: str
    execute: str


# Statement text -> its plan (None: sent as text), the same for every connection; and back.
_plans: dict[str, Plan | None] = {}
_originals: dict[str, str] = {}


def original(statement: str) -> str:
    """The statement an ``EXECUTE`` sent by this module stands for (else ``statement``)."""
    return _originals.get(statement, statement)


def send_prepared(engine: Engine) -> None:
    """Send ``engine``'s statements marked ``prepared`` as ``EXECUTE`` of statements prepared
    once per connection (PostgreSQL only; idempotent)."""
    if engine.dialect.name == "postgresql" and not event.contains(engine, "before_cursor_execute", _execute_prepared):
        event.listen(engine, "before_cursor_execute", _execute_prepared, retval=True)
        event.listen(engine, "handle_error", _stale_after_a_migration)


def plan_of(statement: str, context: Any) -> Plan | None:
    """The plan of ``statement`` (as SQLAlchemy compiled it for psycopg2: ``%(name)s``
    placeholders), or None if it cannot be prepared: a value SQLAlchemy renders at
    execution (an expanding ``IN``) is not one of the compiled statement's parameters."""
    if statement in _plans:
        return _plans[statement]
    compiled = context.compiled
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    order: list[str] = []

    def positional(match: re.Match) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    text = _PLACEHOLDER.sub(positional, statement)
    plan = None
    if all(name in by_name for name in order):
        types = ", ".join(_type_name(by_name[name].type, context.dialect) for name in order)
        label = "dukaan_" + hashlib.sha256(statement.encode()).hexdigest()[:20]
        arguments = "(" + ", ".join(f"%({name})s" for name in order) + ")" if order else ""
        plan = Plan(label, f"PREPARE {label}{f' ({types})' if order else ''} AS {text}", f"EXECUTE {label}{arguments}")
    if len(_plans) < 1_000:
        _plans[statement] = plan
        if plan is not None:
            _originals[plan.execute] = statement
    return plan


def _type_name(type_, dialect) -> str:
    # A value of no declared type is typed by its place in the statement, as when sent as text.
    return "unknown" if isinstance(type_, NullType) else dialect.type_compiler_instance.process(type_)


def _execute_prepared(connection, cursor, statement: str, parameters, context, executemany: bool):
    if executemany or context is None or context.compiled is None or not context.execution_options.get(OPTION):
        return statement, parameters
    plan = plan_of(statement, context)
    if plan is None:
        return statement, parameters
    names = connection.info.setdefault(_PREPARED, set())
    if plan.name not in names:
        cursor.execute(plan.prepare)
        names.add(plan.name)
    return plan.execute, parameters


def _stale_after_a_migration(context) -> None:
    """A column a prepared statement returns changed its type (a migration while this process
    ran): PostgreSQL refuses that statement on this connection from then on, so the
    connection goes (as if it had dropped) and its successor prepares anew. One request fails."""
    error = context.original_exception
    if getattr(error, "pgcode", None) == "0A000" and "cached plan must not change result type" in str(error):
        context.is_disconnect = True
