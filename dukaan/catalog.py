"""Storefront reads, and the per-vendor catalogue fragment cache.

The catalogue fragment (store name and products as HTML) is the hot path on a
sale day. It is rendered once, kept in the cache for 15 minutes under
``storefront:<slug>``, and deleted after the commit of any change it shows.
A cache that is down costs speed, never a sale: reads fall back to the
database and failed deletes are logged.

Each store also has a version in the cache, replaced on every invalidation,
and an entry is only used while its version is current. Without it, a request
that read the products just before a commit could store the old catalogue just
after that commit's delete, and the stale copy would live for 15 minutes.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import secrets
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from .extensions import cache, db
from .models import Product, Vendor

log = logging.getLogger(__name__)

STALE_SLUGS = "dukaan.stale_storefronts"
# Product attributes that the catalogue fragment shows.
SHOWN_ATTRIBUTES = ("name", "description", "price", "mrp", "available")


@dataclass(frozen=True)
class Storefront:
    """What the storefront page needs about one store."""

    slug: str
    store_name: str
    catalogue: Markup


def cache_key(slug: str) -> str:
    return f"storefront:{slug}"


def version_key(slug: str) -> str:
    return f"storefront-version:{slug}"


def find_vendor(slug: str) -> Vendor | None:
    return db.session.scalar(select(Vendor).where(Vendor.username == slug))


def available_products(vendor_id: int) -> list[Product]:
    """The products a customer sees, sold-out ones included, oldest first."""
    return list(
        db.session.scalars(
            select(Product)
            .where(Product.vendor_id == vendor_id, Product.available)
            .order_by(Product.id)
        )
    )


def render_catalogue(
    vendor: Vendor,
    products: list[Product],
    quantities: dict[int, str] | None = None,
    problems: dict[int, str] | None = None,
) -> Markup:
    """The catalogue fragment; ``quantities`` and ``problems`` re-fill a rejected order."""
    return Markup(
        render_template(
            "storefront/_catalogue.html",
            vendor=vendor,
            products=products,
            quantities=quantities or {},
            problems=problems or {},
        )
    )


def fill_lock_key(slug: str) -> str:
    return f"storefront-fill:{slug}"


# Single flight: while one request renders a missing catalogue, the others
# poll the cache this often, for at most this long, then render themselves.
FILL_POLL_SECONDS = 0.01
FILL_WAIT_SECONDS = 2.0
# A renderer that died frees its lock after this long.
FILL_LOCK_SECONDS = 5


def storefront(slug: str) -> Storefront | None:
    """The store behind ``slug``, from the cache when it can; None if no such store.

    A cache hit runs no SQL at all and costs one cache round trip. When the
    catalogue is missing, one request renders it and the others wait for it
    rather than all asking the database at once.
    """
    if not current_app.config["STOREFRONT_CACHE"]:
        return _from_database(slug)
    found, version = _cached(slug)
    if found is not None:
        return found or None
    won = _cache_call("add", fill_lock_key(slug), "1", timeout=FILL_LOCK_SECONDS)
    if won:
        try:
            # The request that held the lock before may have just stored it.
            found, version = _cached(slug)
            if found is not None:
                return found or None
            return _fill(slug, version)
        finally:
            _cache_call("delete", fill_lock_key(slug))
    if won is False:  # someone else is rendering it (None: the cache is down)
        deadline = time.monotonic() + FILL_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(FILL_POLL_SECONDS)
            # The lock first: if it was gone before the read, a miss is final.
            renderer_busy = _cache_call("get", fill_lock_key(slug))
            found, version = _cached(slug)
            if found is not None:
                return found or None
            if not renderer_busy:
                break  # the renderer is done but stored nothing current
    return _fill(slug, version)


def _cached(slug: str) -> tuple[Storefront | bool | None, str | None]:
    """(the cached store, False for a store known not to exist, None for a miss), and the version."""
    entry, version = _cache_call("get_many", cache_key(slug), version_key(slug)) or (None, None)
    if entry is None or len(entry) != 4 or entry[3] != version:
        return None, version
    if entry[0] is None:
        return False, version
    # The cache holds the catalogue as a plain string: mark it safe again,
    # or the page would show its HTML escaped.
    return Storefront(entry[0], entry[1], Markup(entry[2])), version


def _fill(slug: str, version: str | None) -> Storefront | None:
    """Render from the database and cache it under ``version``, read before the database:
    if a change commits meanwhile, that version is gone and the entry is never used."""
    front = _from_database(slug)
    if front is None:
        # Remember briefly that there is no such store (a flood of requests
        # for a made-up link must not all reach the database); a sign-up
        # under this name moves the version on.
        entry, timeout = (None, None, None, version), MISSING_STORE_SECONDS
    else:
        entry = (front.slug, front.store_name, str(front.catalogue), version)
        timeout = current_app.config["STOREFRONT_CACHE_TIMEOUT"]
    _cache_call("set", cache_key(slug), entry, timeout=timeout)
    return front


MISSING_STORE_SECONDS = 10


@dataclass(frozen=True)
class Page:
    """A whole storefront page as sent: its bytes, gzipped once for browsers, and their ETags."""

    body: bytes
    etag: str

    @cached_property
    def gzipped(self) -> bytes:
        # Once per page, rather than by nginx on every response.
        return gzip.compress(self.body, compresslevel=6, mtime=0)

    def encoded(self, gzipped: bool) -> tuple[bytes, str]:
        """(the bytes, their ETag), gzipped or plain. The two ETags differ, as their bytes do."""
        return (self.gzipped, f"{self.etag}-gzip") if gzipped else (self.body, self.etag)


# Rendered pages are kept in this process, under the store's version, for
# this many stores. Safe to reuse only because the page has nothing per
# visitor in it (no cookie, no token).
MAX_PAGES = 1000


class _PageMemo:
    """Pages by store, each with the version it was rendered under and when
    that version was last confirmed current."""

    def __init__(self) -> None:
        self.pages: OrderedDict[str, tuple[str, Page, float]] = OrderedDict()
        self.lock = threading.Lock()

    def recent(self, slug: str, seconds: float) -> Page | None:
        """The page if its version was confirmed less than ``seconds`` ago."""
        memo = self.pages.get(slug)
        if memo is None or time.monotonic() - memo[2] >= seconds:
            return None
        return memo[1]

    def get(self, slug: str, version: str) -> Page | None:
        with self.lock:
            memo = self.pages.get(slug)
            if memo is None or memo[0] != version:
                return None
            self.pages[slug] = (version, memo[1], time.monotonic())
            self.pages.move_to_end(slug)
            return memo[1]

    def drop(self, slug: str) -> None:
        with self.lock:
            self.pages.pop(slug, None)

    def put(self, slug: str, version: str, page: Page) -> None:
        with self.lock:
            self.pages[slug] = (version, page, time.monotonic())
            self.pages.move_to_end(slug)
            while len(self.pages) > MAX_PAGES:
                self.pages.popitem(last=False)


PAGES = "dukaan.storefront_pages"


def _memo() -> _PageMemo:
    return current_app.extensions[PAGES]


def storefront_page(slug: str, render_page: Callable[[Storefront], str]) -> Page | None:
    """The store's whole page, ``render_page`` applied to its ``Storefront``; None if no such store.

    While the store's version in the cache is unchanged, the page rendered
    last in this process is sent again: one cache read, no SQL, no
    rendering. Any change bumps the version (see ``forget``) and the next
    request renders anew. Within ``STOREFRONT_PAGE_TRUST_SECONDS`` of the
    last check even the cache read is skipped: on a sale day that turns
    thousands of reads a second into ten per process, and a change still
    shows within that fraction of a second.
    """
    config = current_app.config
    if not config["STOREFRONT_CACHE"]:
        front = _from_database(slug)
        return None if front is None else _page(render_page(front))
    trust = config["STOREFRONT_PAGE_TRUST_SECONDS"]
    if trust and (page := _memo().recent(slug, trust)) is not None:
        return page
    version = _cache_call("get", version_key(slug))
    if version is None:
        # No version yet (a cache just started) or no cache at all: make one,
        # so that the next request can reuse what this one renders.
        _cache_call("add", version_key(slug), secrets.token_hex(8), timeout=0)
        version = _cache_call("get", version_key(slug))
    if version is not None and (page := _memo().get(slug, version)) is not None:
        return page
    front = storefront(slug)
    if front is None:
        return None
    page = _page(render_page(front))
    if version is not None:
        # Kept under the version read before the database: if a change
        # committed meanwhile, the version has moved on and this is not reused.
        _memo().put(slug, version, page)
    return page


INDENTATION = re.compile(r"\n[ \t]+")


def _page(html: str) -> Page:
    # Template indentation is a fifth of the page, sent thousands of times a
    # second on a sale day; the page has no <pre> and its <textarea> is empty.
    body = INDENTATION.sub("\n", html).encode()
    return Page(body, hashlib.blake2b(body, digest_size=16).hexdigest())


def _from_database(slug: str) -> Storefront | None:
    vendor = find_vendor(slug)
    if vendor is None:
        return None
    catalogue = render_catalogue(vendor, available_products(vendor.id))
    return Storefront(vendor.slug, vendor.store_name, catalogue)


def forget(slug: str) -> None:
    """Delete the cached catalogue of one store now, and outdate any copy being stored.

    If the cache cannot be reached, its entries stay under the old version,
    and every process would take them up again the moment it is back: the
    new version is then written by a background retry, as soon as it can be.
    """
    if not _new_version(slug):
        current_app.extensions[PENDING].add(slug)
    # This process sees its own change at once, trust window or not.
    _memo().drop(slug)
    refresh_shared_cache(slug)


def _new_version(slug: str, quiet: bool = False) -> bool:
    # No timeout: the version must outlive every entry stored under it.
    if not _cache_call("set", version_key(slug), secrets.token_hex(8), timeout=0, quiet=quiet):
        return False
    _cache_call("delete", cache_key(slug), quiet=quiet)
    return True


PENDING = "dukaan.storefront_versions_pending"
# How often a version that could not be written is tried again.
VERSION_RETRY_SECONDS = 1.0


class _PendingVersions:
    """Stores whose new version could not be written yet, and the one thread that retries them."""

    def __init__(self, app) -> None:
        self.app = app
        # How many changes each store has waiting: a change that comes in
        # while a retry is under way keeps its store on the list.
        self.slugs: dict[str, int] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, slug: str) -> None:
        log.warning("storefront cache: %s keeps its old version for now; retrying every %s s",
                    slug, VERSION_RETRY_SECONDS)
        with self.lock:
            self.slugs[slug] = self.slugs.get(slug, 0) + 1
            if self.thread is None:
                self.thread = threading.Thread(target=self._retry, name="storefront-versions",
                                               daemon=True)
                self.thread.start()

    def _retry(self) -> None:
        while True:
            time.sleep(VERSION_RETRY_SECONDS)
            with self.lock:
                waiting = dict(self.slugs)
            with self.app.app_context():
                for slug, changes in waiting.items():
                    if _new_version(slug, quiet=True):  # add() said it once
                        log.info("storefront cache reachable again: %s has its new version", slug)
                        # Processes may have refilled the shared cache from
                        # the old entries meanwhile.
                        refresh_shared_cache(slug)
                        with self.lock:
                            if self.slugs.get(slug) == changes:
                                del self.slugs[slug]
            with self.lock:
                if not self.slugs:
                    self.thread = None
                    return


# A fill of the shared cache that read the database before a change can land
# after the first refresh, and the first refresh can meet a process still
# trusting its page (STOREFRONT_PAGE_TRUST_SECONDS, at most 0.25 s); the
# second refresh, this much later, overwrites both.
REFRESH_AGAIN_AFTER = 0.4


def refresh_shared_cache(slug: str) -> threading.Thread | None:
    """Have the shared cache (nginx) fetch ``slug``'s page anew, now and once more shortly.

    Runs in the background: the change is committed already, and a slow or
    absent nginx must not hold up the vendor's request.
    """
    base, key = current_app.config["SHARED_CACHE_URL"], current_app.config["CACHE_REFRESH_KEY"]
    if not base or not key:
        return None
    # nginx keeps a gzipped and a plain copy of each page: refresh both.
    requests = [
        urllib.request.Request(f"{base}/order/{slug}",
                               headers={"X-Cache-Refresh": key, "Accept-Encoding": encoding})
        for encoding in ("gzip", "identity")
    ]
    thread = threading.Thread(target=_refresh, args=(requests,), name=f"refresh-{slug}")
    thread.start()
    return thread


def _refresh(requests: list[urllib.request.Request]) -> None:
    for delay in (0, REFRESH_AGAIN_AFTER):
        time.sleep(delay)
        for request in requests:
            try:
                with urllib.request.urlopen(request, timeout=3) as response:
                    response.read()
            except Exception as error:  # the shared cache's own expiry bounds the damage
                log.warning("shared cache refresh of %s (%s) failed: %s", request.full_url,
                            request.get_header("Accept-encoding"), error)


def mark_stale(session: Session, slug: str) -> None:
    """Delete ``slug``'s cached catalogue once ``session`` commits (not before)."""
    session.info.setdefault(STALE_SLUGS, set()).add(slug)


def _cache_call(method: str, *args, quiet: bool = False, **kwargs):
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception:  # a cache outage must never fail the request
        if not quiet:
            log.warning("storefront cache %s failed for %s", method, args[0], exc_info=True)
        return None


# --- invalidation -----------------------------------------------------------


def _shows_change(product: Product) -> bool:
    """Did this flush change anything a customer sees of ``product``?"""
    state = inspect(product)
    for name in SHOWN_ATTRIBUTES:
        if state.attrs[name].history.has_changes():
            return True
    stock = state.attrs["stock"].history
    if stock.has_changes():
        before = (stock.deleted or [None])[0]
        after = (stock.added or [None])[0]
        if before is None or after is None or (before > 0) != (after > 0):
            return True
    return False


def _slug_of(session: Session, vendor_id: int) -> str | None:
    vendor = session.identity_map.get(inspect(Vendor).identity_key_from_primary_key((vendor_id,)))
    if vendor is not None:
        return vendor.username
    return session.connection().scalar(select(Vendor.username).where(Vendor.id == vendor_id))


def _after_flush(session: Session, _context) -> None:
    vendor_ids: set[int] = set()
    for obj in session.new:
        if isinstance(obj, Product) and obj.available:
            vendor_ids.add(obj.vendor_id)
        elif isinstance(obj, Vendor):  # a store that was "not found" until now
            mark_stale(session, obj.username)
    for product in session.deleted:
        if isinstance(product, Product):
            vendor_ids.add(product.vendor_id)
    for obj in session.dirty:
        if isinstance(obj, Product) and _shows_change(obj):
            vendor_ids.add(obj.vendor_id)
        elif isinstance(obj, Vendor) and inspect(obj).attrs["store_name"].history.has_changes():
            mark_stale(session, obj.username)
    for vendor_id in vendor_ids:
        slug = _slug_of(session, vendor_id)
        if slug:
            mark_stale(session, slug)


def _after_commit(session: Session) -> None:
    for slug in session.info.pop(STALE_SLUGS, ()):
        forget(slug)


def _after_rollback(session: Session) -> None:
    session.info.pop(STALE_SLUGS, None)


def init_app(app) -> None:
    """Give ``app`` its page memo and version retries, and hook the invalidation into every
    SQLAlchemy session (idempotent)."""
    app.extensions[PAGES] = _PageMemo()
    app.extensions[PENDING] = _PendingVersions(app)
    for name, listener in (
        ("after_flush", _after_flush),
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
