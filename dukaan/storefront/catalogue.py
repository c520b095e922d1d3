"""The catalogue fragment of a store page: read from the database and rendered."""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from .. import accounts, pricing, products
from ..models import Product, Vendor
from ..storefront_cache import Storefront


def load(slug: str) -> Storefront | None:
    """The store behind ``slug`` with its catalogue rendered; None if there is none."""
    vendor = accounts.find(slug)
    if vendor is None:
        return None
    return Storefront(vendor.slug, vendor.store_name, render(vendor, products.on_sale(vendor)),
                      pricing.Terms.of(vendor))


def render(
    vendor: Vendor,
    on_sale: list[Product],
    quantities: dict[int, str] | None = None,
    problems: dict[int, str] | None = None,
) -> Markup:
    """The catalogue fragment; ``quantities`` and ``problems`` re-fill a rejected order."""
    return Markup(
        render_template(
            "storefront/_catalogue.html",
            vendor=vendor,
            products=on_sale,
            quantities=quantities or {},
            problems=problems or {},
        )
    )
