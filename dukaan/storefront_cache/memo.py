"""Whole store pages kept in this process, each under the store version it was rendered for.

Safe to share between visitors only because the page has nothing per visitor
in it (no cookie, no token).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

INDENTATION = re.compile(r"\n[ \t]+")


@dataclass(frozen=True)
class Page:
    """A whole store page as sent: its bytes, gzipped once for browsers, and their ETags."""

    body: bytes
    etag: str

    @classmethod
    def from_html(cls, html: str) -> Page:
        # Template indentation is a fifth of the page, sent thousands of times a
        # second on a sale day; the page has no <pre> and its <textarea> is empty.
        body = INDENTATION.sub("\n", html).encode()
        return cls(body, hashlib.blake2b(body, digest_size=16).hexdigest())

    @cached_property
    def gzipped(self) -> bytes:
        # Once per page, rather than by nginx on every response.
        return gzip.compress(self.body, compresslevel=6, mtime=0)

    def encoded(self, gzipped: bool) -> tuple[bytes, str]:
        """(the bytes, their ETag), gzipped or plain. The two ETags differ, as their bytes do."""
        return (self.gzipped, f"{self.etag}-gzip") if gzipped else (self.body, self.etag)


class PageMemo:
    """Pages by key (a store's slug; ``<slug>/p/<id>`` for a product's), each with its
    version and when that version was last confirmed current; the least recently used
    go first past ``size`` pages."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pages: OrderedDict[str, tuple[str, Page, float]] = OrderedDict()
        self._lock = threading.Lock()

    def recent(self, slug: str, seconds: float) -> Page | None:
        """The page if its version was confirmed less than ``seconds`` ago."""
        memo = self._pages.get(slug)
        if memo is None or time.monotonic() - memo[2] >= seconds:
            return None
        return memo[1]

    def get(self, slug: str, version: str) -> Page | None:
        """The page if it was rendered under ``version`` (which confirms it now)."""
        with self._lock:
            memo = self._pages.get(slug)
            if memo is None or memo[0] != version:
                return None
            self._pages[slug] = (version, memo[1], time.monotonic())
            self._pages.move_to_end(slug)
            return memo[1]

    def put(self, slug: str, version: str, page: Page) -> None:
        with self._lock:
            self._pages[slug] = (version, page, time.monotonic())
            self._pages.move_to_end(slug)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def drop(self, slug: str) -> None:
        """Forget the store's page and its product pages (keys under ``<slug>/``)."""
        below = slug + "/"
        with self._lock:
            self._pages.pop(slug, None)
            for key in [key for key in self._pages if key.startswith(below)]:
                del self._pages[key]

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
