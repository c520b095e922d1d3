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

import logging
import secrets
from dataclasses import dataclass

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


def storefront(slug: str) -> Storefront | None:
    """The store behind ``slug``, from the cache when it can; None if no such store.

    A cache hit runs no SQL at all and costs one cache round trip.
    """
    key = cache_key(slug)
    entry, version = _cache_call("get_many", key, version_key(slug)) or (None, None)
    if entry is not None and len(entry) == 4 and entry[3] == version:
        # The cache holds the catalogue as a plain string: mark it safe again,
        # or the page would show its HTML escaped.
        return Storefront(entry[0], entry[1], Markup(entry[2]))
    # ``version`` was read before the database: if a change commits while this
    # request renders, the entry below is stored under a version that is
    # already gone, and the next request renders again.
    vendor = find_vendor(slug)
    if vendor is None:
        return None
    front = Storefront(
        vendor.slug, vendor.store_name, render_catalogue(vendor, available_products(vendor.id))
    )
    timeout = current_app.config["STOREFRONT_CACHE_TIMEOUT"]
    entry = (front.slug, front.store_name, str(front.catalogue), version)
    _cache_call("set", key, entry, timeout=timeout)
    return front


def forget(slug: str) -> None:
    """Delete the cached catalogue of one store now, and outdate any copy being stored."""
    # No timeout: the version must outlive every entry stored under it. When
    # the cache is unreachable one failed (and logged) call is enough.
    if _cache_call("set", version_key(slug), secrets.token_hex(8), timeout=0):
        _cache_call("delete", cache_key(slug))


def mark_stale(session: Session, slug: str) -> None:
    """Delete ``slug``'s cached catalogue once ``session`` commits (not before)."""
    session.info.setdefault(STALE_SLUGS, set()).add(slug)


def _cache_call(method: str, *args, **kwargs):
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception:  # a cache outage must never fail the request
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
    for product in session.new:
        if isinstance(product, Product) and product.available:
            vendor_ids.add(product.vendor_id)
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


def register_invalidation() -> None:
    """Hook the cache invalidation into every SQLAlchemy session (idempotent)."""
    for name, listener in (
        ("after_flush", _after_flush),
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
