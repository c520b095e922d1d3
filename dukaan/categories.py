"""A vendor's categories: the sections of their store page, in the vendor's order.

Each function takes the vendor (or a category found through it), never the
logged-in user, so the dashboard and an API call the same rules. Changes
commit; the store page follows by itself (``storefront_cache.shown``).
Positions are kept 0, 1, 2… in the vendor's order; ties (two tabs adding at
once) fall back to the id and are straightened out by the next move.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import Category, Product, Vendor

MAX_NAME = 60
# More sections than this would not fit a chip bar anyone could use on a phone.
MAX_CATEGORIES = 50


class CategoryError(ValueError):
    """A name that cannot be used (empty, too long, or the vendor has it already), or one
    category too many."""


def for_vendor(vendor: Vendor) -> Select:
    """The vendor's categories and nobody else's, in the vendor's order."""
    return Category.owned_by(vendor).order_by(Category.position, Category.id)


def listing(vendor: Vendor, session=None) -> list[Category]:
    """The vendor's categories in order, read on ``session`` (the app's by default; a page
    passes ``replica.session()``)."""
    return list((session or db.session).scalars(for_vendor(vendor)))


def get(vendor: Vendor, category_id: int | None) -> Category | None:
    """The vendor's category ``category_id``, or None (someone else's, gone, or no id)."""
    if category_id is None:
        return None
    return db.session.scalar(Category.owned_by(vendor).where(Category.id == category_id))


def name_key(name: str) -> str:
    """What makes two names the same one: their case does not."""
    return name.casefold()


def _check(vendor: Vendor, name: str, category: Category | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise CategoryError("Give the category a name.")
    if len(name) > MAX_NAME:
        raise CategoryError(f"At most {MAX_NAME} characters.")
    taken = Category.owned_by(vendor).where(Category.name_key == name_key(name))
    if category is not None:
        taken = taken.where(Category.id != category.id)
    if db.session.scalar(select(taken.exists())):
        raise CategoryError(f"You have a category called {name} already.")
    return name


def _commit_named(name: str) -> None:
    """Commit; a name another request took meanwhile (the unique constraint) is a CategoryError."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise CategoryError(f"You have a category called {name} already.") from None


def create(vendor: Vendor, name: str) -> Category:
    """Add a category at the end of the vendor's order. Raises ``CategoryError``."""
    name = _check(vendor, name)
    count, last = db.session.execute(
        select(func.count(), func.max(Category.position)).where(Category.vendor_id == vendor.id)).one()
    if count >= MAX_CATEGORIES:
        raise CategoryError(f"A store can have at most {MAX_CATEGORIES} categories: delete one first.")
    category = Category(vendor_id=vendor.id, name=name, name_key=name_key(name),
                        position=0 if last is None else last + 1)
    db.session.add(category)
    _commit_named(name)
    return category


def rename(category: Category, vendor: Vendor, name: str) -> None:
    """Raises ``CategoryError`` (nothing changed)."""
    name = _check(vendor, name, category)
    category.name, category.name_key = name, name_key(name)
    _commit_named(name)


def move(category: Category, vendor: Vendor, by: int) -> None:
    """Move ``category`` ``by`` places (-1: up, one section earlier; 1: down), within the ends."""
    current = listing(vendor)
    at = next(i for i, c in enumerate(current) if c.id == category.id)
    ordered = [c for c in current if c.id != category.id]
    ordered.insert(max(0, min(len(ordered), at + by)), category)
    for position, each in enumerate(ordered):
        if each.position != position:
            each.position = position
    db.session.commit()


def delete(category: Category) -> None:
    """Remove ``category``; its products stay, uncategorised."""
    # The foreign key says ON DELETE SET NULL; saying it here too keeps SQLite (foreign
    # keys off) right, and the category's deletion outdates the store page either way.
    db.session.execute(update(Product).where(Product.category_id == category.id).values(category_id=None))
    db.session.delete(category)
    db.session.commit()
