"""What the store page (and a product's page) shows, declared once; a commit that changes any
of it outdates the store's pages.

``SHOWN`` lists, for each model the page draws on, the attributes it shows
and what the page makes of each: most as they are, stock only as "in stock or
sold out" (an order that leaves 3 of 5 outdates nothing, the one that takes
the last unit does). It also lists the properties templates read, with the
attributes behind them. Everything else here follows from it:

- changes made through the ORM are seen after each flush (rows added, deleted
  or changed);
- changes made by a Core ``UPDATE`` (stock, in ``dukaan.inventory``) are
  reported through ``updated``;
- after the commit each store touched is forgotten (``pages.forget``);
  after a rollback, none is.

A test renders the store page from recording objects and fails when a
template reads an attribute that is not declared here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from ..models import Category, PhotoState, Product, ProductPhoto, Review, Vendor

STALE = "dukaan.stale_storefronts"
STALE_LATER = "dukaan.storefronts_stale_later"


def as_is(value: Any) -> Any:
    return value


def in_stock(stock: int | None) -> bool | None:
    return None if stock is None else stock > 0


@dataclass(frozen=True)
class Shown:
    """What the store page shows of one model's rows."""

    attributes: Mapping[str, Callable[[Any], Any]]  # name -> what the page makes of the value
    derived: Mapping[str, tuple[str, ...]]  # a property templates read -> the attributes it reads
    vendor_id: Callable[[Any], int]  # whose store shows the row
    visible: Callable[[Any], bool]  # does the page show this row at all

    def differs(self, name: str, before: Any, after: Any) -> bool:
        view = self.attributes.get(name)
        return view is not None and view(before) != view(after)


SHOWN: dict[type, Shown] = {
    Vendor: Shown(
        attributes={
            "id": as_is, "username": as_is, "store_name": as_is,
            # The store's terms (pricing.Terms): open or closed, how to pay, delivery and fees.
            "open": as_is, "accept_cod": as_is, "accept_upi": as_is, "delivery_fee": as_is,
            "free_delivery_from": as_is, "min_order": as_is, "cod_fee": as_is,
        },
        derived={"slug": ("username",)},
        vendor_id=lambda vendor: vendor.id,
        visible=lambda vendor: True,
    ),
    Product: Shown(
        attributes={
            "id": as_is, "name": as_is, "description": as_is, "price": as_is, "mrp": as_is,
            "available": as_is, "stock": in_stock, "max_per_order": as_is,
            # Stock less the live holds of carts (inventory.free): the page says "held in
            # carts" at 0. Holds are Core writes, reported by inventory through updated().
            "free": in_stock,
            # Its visible reviews' average and count, read with the products (reviews.rating_columns);
            # a review added or hidden is reported by the Review entry below.
            "rating": as_is,
            # Its section on the page (the category's own name and place are the Category entry's).
            "category_id": as_is,
            # Its first ready photo (photos.Cover), read with the products (photos.annotate);
            # a photo made ready, moved or deleted is reported by the ProductPhoto entry below.
            "cover": as_is,
        },
        derived={"in_stock": ("stock",), "discounted": ("price", "mrp"), "category": ("category_id",)},
        vendor_id=lambda product: product.vendor_id,
        visible=lambda product: product.available,
    ),
    # The page's sections: their names and order. One added, renamed, moved or deleted
    # outdates the page (a deletion also leaves its products uncategorised).
    Category: Shown(
        attributes={"id": as_is, "name": as_is, "position": as_is},
        derived={},
        vendor_id=lambda category: category.vendor_id,
        visible=lambda category: True,
    ),
    # Each product's ready photos: the first is its cover.
    ProductPhoto: Shown(
        attributes={"product_id": as_is, "state": as_is, "position": as_is, "key": as_is, "widths": as_is,
                    "width": as_is, "height": as_is},
        derived={},
        vendor_id=lambda photo: photo.vendor_id,
        visible=lambda photo: photo.state == PhotoState.READY,
    ),
    # Each product's average rating and count of visible reviews (reviews.ratings).
    Review: Shown(
        # A product's page lists its visible reviews (text and date never change).
        attributes={"product_id": as_is, "rating": as_is, "hidden": as_is, "text": as_is,
                    "created_at": as_is},
        derived={},
        vendor_id=lambda review: review.vendor_id,
        visible=lambda review: not review.hidden,
    ),
}


def mark_stale(session: Session, vendor_id: int) -> None:
    """Forget ``vendor_id``'s store page once ``session`` commits (not before)."""
    slug = _slug_of(session, vendor_id)
    if slug:
        session.info.setdefault(STALE, set()).add(slug)


def stale_at(session: Session, vendor_id: int, when: datetime) -> None:
    """Forget ``vendor_id``'s store page at ``when`` (a hold that lapses then frees units
    the page shows as held), counting from once ``session`` commits."""
    slug = _slug_of(session, vendor_id)
    if slug:
        session.info.setdefault(STALE_LATER, set()).add((slug, when))


def updated(session: Session, model: type, vendor_id: int, visible: bool,
            **changes: tuple[Any, Any]) -> None:
    """A Core ``UPDATE`` changed a row of ``model`` (``changes``: name -> (before, after))."""
    shown = SHOWN[model]
    if visible and any(shown.differs(name, *values) for name, values in changes.items()):
        mark_stale(session, vendor_id)


def _changed(shown: Shown, obj: Any) -> bool:
    state = inspect(obj)
    for name in shown.attributes:
        if name not in state.mapper.attrs:
            continue  # not a column: reported by whoever changes it (see updated)
        history = state.attrs[name].history
        if history.has_changes() and shown.differs(
            name, (history.deleted or [None])[0], (history.added or [None])[0]
        ):
            return True
    return False


def _slug_of(session: Session, vendor_id: int) -> str | None:
    vendor = session.identity_map.get(inspect(Vendor).identity_key_from_primary_key((vendor_id,)))
    if vendor is not None:
        return vendor.slug
    return session.connection().scalar(select(Vendor.slug).where(Vendor.id == vendor_id))


def _after_flush(session: Session, _context) -> None:
    for obj in session.new:
        shown = SHOWN.get(type(obj))
        if shown is not None and shown.visible(obj):
            mark_stale(session, shown.vendor_id(obj))
    for obj in session.deleted:
        shown = SHOWN.get(type(obj))
        if shown is not None:
            mark_stale(session, shown.vendor_id(obj))
    for obj in session.dirty:
        shown = SHOWN.get(type(obj))
        if shown is not None and _changed(shown, obj):
            mark_stale(session, shown.vendor_id(obj))


def _after_commit(session: Session) -> None:
    from .pages import forget, forget_at

    for slug in session.info.pop(STALE, ()):
        forget(slug)
    for slug, when in session.info.pop(STALE_LATER, ()):
        forget_at(slug, when)


def _after_rollback(session: Session) -> None:
    session.info.pop(STALE, None)
    session.info.pop(STALE_LATER, None)


def listen(app: Flask) -> None:
    """Hook the invalidation into the app's sessions (``db.session``), and no other
    (idempotent: every app of the process shares that session factory)."""
    from ..extensions import db

    for name, listener in (
        ("after_flush", _after_flush),
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
    ):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)
