"""Each store's catalogue entry in the shared cache (Redis), its version, and the fill lock.

The entry is what a store page needs from the database (slug, store name,
the catalogue as HTML, the store's selling terms as plain values), rendered
once and kept for ``STOREFRONT_CACHE_TIMEOUT``.
Each store also has a version, replaced on every change the page shows, and
an entry is used only while the version it was stored under is current:
a request that read the products just before a commit and stores them just
after it stores them under the old version, where nobody reads them.

A cache that is down costs speed, never a sale: every call here answers
None on failure and the caller reads the database instead.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from markupsafe import Markup

from .. import replica
from ..extensions import cache
from ..ops import metrics
from ..pricing import Terms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Storefront:
    """What the store page needs about one store."""

    slug: str
    store_name: str
    catalogue: Markup
    # Open or closed, payment methods, delivery and fees: what the page says about buying.
    terms: Terms = Terms()


# What the cache says of a store: one of these three.
@dataclass(frozen=True)
class Hit:
    front: Storefront


@dataclass(frozen=True)
class NoSuchStore:
    """Remembered briefly, so a flood of requests for a made-up link stays off the database."""

    front: None = None


@dataclass(frozen=True)
class Miss:
    version: str | None  # read before the database, to store the fill under


Lookup = Hit | NoSuchStore | Miss
# Reads a store's entry on the session given (the replica's when it may serve the fill).
Loader = Callable[..., Storefront | None]


def entry_key(slug: str) -> str:
    return f"storefront:{slug}"


def version_key(slug: str) -> str:
    return f"storefront-version:{slug}"


def fill_lock_key(slug: str) -> str:
    return f"storefront-fill:{slug}"


# Between a store's slug and a product's id, in a product page's path and memo key.
PRODUCT_PAGE = "/p/"


def product_pages_key(slug: str) -> str:
    return f"storefront-product-pages:{slug}"


def call(method: str, *args, quiet: bool = False, **kwargs):
    """``cache.<method>(*args, **kwargs)``, or None when the cache fails."""
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception:  # a cache outage must never fail the request
        metrics.cache_lookup("catalogue", "error")
        if not quiet:
            log.warning("storefront cache %s failed for %s", method, args[0] if args else "every store",
                        exc_info=True)
        return None


def lookup(slug: str) -> Lookup:
    entry, version = call("get_many", entry_key(slug), version_key(slug)) or (None, None)
    # An entry of another shape (stored by an older release) is a miss too.
    if entry is None or len(entry) != 5 or entry[4] != version:
        return Miss(version)
    if entry[0] is None:
        return NoSuchStore()
    # The cache holds the catalogue as a plain string: mark it safe again,
    # or the page would show its HTML escaped.
    return Hit(Storefront(entry[0], entry[1], Markup(entry[2]), Terms(*entry[3])))


# The versions this process read last, with when: trusted for a moment without asking again.
_confirmed: dict[str, tuple[str, float]] = {}


def confirmed_lately(slug: str) -> Callable[[str, float], bool]:
    """For ``slug``'s store: whether this process confirmed a version as current less than
    so many seconds ago, asking nothing of the cache (nor of Flask: answers outside a request)."""
    key = current_app.config["CACHE_KEY_PREFIX"] + slug

    def confirmed(version: str, trust: float) -> bool:
        known = _confirmed.get(key)
        return known is not None and known[0] == version and time.monotonic() - known[1] < trust

    return confirmed


def current_version(slug: str, trust: float = 0) -> str | None:
    """The store's version, made now if the cache has none yet; None without a cache.

    With ``trust``, the version this process read less than ``trust`` seconds ago is
    taken without asking the cache (a change made in this process forgets it at once;
    one made elsewhere shows here within ``trust``)."""
    key = current_app.config["CACHE_KEY_PREFIX"] + slug
    if trust and (known := _confirmed.get(key)) is not None and time.monotonic() - known[1] < trust:
        return known[0]
    version = call("get", version_key(slug))
    if version is None:
        # A cache just started, or none at all: make one, so that the next
        # request can reuse what this one renders.
        call("add", version_key(slug), secrets.token_hex(8), timeout=0)
        version = call("get", version_key(slug))
    if version is not None and trust:
        _confirmed[key] = (version, time.monotonic())
    return version


def new_version(slug: str, quiet: bool = False) -> bool:
    """Outdate every entry of ``slug``; False if the cache could not be told.

    With a replica, the version carries the primary's WAL position after the change
    (``<token>@<position>``): a fill under it reads the replica only once the replica has
    replayed that far (``replayed_by``), so nothing is cached from before the change."""
    position = replica.position_now()
    version = secrets.token_hex(8) + (f"@{position}" if position else "")
    # No timeout: the version must outlive every entry stored under it.
    if not call("set", version_key(slug), version, timeout=0, quiet=quiet):
        return False
    _confirmed.pop(current_app.config["CACHE_KEY_PREFIX"] + slug, None)  # this process sees it at once
    call("delete", entry_key(slug), quiet=quiet)
    return True


def replayed_by(version: str | None) -> int | None:
    """The WAL position a fill under ``version`` must see (None: any)."""
    return replica.lsn(version.rpartition("@")[2]) if version and "@" in version else None


def storefront(slug: str, load: Loader) -> Storefront | None:
    """The store behind ``slug``, from the cache when it can, else ``load(slug)``; None if no such store.

    A hit runs no SQL and costs one cache round trip. On a miss one request
    loads and stores the entry and the others wait for it (single flight)
    rather than all asking the database at once.
    """
    config = current_app.config
    result = lookup(slug)
    if not isinstance(result, Miss):
        metrics.cache_lookup("catalogue", "hit")
        return result.front
    metrics.cache_lookup("catalogue", "miss")
    version = result.version
    won = call("add", fill_lock_key(slug), "1", timeout=config["STOREFRONT_FILL_LOCK_SECONDS"])
    if won:
        try:
            # The request that held the lock before may have just stored it.
            result = lookup(slug)
            if not isinstance(result, Miss):
                return result.front
            return _fill(slug, result.version, load)
        finally:
            call("delete", fill_lock_key(slug))
    if won is False:  # someone else is loading it (None: the cache is down)
        deadline = time.monotonic() + config["STOREFRONT_FILL_WAIT_SECONDS"]
        while time.monotonic() < deadline:
            time.sleep(config["STOREFRONT_FILL_POLL_SECONDS"])
            # The lock first: if it was gone before the read, a miss is final.
            loader_busy = call("get", fill_lock_key(slug))
            result = lookup(slug)
            if not isinstance(result, Miss):
                return result.front
            version = result.version
            if not loader_busy:
                break  # the loader is done but stored nothing current
    return _fill(slug, version, load)


def _fill(slug: str, version: str | None, load: Loader) -> Storefront | None:
    """Load from the database and store under ``version``, read before the database:
    if a change commits meanwhile, that version is gone and the entry is never used."""
    config = current_app.config
    # The replica's once it has replayed the change that made this version (and the
    # visitor's own last write): nothing older is ever stored under it.
    front = load(slug, replica.session(at_least=replayed_by(version)))
    if front is None:
        # A sign-up under this name moves the version on.
        entry, timeout = (None, None, None, None, version), config["STOREFRONT_MISSING_STORE_SECONDS"]
    else:
        entry = (front.slug, front.store_name, str(front.catalogue), front.terms.as_tuple(), version)
        timeout = config["STOREFRONT_CACHE_TIMEOUT"]
    call("set", entry_key(slug), entry, timeout=timeout)
    return front


# nginx keeps product pages for a day after their last use (its cache's ``inactive``).
PRODUCT_PAGES_SECONDS = 24 * 3600


def remember_product_page(slug: str, product_id: int) -> None:
    """Note that ``product_id``'s page was rendered, so a change refreshes nginx's copy of it."""
    client = _redis()
    key = f"{cache.cache.key_prefix}{product_pages_key(slug)}" if client is not None else None
    try:
        if client is not None:
            client.pipeline().sadd(key, product_id).expire(key, PRODUCT_PAGES_SECONDS).execute()
        else:  # an in-process cache: one process, no race across processes
            ids = cache.get(product_pages_key(slug)) or frozenset()
            cache.set(product_pages_key(slug), ids | {product_id}, timeout=PRODUCT_PAGES_SECONDS)
    except Exception:
        metrics.cache_lookup("catalogue", "error")
        log.warning("storefront cache: could not note the product page %s/%s", slug, product_id, exc_info=True)


def product_pages(slug: str) -> list[int]:
    """The products of ``slug`` whose pages were rendered in the last day."""
    client = _redis()
    try:
        if client is not None:
            ids = client.smembers(f"{cache.cache.key_prefix}{product_pages_key(slug)}")
        else:
            ids = cache.get(product_pages_key(slug)) or ()
    except Exception:
        log.warning("storefront cache: could not list the product pages of %s", slug, exc_info=True)
        return []
    return sorted(int(i) for i in ids)


def _redis():
    """The Redis client behind the cache (a set needs more than get and set), or None."""
    return getattr(cache.cache, "_write_client", None)
