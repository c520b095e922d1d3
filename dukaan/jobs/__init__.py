"""The jobs seam: slow work a change asks for runs after the commit, off the request.

A job is a function registered under a name with ``@job("subject.name")``.
There are two ways to ask for one:

- ``record(name, **args)`` writes it to the outbox in the transaction of the
  change that asks for it (``db.session``). After the commit a relay hands it
  to the workers through RabbitMQ (``CELERY_BROKER_URL``), or, with no broker
  configured, to this process's threads; a rollback forgets it. A broker that
  is down at commit time gets it later from a periodic sweep (``outbox``).
  Mail goes this way: it must not be lost.
- ``enqueue(name, **args)`` runs it in this process now, on a few threads
  (``inprocess``), with no record: for work about this process's caches,
  where a lost job costs a page that is stale until it expires.

A job that cannot finish yet raises ``Retry``; a job that fails is logged
with its arguments, never dropped silently. Jobs are idempotent: running one
twice does no harm. Arguments are plain values (JSON in the outbox and on
the broker).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

EXTENSION = "dukaan.jobs"
# Set in a session's info once it recorded a job; after its commit the relay runs.
RECORDED = "dukaan.jobs.recorded"

JOBS: dict[str, Callable[..., Any]] = {}


class Retry(Exception):
    """Raised by a job that should run again after ``after`` seconds, with ``changes`` to its arguments."""

    def __init__(self, after: float, **changes: Any):
        super().__init__(f"retry in {after} s")
        self.after = after
        self.changes = changes


def job(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the job ``name``."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        if JOBS.setdefault(name, function) is not function:
            raise ValueError(f"two jobs are named {name!r}")
        return function

    return register


def enqueue(name: str, *, delay: float = 0, key: str | None = None, **args: Any) -> None:
    """Run the job ``name`` with ``args`` after ``delay`` seconds, in the background.

    With a ``key``, a job with that key still waiting to start makes this one
    a no-op (a job already running does not: the change behind this call may
    have come after it read its data).
    """
    if name not in JOBS:
        raise LookupError(f"no job is named {name!r}")
    backend(current_app).enqueue(name, args, delay=delay, key=key)


def record(name: str, **args: Any) -> None:
    """Ask for the job ``name`` with ``args`` once the current transaction (``db.session``) commits.

    It is written to the outbox in that transaction, so it is handed over
    after the commit (and only then), at least once: a job must be idempotent.
    Raises ``LookupError`` for an unknown job.
    """
    if name not in JOBS:
        raise LookupError(f"no job is named {name!r}")
    from ..extensions import db
    from ..models import OutboxEntry, utcnow
    from ..ops.logs import REQUEST_ID

    # A Core INSERT: one statement, no id to fetch back, nothing for the ORM to track.
    db.session.execute(OutboxEntry.__table__.insert().values(name=name, args=args, created_at=utcnow(),
                                                             request_id=REQUEST_ID.get()))
    db.session.info[RECORDED] = True


def backend(app: Flask):
    return app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    from . import carts, mail, outbox, photos, storefront  # noqa: F401  (registers their jobs)
    from .celery import celery_init_app
    from .inprocess import InProcessJobs

    local = InProcessJobs(app, threads=app.config["JOBS_THREADS"], limit=app.config["JOBS_QUEUE_LIMIT"])
    app.extensions[EXTENSION] = local
    celery_app = celery_init_app(app)
    if app.config["CELERY_BROKER_URL"]:
        app.extensions[outbox.CARRIER] = outbox.CeleryCarrier(celery_app)
    else:
        app.extensions[outbox.CARRIER] = outbox.InProcessCarrier(local)
    outbox.listen()
