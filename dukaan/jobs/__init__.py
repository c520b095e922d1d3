"""The jobs seam: slow work a change asks for runs after the commit, off the request.

A job is a function registered under a name with ``@job("subject.name")``.
``enqueue(name, **args)`` hands it to the app's backend; the only backend so
far runs jobs in this process on a few threads (``inprocess``). A job that
cannot finish yet raises ``Retry``; a job that fails is logged with its
arguments, never dropped silently. Jobs are idempotent: running one twice
does no harm. Arguments are plain values (a broker will carry them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

EXTENSION = "dukaan.jobs"

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


def backend(app: Flask):
    return app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    from . import storefront  # noqa: F401  (registers its jobs)
    from .inprocess import InProcessJobs

    app.extensions[EXTENSION] = InProcessJobs(
        app, threads=app.config["JOBS_THREADS"], limit=app.config["JOBS_QUEUE_LIMIT"]
    )
