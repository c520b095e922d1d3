"""A page this process has just sent, sent again before Flask is asked.

Within the store's trust window (``STOREFRONT_PAGE_TRUST_SECONDS``) the app
answers a store page or a product page from the page it keeps in memory
(``memo``), without asking Redis: the same ``Page``, the same headers, for
every visitor. This WSGI middleware keeps the last response Flask sent for
each page and each way of asking for it (path, host, scheme, the proxy's
headers, ``Accept-Encoding``) and, while the memo still holds that very
``Page`` as recent, sends it again without Flask's request machinery: what
was 0.5 ms of Python a request becomes a few dict lookups. Past the window
the request goes to Flask, which confirms the version and renders anew or
confirms the page; a change in this process drops the page at once, and with
it every response kept for it.

Only a plain ``GET`` with no query string and no ``If-None-Match`` is
replayed, and only a 200 that sets no cookie: a search, a revalidation, a
redirect or an error always reaches Flask. The request's id, log line and
metrics stay outside (``ops.requests``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, request

from ..ops import metrics
from ..ops.requests import ROUTE, VENDOR
from .memo import Page, PageMemo

# Set on the environ by a view that sent a kept page: (memo key, the Page).
SENT_PAGE = "dukaan.sent_page"
# What a request carries that the response depends on (besides the path): the proxy's
# headers (ProxyFix reads them: the scheme decides Strict-Transport-Security) and gzip.
ASKED_BY = ("HTTP_HOST", "wsgi.url_scheme", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
            "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_ACCEPT_ENCODING")


def sent(key: str, page: Page) -> None:
    """The view is answering with ``page``, kept in the memo under ``key``."""
    request.environ[SENT_PAGE] = (key, page)


@dataclass(frozen=True)
class Kept:
    """A response as Flask sent it, and the page (by identity) it was made from."""

    key: str
    page: Page
    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    route: str | None
    vendor: str | None


class PageReplay:
    """The WSGI middleware (see the module's text)."""

    def __init__(self, wsgi_app: Callable, memo: PageMemo, config: dict) -> None:
        self.wsgi_app = wsgi_app
        self.memo = memo
        self.config = config  # read on each request: the trust window, the cache on or off
        # Each page is asked for plain and gzipped, from one or two hosts: a few responses a page.
        self.size = 4 * config["STOREFRONT_MEMO_PAGES"]
        self._kept: dict[tuple, Kept] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        trust = self.config["STOREFRONT_PAGE_TRUST_SECONDS"]
        if (not trust or environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING")
                or "HTTP_IF_NONE_MATCH" in environ or not self.config["STOREFRONT_CACHE"]):
            return self.wsgi_app(environ, start_response)
        asked = (environ.get("PATH_INFO"), *(environ.get(name) for name in ASKED_BY))
        kept = self._kept.get(asked)
        if kept is not None and self.memo.recent(kept.key, trust) is kept.page:
            environ[ROUTE], environ[VENDOR] = kept.route, kept.vendor
            metrics.cache_lookup("page", "hit")
            start_response(kept.status, list(kept.headers))
            return [kept.body]
        return self._through_flask(environ, start_response, asked)

    def _through_flask(self, environ: dict, start_response: Callable, asked: tuple) -> Iterable[bytes]:
        answered: list = []

        def start(status: str, headers: list, exc_info=None):
            answered[:] = [status, tuple(headers)]  # before anyone outside adds theirs
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, start)
        page = environ.get(SENT_PAGE)
        if (page is None or not answered or answered[0] != "200 OK"
                or any(name.lower() == "set-cookie" for name, _ in answered[1])):
            return body
        try:
            whole = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        self._keep(asked, Kept(page[0], page[1], answered[0], answered[1], whole,
                               environ.get(ROUTE), environ.get(VENDOR)))
        return [whole]

    def _keep(self, asked: tuple, kept: Kept) -> None:
        with self._lock:
            self._kept.pop(asked, None)
            self._kept[asked] = kept
            while len(self._kept) > self.size:
                del self._kept[next(iter(self._kept))]


def register(app: Flask, memo: PageMemo) -> None:
    """Put the replay in front of ``app``'s Flask, inside the request observer (which wraps
    it later). It stands aside while pages are trusted for no time at all (the tests'
    default) or the cache is off."""
    app.wsgi_app = PageReplay(app.wsgi_app, memo, app.config)
