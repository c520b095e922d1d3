"""A response this process has just sent, sent again before Flask is asked.

Within the store's trust window (``STOREFRONT_PAGE_TRUST_SECONDS``) the app
answers a store page or a product page from the page it keeps in memory
(``memo``), and an API product list from the list it keeps (``api.listing``),
without asking Redis: the same bytes, the same headers, for every client. A
view that sends such a kept response says so (``allow``), with a test of
whether what it sent is still current. This WSGI middleware keeps the last
response Flask sent for each request (path, query string, host, scheme, the
proxy's headers, ``Accept-Encoding``) and, while that test holds, sends it
again without Flask's request machinery: what was 0.2 to 0.5 ms of Python a
request becomes a few dict lookups. Once the test fails (the window has
passed, or a change in this process dropped what was kept) the request goes
to Flask, which asks for the store's version and sends the page or list anew.

Only a ``GET`` without ``If-None-Match`` is replayed, and only a 200 that sets
no cookie: a revalidation, a redirect or an error always reaches Flask, and
so does anything a view did not allow (a search). The request's id, log line
and metrics stay outside (``ops.requests``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, request

from ..ops import metrics
from ..ops.requests import ROUTE, VENDOR, route_and_vendor

# Set on the environ by a view that sent a kept response: (its cache layer, its test).
ALLOWED = "dukaan.replay_allowed"
# What a request carries that the response depends on (besides the path and query): the
# proxy's headers (ProxyFix reads them: the scheme decides Strict-Transport-Security) and gzip.
ASKED_BY = ("QUERY_STRING", "HTTP_HOST", "wsgi.url_scheme", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
            "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_ACCEPT_ENCODING")


def allow(layer: str, still_current: Callable[[], bool]) -> None:
    """The view is sending what ``layer`` (a cache's metrics name) kept; the same request may
    be answered the same way while ``still_current()`` (called outside any request)."""
    request.environ[ALLOWED] = (layer, still_current)


@dataclass(frozen=True)
class Kept:
    """A response as Flask sent it, and the test of whether it is still current."""

    layer: str
    still_current: Callable[[], bool]
    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    route: str | None
    vendor: str | None


class Replay:
    """The WSGI middleware (see the module's text)."""

    def __init__(self, wsgi_app: Callable, size: int) -> None:
        self.wsgi_app = wsgi_app
        self.size = size
        self._kept: dict[tuple, Kept] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_IF_NONE_MATCH" in environ:
            return self.wsgi_app(environ, start_response)
        asked = (environ.get("PATH_INFO"), *(environ.get(name) for name in ASKED_BY))
        kept = self._kept.get(asked)
        if kept is not None and kept.still_current():
            environ[ROUTE], environ[VENDOR] = kept.route, kept.vendor
            metrics.cache_lookup(kept.layer, "hit")
            start_response(kept.status, list(kept.headers))
            return [kept.body]
        return self._through_flask(environ, start_response, asked)

    def _through_flask(self, environ: dict, start_response: Callable, asked: tuple) -> Iterable[bytes]:
        answered: list = []

        def start(status: str, headers: list, exc_info=None):
            answered[:] = [status, tuple(headers)]  # before anyone outside adds theirs
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, start)
        allowed = environ.get(ALLOWED)
        if (allowed is None or not answered or answered[0] != "200 OK"
                or any(name.lower() == "set-cookie" for name, _ in answered[1])):
            return body
        try:
            whole = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        self._keep(asked, Kept(allowed[0], allowed[1], answered[0], answered[1], whole,
                               *route_and_vendor(environ)))
        return [whole]

    def _keep(self, asked: tuple, kept: Kept) -> None:
        with self._lock:
            self._kept.pop(asked, None)
            self._kept[asked] = kept
            while len(self._kept) > self.size:
                del self._kept[next(iter(self._kept))]


def register(app: Flask) -> None:
    """Put the replay in front of ``app``'s Flask, inside the request observer (which wraps
    it later). Responses are allowed only where a view keeps them: with the store cache on
    and a trust window (the tests' default is none)."""
    # Each page or list is asked for plain and gzipped, from one or two hosts: a few responses each.
    size = 4 * (app.config["STOREFRONT_MEMO_PAGES"] + app.config["API_PRODUCTS_MEMO_PAGES"])
    app.wsgi_app = Replay(app.wsgi_app, size)
