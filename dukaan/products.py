"""A vendor's products: the one vendor-scoped lookup, and every change a vendor makes.

Each function takes the vendor (or a product found through it), never the
logged-in user, so the dashboard and an API call the same rules. Changes
commit; the store page follows by itself (``storefront_cache.shown``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, func, select

from . import inventory
from .extensions import db
from .models import Product, Vendor

MAX_PRICE = Decimal("99999999.99")


@dataclass(frozen=True)
class Details:
    """What a vendor writes about a product (its stock moves through ``inventory``)."""

    name: str
    price: Decimal
    mrp: Decimal | None
    description: str
    max_per_order: int | None = None  # the most one order may take; None: no limit


def for_vendor(vendor: Vendor) -> Select:
    """The vendor's products and nobody else's."""
    return Product.owned_by(vendor)


def get(vendor: Vendor, product_id: int) -> Product | None:
    return db.session.scalar(for_vendor(vendor).where(Product.id == product_id))


def listing(vendor: Vendor) -> list[Product]:
    """All of the vendor's products, newest first (the dashboard's order)."""
    return list(db.session.scalars(for_vendor(vendor).order_by(Product.id.desc())))


def count(vendor: Vendor) -> int:
    return db.session.scalar(select(func.count()).select_from(for_vendor(vendor).subquery()))


def on_sale(vendor: Vendor) -> list[Product]:
    """What the store page lists: available products, sold-out ones included, oldest first,
    each with ``free`` set: its stock less the live holds of carts (one query for all)."""
    rows = db.session.execute(
        for_vendor(vendor).add_columns(inventory.held_by_carts()).where(Product.available).order_by(Product.id)
    )
    found = []
    for product, holding in rows:
        product.free = max(0, product.stock - holding)
        found.append(product)
    return found


def create(vendor: Vendor, details: Details, stock: int, available: bool = True) -> Product:
    product = add(vendor, details, stock, available)
    db.session.commit()
    return product


def add(vendor: Vendor, details: Details, stock: int, available: bool = True) -> Product:
    """``create`` without the commit, for loading many at once."""
    product = Product(vendor_id=vendor.id, available=available)
    _write(product, details)
    inventory.receive(product, stock)
    db.session.add(product)
    return product


def update(product: Product, details: Details, stock: int, stock_seen: int | None) -> None:
    """Save a vendor's edit. Raises ``inventory.StockMoved`` (nothing saved, the
    transaction rolled back) when orders moved the stock the vendor was editing."""
    try:
        inventory.set_stock(product, stock, stock_seen)
    except inventory.StockMoved:
        db.session.rollback()
        raise
    _write(product, details)
    db.session.commit()


def set_available(product: Product, available: bool | None = None) -> None:
    """Put ``product`` on sale or hide it; None toggles."""
    product.available = (not product.available) if available is None else available
    db.session.commit()


def delete(product: Product) -> None:
    """Remove ``product``; the order lines that sold it keep its name and price."""
    db.session.delete(product)
    db.session.commit()


def _write(product: Product, details: Details) -> None:
    product.name = details.name
    product.price = details.price
    product.mrp = details.mrp
    product.description = details.description
    product.max_per_order = details.max_per_order
