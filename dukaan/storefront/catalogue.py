"""The catalogue fragment of a store page: read from the database and rendered."""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template
from markupsafe import Markup

from .. import accounts, pricing, products
from ..models import Product, Vendor
from ..storefront_cache import Storefront

# The heading of the products in no category, after the vendor's own sections.
UNCATEGORISED = "More"


@dataclass(frozen=True)
class Section:
    """One section of the store page: its anchor (the chip bar's link), heading and products."""

    anchor: str
    heading: str | None
    products: list[Product]


def sections(on_sale: list[Product]) -> list[Section]:
    """``on_sale`` in sections: the vendor's categories in their order, each with its products
    (oldest first), then the uncategorised under ``UNCATEGORISED``. Empty categories are left
    out; a store without categories is one section with no heading, as before there were any."""
    by_category: dict[int | None, list[Product]] = {}
    shelves = {}
    for product in on_sale:
        category = product.category
        key = None if category is None else category.id
        by_category.setdefault(key, []).append(product)
        if category is not None:
            shelves[key] = category
    found = [Section(f"section-{c.id}", c.name, by_category[c.id])
             for c in sorted(shelves.values(), key=lambda c: (c.position, c.id))]
    if None in by_category:
        found.append(Section("section-more", UNCATEGORISED if found else None, by_category[None]))
    return found


def load(slug: str, session=None) -> Storefront | None:
    """The store behind ``slug`` with its catalogue rendered, read on ``session`` (the app's
    by default; the cache's fill passes the replica's when it may); None if there is none."""
    vendor = accounts.find(slug, session)
    if vendor is None:
        return None
    return Storefront(vendor.slug, vendor.store_name, render(vendor, products.on_sale(vendor, session=session)),
                      pricing.Terms.of(vendor))


def render(
    vendor: Vendor,
    on_sale: list[Product],
    quantities: dict[int, str] | None = None,
    problems: dict[int, str] | None = None,
    searching: bool = False,
) -> Markup:
    """The catalogue fragment; ``quantities`` and ``problems`` re-fill a rejected order;
    ``searching``: ``on_sale`` is what a search found (nothing found is not an empty store)."""
    return Markup(
        render_template(
            "storefront/_catalogue.html",
            vendor=vendor,
            sections=sections(on_sale),
            quantities=quantities or {},
            problems=problems or {},
            searching=searching,
        )
    )
