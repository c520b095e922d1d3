"""Each request seen from outside: its id, its duration, one log line and its metrics.

A WSGI middleware around the app takes the request id nginx made (an
``X-Request-ID`` of a sane shape; otherwise it makes one, as under
``flask run``), sends it back in the response's ``X-Request-ID``, and when the
app has answered counts the request (``metrics``) and logs it (``logs``). The
route template and the vendor are read from what Flask matched, which it leaves in the
environ (a logged-in vendor is noted by a hook of the blueprints that have
sessions); nothing here reads the database.
"""

from __future__ import annotations

import os
import re
import time

from flask import Flask, g, request

from . import logs, metrics

HEADER = "X-Request-ID"
# nginx's $request_id is 32 hex digits; a UUID or another proxy's id passes too. Anything
# else (too long, spaces, quotes, control characters) is replaced rather than logged.
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")

# What Flask matched, (rule, view args), left in the environ as its request ends (dukaan.Dukaan).
MATCHED = "dukaan.matched"
ROUTE = "dukaan.route"
VENDOR = "dukaan.vendor"


def request_id_from(environ: dict) -> str:
    incoming = environ.get("HTTP_X_REQUEST_ID")
    if incoming and SANE_ID.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()  # 32 hex digits, as nginx's; a tenth of uuid4's time


class RequestObserver:
    """The WSGI middleware: request id, duration, the access line and the request metrics."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = request_id_from(environ)
        environ["dukaan.request_id"] = request_id
        status = ["500"]

        def start_with_id(status_line, headers, exc_info=None):
            status[0] = status_line
            headers.append((HEADER, request_id))
            return start_response(status_line, headers, exc_info)

        token = logs.REQUEST_ID.set(request_id)
        try:
            return self.wsgi_app(environ, start_with_id)
        finally:
            # Also when the app raised (only in testing: otherwise Flask answers 500 itself).
            seconds = time.perf_counter() - started
            code = int(status[0][:3])
            method = environ.get("REQUEST_METHOD", "")
            route, vendor = route_and_vendor(environ)
            metrics.observe_request(method, route, code, seconds)
            logs.access(method, route, code, seconds, vendor, request_id)
            logs.REQUEST_ID.reset(token)


def route_and_vendor(environ: dict) -> tuple[str | None, str | None]:
    """The route template a request matched and its vendor (the logged-in one, else the store
    slug in the URL), once Flask has answered it (a replayed response's are noted directly)."""
    if ROUTE in environ:
        return environ[ROUTE], environ.get(VENDOR)
    rule, values = environ.get(MATCHED, (None, None))
    vendor = environ.get(VENDOR)
    if vendor is None and values:
        vendor = values.get("slug")
    return (rule.rule if rule is not None else None), vendor


def register(app: Flask, session_blueprints: tuple[str, ...]) -> None:
    if not app.config.get("OBSERVE_REQUESTS", True):
        return

    def note_vendor(_error=None) -> None:
        """The vendor this request logged in, if it loaded one (Flask-Login keeps it on g)."""
        user = g.get("_login_user")
        if user is not None and getattr(user, "is_authenticated", False):
            request.environ[VENDOR] = user.username

    for blueprint in session_blueprints:
        app.teardown_request_funcs.setdefault(blueprint, []).append(note_vendor)
    app.wsgi_app = RequestObserver(app.wsgi_app)
