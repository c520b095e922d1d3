"""A store's products as the API lists them: filters, order and pages, and each page kept
in this process under the store's version (``storefront_cache``).

Everything the store page shows (names, prices, a product put on sale, hidden
or sold out) moves the store's version on after its commit, and a page kept
under an older version is never sent again. The exact number of units free
(``stock``) moves more often than that: a kept page is trusted for at most
``API_PRODUCTS_TRUST_SECONDS`` (0.5 s) before it is read again, so a list is
never more than that behind the stock and at once in step with the rest.

A page is kept as it was sent, under the request as it was written (the store
slug, the query string, the host): a repeat of that request is answered from
it before its query is parsed again (``kept``). Only a query that passed
validation is ever read (``listing``), so only a good one is ever kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urljoin

from flask import current_app, request
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import joinedload
from werkzeug.http import quote_etag

from .. import accounts, inventory, photos, products, replica
from ..models import Product, Vendor
from ..ops import metrics
from ..storefront_cache import entries, replay
from . import paging

MEMO = "dukaan.api_product_pages"
SORTS = {
    "price": (Product.price, Product.id),
    "-price": (Product.price.desc(), Product.id),
    "name": (func.lower(Product.name), Product.id),
    "newest": (Product.created_at.desc(), Product.id.desc()),
}


@dataclass(frozen=True)
class Query:
    """What an app asked for: filters, an order (None: the store page's), a page."""

    page: int = 1
    per_page: int = 20
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    category: int | None = None
    sort: str | None = None


@dataclass(frozen=True)
class Listed:
    """One page of the list as sent: the JSON body, its ETag, and every header of its own
    (``ETag``, ``X-Total-Count``, ``Link``...), made once with the page."""

    body: bytes
    etag: str
    headers: tuple[tuple[str, str], ...]


def free_units():
    """A column: what can be bought of each product now (its stock less live holds, never
    below 0), as ``inventory.free`` counts it; its values are ``inventory.holds_now``'s."""
    free = Product.stock - inventory.HELD_BY_CARTS
    return case((free < 0, 0), else_=free)


def _filtered(vendor: Vendor, query: Query) -> Select:
    free = free_units()
    found = products.for_vendor(vendor).where(Product.available)
    if query.q:
        found = found.where(products.matching(query.q))
    if query.min_price is not None:
        found = found.where(Product.price >= query.min_price)
    if query.max_price is not None:
        found = found.where(Product.price <= query.max_price)
    if query.in_stock is not None:
        found = found.where(free > 0 if query.in_stock else free <= 0)
    if query.category is not None:
        # A category that is not this store's (or no longer exists) has no products: an empty list.
        found = found.where(Product.category_id == query.category)
    return found


def _load(slug: str, vendor: Vendor, query: Query, session) -> Listed:
    found = _filtered(vendor, query)
    holds = inventory.holds_now(None)  # one moment for the count and the page
    total = session.scalar(select(func.count()).select_from(found.subquery()), holds) or 0
    rows = session.execute(
        found.add_columns(free_units()).options(joinedload(Product.category))
        .order_by(*SORTS.get(query.sort, (Product.id,)))
        .limit(query.per_page).offset((query.page - 1) * query.per_page),
        holds,
    ).all()
    ready = photos.by_product([product.id for product, _ in rows], ready_only=True, session=session)
    items = [{
        "id": product.id, "name": product.name, "description": product.description,
        "price": f"{product.price:.2f}", "mrp": None if product.mrp is None else f"{product.mrp:.2f}",
        "stock": free, "available": free > 0, "max_per_order": product.max_per_order,
        "category": None if product.category is None else {"id": product.category.id,
                                                            "name": product.category.name},
        "photos": [_photo(photo) for photo in ready.get(product.id, [])],
    } for product, free in rows]
    body = json.dumps({"items": items, "page": query.page, "per_page": query.per_page, "total": total},
                      separators=(",", ":"), ensure_ascii=False).encode()
    etag = hashlib.blake2b(body, digest_size=16).hexdigest()
    return Listed(body, etag, (
        # In the order the response has always had them (Werkzeug sets the length again).
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("ETag", quote_etag(etag)),
        # Apps revalidate every time and get a 304 while nothing changed.
        ("Cache-Control", "no-cache"),
        ("X-Total-Count", str(total)),
        ("Link", paging.links("api.products", query.page, query.per_page, total, slug=slug)),
    ))


def _photo(photo) -> dict:
    """A ready photo as apps get it: its size and an absolute URL for each rendition width."""
    cover = photos.Cover.of(photo)
    return {"width": cover.width, "height": cover.height,
            "urls": {str(width): urljoin(request.host_url, url) for width, url in cover.urls.items()}}


class _Memo:
    """Pages by request (``_request_key``), each with the store version it was read under and when;
    the least recently used go first past ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pages: OrderedDict[tuple, tuple[str, Listed, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, seconds: float) -> tuple[str, Listed] | None:
        """The version a page was read under and the page, if it was read less than ``seconds`` ago."""
        with self._lock:
            kept = self._pages.get(key)
            if kept is None or time.monotonic() - kept[2] >= seconds:
                return None
            self._pages.move_to_end(key)
            return kept[0], kept[1]

    def put(self, key: tuple, version: str, listed: Listed, read_at: float) -> None:
        with self._lock:
            self._pages[key] = (version, listed, read_at)
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


def init_app(app) -> None:
    app.extensions[MEMO] = _Memo(app.config["API_PRODUCTS_MEMO_PAGES"])


def store(slug: str, session=None) -> Vendor | None:
    """The store behind ``slug`` (a vendor), or None; read on ``session`` (the app's by default)."""
    slug = slug.lower()
    if accounts.username_problem(slug):
        return None
    return accounts.find(slug, session)


def _version(slug: str) -> str | None:
    """The store's version to keep its pages under; None when pages are not kept."""
    if not (current_app.config["API_PRODUCTS_TRUST_SECONDS"] and current_app.config["STOREFRONT_CACHE"]):
        return None
    # The version as this process confirmed it within the store page's trust window (0.1 s):
    # a list hit then asks nothing of the cache, as a store page hit does.
    return entries.current_version(slug.lower(), trust=current_app.config["STOREFRONT_PAGE_TRUST_SECONDS"])


def _request_key(slug: str) -> tuple:
    # The slug as written (the Link header repeats it) and the query string as sent: the same
    # bytes are the same query, valid or not. Photo URLs and links name the host asked: its
    # scheme, host and root path (what ``request.host_url`` is made of, for less).
    return slug, request.query_string, request.scheme, request.host, request.root_path


def kept(slug: str) -> Listed | None:
    """The page this process sent for this same request (slug, query string and host as
    written), while the store is at the version it was read under and for at most
    ``API_PRODUCTS_TRUST_SECONDS``; else None."""
    memo: _Memo = current_app.extensions[MEMO]
    found = memo.get(_request_key(slug), current_app.config["API_PRODUCTS_TRUST_SECONDS"])
    # Only a request answered before asks for the version: a new or a bad one asks nothing more.
    if found is None:
        return None
    version, listed = found
    if version != _version(slug):
        return None
    metrics.cache_lookup("api_products", "hit")
    _replayable(slug, version, listed)
    return listed


def listing(slug: str, query: Query) -> Listed | None:
    """One page of ``slug``'s products on sale, read now and kept for ``kept`` (``query``
    must be this request's, validated); None if there is no such store."""
    metrics.cache_lookup("api_products", "miss")
    version = _version(slug)
    read_at = time.monotonic()
    # A read that may be a moment old, the store's row too: the replica's once it has replayed
    # the change that made this version (and the caller's own last write).
    reading = replica.session(at_least=entries.replayed_by(version))
    vendor = store(slug, reading)
    if vendor is None:
        return None
    listed = _load(slug, vendor, query, reading)
    if version is not None:
        # Kept under the version read before the database: a change committed meanwhile
        # has moved the version on, and this page is not sent again.
        current_app.extensions[MEMO].put(_request_key(slug), version, listed, read_at)
        _replayable(slug, version, listed)
    return listed


def _replayable(slug: str, version: str, listed: Listed) -> None:
    """The same request may have ``listed`` again without Flask (``storefront_cache.replay``) while
    ``kept`` would send it: kept for this request within the list's trust window, and the store's
    version confirmed by this process within the store page's."""
    memo: _Memo = current_app.extensions[MEMO]
    config = current_app.config
    key = _request_key(slug)
    confirmed = entries.confirmed_lately(slug.lower())

    def still_current() -> bool:
        found = memo.get(key, config["API_PRODUCTS_TRUST_SECONDS"])
        return (found is not None and found[1] is listed
                and confirmed(version, config["STOREFRONT_PAGE_TRUST_SECONDS"]))

    replay.allow("api_products", still_current)
