"""The customer's side: a store's page, placing an order, the running total and the cart
(the order's own page is in ``order_page``)."""


from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, make_response, redirect, render_template, request, url_for

from .. import accounts, carts, inventory, orders, photos, pricing, products, replica, reviews, storefront_cache
from ..extensions import csrf
from ..forms import whole_number
from ..htmx import is_htmx
from ..models import Product
from ..storefront_cache import Storefront
from . import STOREFRONT_PREFIX, bp, catalogue
from .forms import CheckoutForm, parse_quantities, set_methods, typed_quantities


def same_origin() -> bool:
    """Did a page of this site send the request (or no browser at all)?

    Stands in for a CSRF token, which the storefront cannot carry: its page is
    the same bytes for every visitor.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin == request.host_url.rstrip("/")
    return True


def _lowercase_redirect(endpoint: str, slug: str, **values):
    return redirect(url_for(endpoint, slug=slug.lower(), **values), 301)


def _require_slug_shape(slug: str) -> None:
    """404 for a slug no store can have, before it reaches the cache or the database
    (PostgreSQL rejects a NUL byte in a query with an error, not an empty result)."""
    if accounts.username_problem(slug.lower()) is not None:
        abort(404)


@bp.get("/<slug>")
def store(slug: str):
    """The store page, the same for every visitor and cached; with ``q``, only the products
    that match it (``search``), read from the database and kept by no cache."""
    _require_slug_shape(slug)
    q = request.args.get("q", "")
    if slug != slug.lower():
        return _lowercase_redirect("storefront.store", slug, **({"q": q} if q else {}))
    if products.search_words(q):
        reading = replica.session()
        return _search_page(_store_or_404(slug, reading), q, reading)
    return _send(storefront_cache.page(slug, catalogue.load, _render_store))


# A product id PostgreSQL's integer can hold: a bigger one is no product, not an error.
MAX_PRODUCT_ID = 2**31 - 1


@bp.get("/<slug>/p/<int:product_id>")
def product(slug: str, product_id: int):
    """A product's page: cached and kept fresh exactly as the store page is."""
    _require_slug_shape(slug)
    if slug != slug.lower():
        return _lowercase_redirect("storefront.product", slug, product_id=product_id)
    if product_id > MAX_PRODUCT_ID or request.path.rsplit("/", 1)[1] != str(product_id):
        abort(404)  # /p/007 is not /p/7: one page, one copy in nginx
    return _send(storefront_cache.product_page(slug, product_id,
                                               lambda session: _render_product(slug, product_id, session)))


def _render_product(slug: str, product_id: int, session) -> str | None:
    """The product's page read on ``session`` (the cache's fill passes the replica's when it may)."""
    vendor = accounts.find(slug, session)
    found = products.on_sale_one(vendor, product_id, session) if vendor is not None else None
    if found is None:
        return None
    shots = photos.by_product([found.id], ready_only=True, session=session).get(found.id, [])
    return render_template(
        "storefront/product.html", slug=vendor.slug, store_name=vendor.store_name, product=found,
        gallery=[photos.Cover.of(photo) for photo in shots], reviews=reviews.shown_with(found, session=session),
        terms=pricing.Terms.of(vendor), quantities={},
    )


def _send(page):
    """A cached page (store or product; 404 for None), gzipped for browsers that take it,
    304 when the browser holds it already."""
    if page is None:
        abort(404)
    gzipped = request.accept_encodings["gzip"] > 0
    body, etag = page.encoded(gzipped)
    unchanged = request.if_none_match.contains_weak(etag)  # If-None-Match compares weakly
    response = make_response(b"" if unchanged else body, 304 if unchanged else 200)
    if gzipped and not unchanged:
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    # Browsers revalidate every time and get a 304 while nothing changed; the
    # shared cache in front (nginx) keeps its own copy regardless.
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(etag)
    return response


def _render_store(front: Storefront, form: CheckoutForm | None = None,
                  errors: list[str] | None = None, search: Search | None = None) -> str:
    form = form or CheckoutForm()
    set_methods(form, front.terms)
    return render_template(
        "storefront/store.html", slug=front.slug, store_name=front.store_name,
        catalogue=front.catalogue, terms=front.terms, form=form, errors=errors or [], search=search,
    )


# --- search: straight from the database, beside the cached page and never in it -------------


@dataclass(frozen=True)
class Search:
    """What a customer searched for and what it found."""

    typed: str  # as typed (for the search box)
    words: str  # what was searched for, after the cut
    cut: bool  # the search was longer than products.MAX_SEARCH allows
    matches: list[Product]


def _search(vendor, q: str, session) -> Search | None:
    """``vendor``'s products on sale that match ``q``, read on ``session``; None for a search
    of nothing."""
    words = products.search_words(q)
    if not words:
        return None
    cut = len(q) > products.MAX_SEARCH or len(q.split()) > products.MAX_SEARCH_WORDS
    return Search(products.search_text(q), " ".join(words), cut, products.on_sale(vendor, search=q, session=session))


def _uncached(response):
    """A search answer: no cache keeps it, and nginx never stores it in the store page's place
    (X-Accel-Expires, which nginx obeys however it keys its cache and never forwards)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Expires"] = "0"
    return response


def _search_page(vendor, q: str, session):
    """The store page with only the products that match ``q`` (the search box without JavaScript),
    read on ``session``."""
    search = _search(vendor, q, session)
    front = Storefront(vendor.slug, vendor.store_name, catalogue.render(vendor, search.matches, searching=True),
                       pricing.Terms.of(vendor))
    return _uncached(make_response(_render_store(front, search=search)))


@bp.get("/<slug>/search")
def search(slug: str):
    """htmx (the search box, as the customer types): what matches ``q``, as a list that jumps
    to each product on the page; empty for a search of nothing. Otherwise, 303 to the store
    page searched. Read on the replica, like the page it searches."""
    reading = replica.session()
    vendor = _store_or_404(slug, reading)
    q = request.args.get("q", "")
    if not is_htmx():
        return redirect(url_for("storefront.store", slug=vendor.slug, **({"q": q} if q else {})), 303)
    response = make_response(render_template("storefront/_search_results.html", search=_search(vendor, q, reading),
                                             slug=vendor.slug))
    response.vary.add("HX-Request")
    return _uncached(response)


@bp.post("/<slug>")
@csrf.exempt  # the same-origin check below protects it instead
def place_order(slug: str):
    if not same_origin():
        abort(403, "Orders can only be placed from the store's own page.")
    vendor, cart = _store_and_cart_or_404(slug)
    form = CheckoutForm(request.form)
    # With a cart, the order is what it holds; without one (no JavaScript), the quantities typed.
    if cart is not None and not any(line.quantity for line in cart.lines):
        cart = None
    wanted, qty_errors, malformed = ({}, {}, {}) if cart else parse_quantities(request.form)
    errors = list(malformed.values())
    valid = form.validate()
    if not cart and not wanted and not qty_errors and not malformed:
        # A retry of a checkout whose cart became its order (the answer was lost; the browser
        # still sends the cart's cookie): the order that token placed, not "nothing chosen".
        twin = orders.find_by_token(vendor, form.order_token.data) if valid and form.order_token.data else None
        if twin is not None:
            response = redirect(url_for("storefront.order", slug=vendor.slug, ref=twin.ref), 303)
            response.delete_cookie(carts.COOKIE, path=_cart_path(vendor))
            return response
        errors.append("Choose how many you want of at least one product.")
    if not valid or qty_errors or errors:
        return _rejected(vendor, form, 422, errors, qty_errors)
    customer = orders.Customer(form.name.data, form.phone.data, form.address.data, form.email.data or None)
    try:
        order, _created = orders.place(vendor, wanted, customer, form.order_token.data or None, cart,
                                       payment=form.payment.data or None)
    except (orders.StoreClosed, orders.CartOrdered) as refused:
        return _rejected(vendor, form, 409, [str(refused)], {})
    except orders.Refused as refused:
        return _rejected(vendor, form, 422, refused.messages, refused.problems)
    except orders.OutOfStock as shortage:
        # A product this store does not have (another store's, or deleted) is
        # bad input rather than short stock.
        status = 422 if any(s.name is None for s in shortage.shortages) else 409
        problems = {s.product_id: s.left_text for s in shortage.shortages}
        errors = [s.message for s in shortage.shortages]
        return _rejected(vendor, form, status, errors, problems)
    response = redirect(url_for("storefront.order", slug=vendor.slug, ref=order.ref), 303)
    if cart is not None:
        response.delete_cookie(carts.COOKIE, path=_cart_path(vendor))
    return response


def _rejected(vendor, form, status: int, errors: list[str], problems: dict[int, str]):
    """The store page again, with what the customer typed and what went wrong."""
    front = Storefront(vendor.slug, vendor.store_name, catalogue.render(
        vendor, products.on_sale(vendor), quantities=typed_quantities(request.form), problems=problems,
    ), pricing.Terms.of(vendor))
    return make_response(_render_store(front, form, errors), status)


@bp.get("/<slug>/total")
def order_total(slug: str):
    """The running total of the ``qty-<id>`` fields in the query string, paid by ``payment``
    (htmx swaps it in): goods, delivery, the cash fee and the total, from ``pricing``.

    Sessionless; what is short counts the visitor's own cart as theirs. Junk
    quantities are left out and named in the fragment: never a 500. Read on the replica
    unless the visitor's own last write (a cart change) is not there yet.
    """
    reading = replica.session()
    vendor, cart = _store_and_cart_or_404(slug, reading)
    wanted, qty_errors, malformed = parse_quantities(request.args)
    response = make_response(
        render_template(
            "storefront/_total.html",
            quote=orders.quote(vendor, wanted, request.args.get("payment"), cart, reading),
            unreadable=bool(qty_errors or malformed),
        )
    )
    # Prices and stock change at any moment: a cached total would mislead.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


# --- the cart: a per-visitor fragment beside the shared page ---------------------------


def _cart_path(vendor) -> str:
    # The store page's path and everything under it: the checkout POST needs the cookie.
    return f"{STOREFRONT_PREFIX}/{vendor.slug}"


@bp.get("/<slug>/cart")
def cart(slug: str):
    """The visitor's cart, read on the replica unless their own last change is not there yet."""
    return _cart_fragment(*_store_and_cart_or_404(slug, replica.session()))


@bp.post("/<slug>/cart")
@csrf.exempt  # the same-origin check below protects it instead, as for orders
def change_cart(slug: str):
    """Set the quantity of one product in the visitor's cart (0 removes it): 200 with the
    cart, 409 saying how many are free (nothing more held), 422 for input that makes no sense."""
    if not same_origin():
        abort(403, "Carts can only be changed from the store's own page.")
    vendor, current = _store_and_cart_or_404(slug)
    product_id = whole_number(request.form.get("product_id"), max_digits=12)
    quantity = whole_number(request.form.get("quantity"), max_digits=6)
    if product_id is None or quantity is None:
        return _cart_fragment(vendor, current, 422, "Choose a product and a quantity from 0 to "
                              f"{orders.MAX_QUANTITY}.")
    try:
        current = carts.set_quantity(vendor, current, product_id, quantity)
    except inventory.NotEnough as refused:
        message = f"{refused.name}: {refused}" if refused.name else str(refused)
        return _cart_fragment(vendor, carts.find(vendor, request.cookies.get(carts.COOKIE)), 409, message)
    except carts.CartError as refused:
        return _cart_fragment(vendor, current, 422, str(refused))
    return _cart_fragment(vendor, current)


def _store_or_404(slug: str, session=None):
    _require_slug_shape(slug)
    vendor = accounts.find(slug, session)
    if vendor is None:
        abort(404)
    return vendor


def _store_and_cart_or_404(slug: str, session=None):
    """The store (404 if there is none) and the visitor's cart there (None), in one statement."""
    _require_slug_shape(slug)
    vendor, cart = carts.store_and_cart(slug, request.cookies.get(carts.COOKIE), session)
    if vendor is None:
        abort(404)
    return vendor, cart


def _cart_fragment(vendor, found, status: int = 200, error: str | None = None):
    response = make_response(
        # The cart itself was read (and changed) on the primary; what it shows of its other
        # products (rows and other carts' holds, none of them the visitor's write) comes from
        # where a GET reads.
        render_template("storefront/_cart.html", error=error, slug=vendor.slug,
                        cart=carts.view(vendor, found, replica.session(not_written_here=True))), status
    )
    if found is not None:
        response.set_cookie(carts.COOKIE, found.token, max_age=7 * 24 * 3600, path=_cart_path(vendor),
                            httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    # Per visitor: no cache may keep it, and none may hand it to another visitor.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response
