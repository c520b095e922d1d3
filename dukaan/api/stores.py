"""Stores and their products: what apps browse before anyone logs in (no token)."""

from __future__ import annotations

from apiflask.exceptions import HTTPError
from flask import current_app, request

from .. import replica
from . import bp, listing
from .schemas import ListHeaders, ProductPage, ProductsQuery, StoreOut

NO_STORE = "There is no store at this link."


@bp.get("/stores/<slug>")
@bp.output(StoreOut)
@bp.doc(tags=["Stores"], responses={404: "No such store"})
def store(slug: str):
    """A store"""
    vendor = listing.store(slug, replica.session())
    if vendor is None:
        raise HTTPError(404, NO_STORE)
    return {"slug": vendor.slug, "name": vendor.store_name}


@bp.get("/stores/<slug>/products")
@bp.input(ProductsQuery, location="query", arg_name="query")
@bp.output(ProductPage, headers=ListHeaders)
@bp.doc(tags=["Stores"], responses={304: "Unchanged since the ETag sent in If-None-Match",
                                    404: "No such store"})
def products(slug: str, query: dict):
    """A store's products, a page at a time

    Only what the store has on sale, sold-out products included (`available`
    false, `stock` 0). Lists are fresh within a second of any change.
    """
    # A repeat of a request sent before does not get here: ``kept_products`` answers it.
    asked = listing.Query(**query)
    if asked.min_price is not None and asked.max_price is not None and asked.min_price > asked.max_price:
        raise HTTPError(422, "min_price is above max_price.",
                        detail={"query": {"min_price": ["Above max_price."]}})
    listed = listing.listing(slug, asked)
    if listed is None:
        raise HTTPError(404, NO_STORE)
    return _sent(listed)


@bp.before_request
def kept_products():
    """A repeat of a product list this process sent (the same slug, query string and host) is
    answered from the page it kept, before the view: its query was validated when it was
    first sent, and is not parsed again (``listing.kept``). Anything else goes to the view."""
    # GET only: OPTIONS has Flask's own answer, and a HEAD may go the long way.
    if (request.endpoint == "api.products" and request.method == "GET"
            and (listed := listing.kept(request.view_args["slug"]))):
        return _sent(listed)
    return None


def _sent(listed: listing.Listed):
    """``listed`` as the response, or a 304 when the app has it already (If-None-Match)."""
    # Weak comparison, as If-None-Match asks: nginx makes the ETag weak when it gzips the list.
    unchanged = request.if_none_match.contains_weak(listed.etag)
    return current_app.response_class(b"" if unchanged else listed.body, 304 if unchanged else 200,
                                      listed.headers)
