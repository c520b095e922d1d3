"""A vendor's products: the one vendor-scoped lookup, and every change a vendor makes.

Each function takes the vendor (or a product found through it), never the
logged-in user, so the dashboard and an API call the same rules. Changes
commit; the store page follows by itself (``storefront_cache.shown``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, and_, bindparam, func, or_, select, true
from sqlalchemy.orm import joinedload

from . import categories, inventory, photos, reviews
from .extensions import db
from .models import Product, Vendor
from .models.prepared import prepared

MAX_PRICE = Decimal("99999999.99")
# Characters no search needs: C0 controls (NUL among them) and DEL.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Details:
    """What a vendor writes about a product (its stock moves through ``inventory``)."""

    name: str
    price: Decimal
    mrp: Decimal | None
    description: str
    max_per_order: int | None = None  # the most one order may take; None: no limit
    category_id: int | None = None  # one of the vendor's categories; None: uncategorised
    low_stock_at: int | None = None  # email the vendor when stock falls to this or below; None: never


class UnknownCategory(ValueError):
    """A category id that is not one of the vendor's (another vendor's, or deleted)."""


def for_vendor(vendor: Vendor) -> Select:
    """The vendor's products and nobody else's."""
    return Product.owned_by(vendor)


def get(vendor: Vendor, product_id: int) -> Product | None:
    """The vendor's product ``product_id`` (with ``held`` set), or None."""
    # Its category loads when asked for: a joined load would follow the product into
    # inventory's refresh FOR UPDATE, which PostgreSQL refuses over an outer join.
    found = _with_held(for_vendor(vendor).where(Product.id == product_id))
    photos.annotate(found)
    return found[0] if found else None


def listing(vendor: Vendor, session=None) -> list[Product]:
    """All of the vendor's products, newest first (the dashboard's order), with ``held`` set,
    ``category`` loaded, and their photos' cover and counts (``photos.annotate``) set; read
    on ``session`` (the app's by default; the dashboard's list passes ``replica.session()``)."""
    found = _with_held(for_vendor(vendor).order_by(Product.id.desc()).options(joinedload(Product.category)),
                       session=session)
    photos.annotate(found, session)
    return found


def _with_held(query: Select, with_ratings: bool = False, with_covers: bool = False, session=None,
               except_cart: int | None = None) -> list[Product]:
    """Run ``query`` with the units live carts (but ``except_cart``) hold of each product, set as
    ``held``; with ``with_ratings`` its reviews' average and count, set as ``rating``; with
    ``with_covers`` its first ready photo, set as ``cover`` (one query for all)."""
    return _read(_listed(query, with_ratings, with_covers), inventory.holds_now(except_cart), with_ratings,
                 with_covers, session)


def _listed(query: Select, with_ratings: bool, with_covers: bool) -> Select:
    """``query`` with ``_read``'s columns: the units held (``inventory.HELD_BY_CARTS``, its values
    ``inventory.holds_now``), with ``with_ratings`` the reviews', with ``with_covers`` the cover's."""
    query = query.add_columns(inventory.HELD_BY_CARTS, *(reviews.rating_columns() if with_ratings else ()))
    return photos.with_cover(query) if with_covers else query


# Built once (inventory says why), prepared: the store page's products, as ``on_sale`` lists them
# (``:vendor``), each time the page is made anew.
_ON_SALE = prepared(_listed(
    select(Product).where(Product.vendor_id == bindparam("vendor"), Product.available)
    .options(joinedload(Product.category)).order_by(Product.id),
    with_ratings=True, with_covers=True,
))


def _read(query: Select, values: dict, with_ratings: bool, with_covers: bool, session=None) -> list[Product]:
    found = []
    for product, holding, *rest in (session or db.session).execute(query, values):
        product.held = holding
        if with_ratings:
            product.rating = reviews.Rating.of(*rest[:2])
            rest = rest[2:]
        if with_covers:
            product.cover = photos.cover_from(*rest)
        found.append(product)
    return found


def count(vendor: Vendor) -> int:
    return db.session.scalar(select(func.count()).select_from(for_vendor(vendor).subquery()))


def on_sale(vendor: Vendor, search: str | None = None, session=None) -> list[Product]:
    """What the store page lists: available products, sold-out ones included, oldest first,
    with ``held`` set (and so ``free``), ``rating`` (None without visible reviews), ``cover``
    (its first ready photo, or None) and ``category`` loaded (one query for all). ``search``:
    only those ``matching`` it. Read on ``session`` (the app's by default; a store page's fill
    passes the replica's when it may)."""
    if not search:
        return _read(_ON_SALE, {"vendor": vendor.id, **inventory.holds_now(None)}, True, True, session)
    query = for_vendor(vendor).where(Product.available, matching(search)).options(joinedload(Product.category))
    return _with_held(query.order_by(Product.id), with_ratings=True, with_covers=True, session=session)


# A search is cut to this many characters and words: plenty for a product's name, and a
# paste of junk costs a handful of ILIKEs over one store's products, never more.
MAX_SEARCH = 100
MAX_SEARCH_WORDS = 8


def search_text(text: str | None) -> str:
    """What a customer typed, cut at ``MAX_SEARCH`` characters, with control characters (a
    NUL, which PostgreSQL refuses in a query) as spaces."""
    return CONTROL.sub(" ", (text or "")[:MAX_SEARCH])


def search_words(text: str | None) -> list[str]:
    """The words of what a customer typed, as ``matching`` uses them (at most ``MAX_SEARCH_WORDS``)."""
    return search_text(text).split()[:MAX_SEARCH_WORDS]


def matching(text: str):
    """A condition: every word of ``text`` is in the product's name or description, in any
    case. LIKE's wildcards typed by the customer (%, _) and backslashes match themselves.

    ILIKE rather than full-text search: one store has tens or hundreds of products, and a
    customer types part of a word ("pick" for pickle), which full-text stemming misses."""
    conditions = []
    for word in search_words(text):
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Product.name.ilike(pattern, escape="\\"),
                              Product.description.ilike(pattern, escape="\\")))
    return and_(true(), *conditions)


def on_sale_one(vendor: Vendor, product_id: int, session=None) -> Product | None:
    """``product_id`` as the store page lists it (``held`` and ``rating`` set), or None if the
    store does not list it; read on ``session`` (the app's by default)."""
    found = _with_held(for_vendor(vendor).where(Product.available, Product.id == product_id), with_ratings=True,
                       with_covers=True, session=session)
    return found[0] if found else None


def on_sale_among(vendor: Vendor, product_ids: set[int], except_cart: int | None = None,
                  session=None) -> list[Product]:
    """Those of ``product_ids`` that the store page lists, with ``held`` set to what the live
    carts other than ``except_cart`` hold (and so ``free``: what that cart may have), in one
    query on ``session`` (the app's by default)."""
    if not product_ids:
        return []
    query = for_vendor(vendor).where(Product.available, Product.id.in_(product_ids))
    return _with_held(query, session=session, except_cart=except_cart)


def create(vendor: Vendor, details: Details, stock: int, available: bool = True) -> Product:
    """Raises ``UnknownCategory`` (nothing saved)."""
    product = add(vendor, details, stock, available)
    db.session.commit()
    return product


def add(vendor: Vendor, details: Details, stock: int, available: bool = True) -> Product:
    """``create`` without the commit, for loading many at once."""
    _check_category(vendor, details)
    product = Product(vendor_id=vendor.id, available=available)
    _write(product, details)
    inventory.receive(product, stock)
    db.session.add(product)
    return product


def update(product: Product, details: Details, stock: int, stock_seen: int | None) -> None:
    """Save a vendor's edit. Raises ``inventory.StockMoved`` (nothing saved, the
    transaction rolled back) when orders moved the stock the vendor was editing, and
    ``UnknownCategory`` (nothing saved) for a category that is not the vendor's."""
    _check_category(product.vendor, details)
    try:
        inventory.set_stock(product, stock, stock_seen, details.low_stock_at)
    except inventory.StockMoved:
        db.session.rollback()
        raise
    _write(product, details)
    db.session.commit()
    product.held = inventory.held([product.id]).get(product.id, 0)  # a lower stock may have cut holds


def set_available(product: Product, available: bool | None = None) -> None:
    """Put ``product`` on sale or hide it; None toggles."""
    product.available = (not product.available) if available is None else available
    db.session.commit()


def delete(product: Product) -> None:
    """Remove ``product`` and its photos (their files by a job after the commit); the order
    lines that sold it keep its name and price."""
    photos.forget_product(product)
    db.session.delete(product)
    db.session.commit()


def _check_category(vendor: Vendor, details: Details) -> None:
    if details.category_id is not None and categories.get(vendor, details.category_id) is None:
        raise UnknownCategory("Choose one of your categories, or none.")


def _write(product: Product, details: Details) -> None:
    product.category_id = details.category_id
    product.name = details.name
    product.price = details.price
    product.mrp = details.mrp
    product.description = details.description
    product.max_per_order = details.max_per_order
    product.low_stock_at = details.low_stock_at
