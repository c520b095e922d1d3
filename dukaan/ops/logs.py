"""The app's log: one JSON object per line in production, readable text on a laptop.

Every line written during a request carries its request id (``request_id``),
the one nginx made and passed as ``X-Request-ID`` (or the app's own, see
``dukaan.ops.requests``); a job the request started carries it too. Each
request ends with one line of its own on the ``dukaan.access`` logger:
method, route template (never the raw path: order links are secrets),
status, duration and the vendor (their store slug) where known.

``LOG_FORMAT`` chooses: ``json`` (production's default) or ``text``.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from flask import Flask
from pythonjsonlogger.json import JsonFormatter

# The id of the request (or the job it started) this thread is working on.
REQUEST_ID: ContextVar[str | None] = ContextVar("dukaan_request_id", default=None)

ACCESS = logging.getLogger("dukaan.access")
FORMATS = ("json", "text")
JSON_FIELDS = ("levelname", "name", "message")
JSON_RENAMED = {"levelname": "level", "name": "logger"}
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (as ``request_id``) that has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def json_formatter() -> logging.Formatter:
    """``{"time": ISO 8601 UTC, "level", "logger", "message", ...the record's extras}``; a traceback
    goes in ``exc_info``."""
    return JsonFormatter(list(JSON_FIELDS), rename_fields=JSON_RENAMED, timestamp="time")


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


class _Handler(logging.StreamHandler):
    """The app's one handler (a marker class, so that a second app in the process replaces it)."""


def register(app: Flask, warnings=()) -> None:
    """Send the app's log (the ``dukaan`` loggers) to stderr in ``LOG_FORMAT``, at INFO."""
    log_format = app.config.get("LOG_FORMAT", "text")
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    logger = app.logger  # "dukaan": the module loggers ("dukaan.…") send their records here
    from flask.logging import default_handler

    logger.removeHandler(default_handler)
    for handler in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else text_formatter())
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    for warning in warnings:
        logger.warning(warning)


def access(method: str, route: str | None, status: int, seconds: float, vendor: str | None,
           request_id: str) -> None:
    """The request's own line: ERROR for a 5xx, INFO otherwise."""
    level = logging.ERROR if status >= 500 else logging.INFO
    if not ACCESS.isEnabledFor(level):
        return
    ACCESS.log(level, "%s %s %s", method, route, status, extra={
        "request_id": request_id, "method": method, "route": route, "status": status,
        "duration_ms": round(seconds * 1000, 2), "vendor": vendor,
    })
