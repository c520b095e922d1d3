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

import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import datetime, timezone
from json.encoder import encode_basestring as quoted

from flask import Flask

# The id of the request (or the job it started) this thread is working on.
REQUEST_ID: ContextVar[str | None] = ContextVar("dukaan_request_id", default=None)

ACCESS = logging.getLogger("dukaan.access")
FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
# What every LogRecord has; anything else on a record (``extra=``) is a field of its line.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (as ``request_id``) that has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, the
    record's extras, and ``exc_info`` (the traceback) for an exception.

    Written here rather than taken from python-json-logger: that costs about 60 µs a line, this
    about 10, and it runs on every request."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {key: value for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES}
        if record.exc_info:
            extras["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            extras["stack_info"] = self.formatStack(record.stack_info)
        return json_line(record.created, record.levelname, record.name, record.getMessage(), extras)


# One encoder for every line: json.dumps with options builds a new one each call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
# The time's whole seconds, formatted once a second: (the second, its text).
_second: tuple[int, str] = (-1, "")


def iso_time(created: float) -> str:
    """``created`` (a Unix time) in ISO 8601, UTC, to the millisecond: as
    ``datetime.isoformat(timespec="milliseconds")`` writes it, in a fifth of the time."""
    global _second
    whole = int(created)
    second = _second
    if second[0] != whole:
        second = _second = (whole, datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{second[1]}.{int((created - whole) * 1000):03d}+00:00"


def json_line(created: float, level: str, logger: str, message: str, fields: dict) -> str:
    return _ENCODER.encode({"time": iso_time(created), "level": level, "logger": logger, "message": message,
                            **fields})


def access_line(created: float, level: str, method: str, route: str | None, status: int, seconds: float,
                vendor: str | None, request_id: str) -> str:
    """``json_line`` of an access line, written out field by field (each string through the
    json module's own escaping): a fifth of the time of encoding a dict, on every request."""
    route_text = quoted(route) if route is not None else "null"
    vendor_text = quoted(vendor) if vendor is not None else "null"
    return (f'{{"time": "{iso_time(created)}", "level": "{level}", "logger": "{ACCESS.name}", '
            f'"message": {quoted(f"{method} {route} {status}")}, "request_id": {quoted(request_id)}, '
            f'"method": {quoted(method)}, "route": {route_text}, "status": {status:d}, '
            f'"duration_ms": {round(seconds * 1000, 2)!r}, "vendor": {vendor_text}}}')


def json_formatter() -> logging.Formatter:
    return JsonLines()


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


class _Handler(logging.StreamHandler):
    """The app's one handler (a marker class, so that a second app in the process replaces it)."""

    def write_line(self, line: str) -> None:
        """``line`` as it is, as ``emit`` would write a formatted record."""
        try:
            with self.lock:
                self.stream.write(line + self.terminator)
                self.flush()
        except Exception:  # a log that cannot be written must not fail the request
            pass


# The JSON handler of the app last registered, which access lines go to directly; None: text.
_json_handler: _Handler | None = None


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
    global _json_handler
    _json_handler = handler if log_format == "json" else None
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    for warning in warnings:
        logger.warning(warning)


def access(method: str, route: str | None, status: int, seconds: float, vendor: str | None,
           request_id: str) -> None:
    """The request's own line on ``dukaan.access``: ERROR for a 5xx, INFO otherwise.

    In JSON it is written straight to the app's handler, not through ``logging``'s records,
    filters and handlers (which cost 25 µs more a request, two thirds of the line): the
    ``dukaan.access`` level still decides, other handlers do not see it."""
    level = logging.ERROR if status >= 500 else logging.INFO
    if not ACCESS.isEnabledFor(level):
        return
    handler = _json_handler
    if handler is not None:
        handler.write_line(access_line(time.time(), logging.getLevelName(level), method, route, status, seconds,
                                       vendor, request_id))
        return
    fields = {"request_id": request_id, "method": method, "route": route, "status": status,
              "duration_ms": round(seconds * 1000, 2), "vendor": vendor}
    ACCESS.handle(ACCESS.makeRecord(ACCESS.name, level, __file__, 0, "%s %s %s", (method, route, status), None,
                                    extra=fields))
