"""A customer's orders: placed under an ``Idempotency-Key`` (``claims``) from explicit lines or
from one of their carts, through ``orders.place`` (stock goes down there, all lines or none);
their history, newest first; one order by its ref. Another customer's order is 404."""

from __future__ import annotations

from apiflask.exceptions import HTTPError

from .. import orders, products
from ..extensions import db
from ..models import Cart, Order, Product, Vendor, aware
from . import bp, claims, listing, paging
from .auth import auth
from .customers import invalid
from .schemas import IdempotencyHeaders, OrderIn, OrderOut, OrderPage, OrdersQuery, PageHeaders, PlacedHeaders

# An order shows the customer's name, phone and address: no cache may keep it.
PRIVATE = {"Cache-Control": "no-store"}
NO_ORDER = "You have no such order."


def _shown(order: Order, slug: str) -> dict:
    return {
        "ref": order.ref, "number": order.number, "store": slug, "status": order.status,
        "total": f"{order.total:.2f}", "created_at": aware(order.created_at), "name": order.customer_name,
        "phone": order.phone, "address": order.address,
        "lines": [{"product_id": line.product_id, "name": line.name, "price": f"{line.unit_price:.2f}",
                   "quantity": line.quantity, "subtotal": f"{line.subtotal:.2f}"} for line in order.lines],
    }


@bp.post("/orders")
@bp.auth_required(auth)
@bp.input(IdempotencyHeaders, location="headers", arg_name="headers")
@bp.input(OrderIn, arg_name="body")
@bp.output(OrderOut, status_code=201, headers=PlacedHeaders)
@bp.doc(tags=["Orders"], responses={
    409: "Fewer units are free than ordered (`detail.shortages` says how many of each), the store "
         "takes no orders now, or a request with this Idempotency-Key is still placing the order "
         "(`Retry-After`)",
    422: "Invalid input; a rule of the order refused it; or the Idempotency-Key was first sent with "
         "another body",
})
def place_order(headers: dict, body: dict):
    """Place an order

    Send a new `Idempotency-Key` for each order, and the same key when retrying it: the same
    key with the same body answers with the order it placed (`Idempotent-Replayed: true`),
    never a second one; with a different body, 422; while the first request is still
    placing it, 409 with `Retry-After`. A request that was refused (409 short stock, 422)
    placed nothing, and its key is free again.

    Order either `lines` or what one of your `cart`s at the store holds (its holds become
    the order). Stock goes down with the order, for every line or none.
    """
    customer = auth.current_user
    customer_id = customer.id
    vendor = listing.store(body["store"])
    if vendor is None:
        raise invalid("store", "There is no such store.")
    key = headers["idempotency_key"]
    try:
        claim = claims.claim(customer_id, key, claims.request_hash(body))
    except claims.KeyReused:
        message = "This Idempotency-Key was used for another order: send a new key for a new order."
        raise HTTPError(422, message, detail={"headers": {"Idempotency-Key": [message]}}) from None
    except claims.StillPlacing as busy:
        raise HTTPError(409, "An order with this Idempotency-Key is being placed: try again in a moment.",
                        headers={"Retry-After": str(busy.retry_after)}) from None
    if claim.order_id is not None:
        order = claims.placed_order(customer_id, order_id=claim.order_id)
        if order is None:  # deleted with its store a moment ago
            raise HTTPError(404, NO_ORDER)
        return _shown(order, order.vendor.slug), 201, {**PRIVATE, "Idempotent-Replayed": "true"}
    token = claims.order_token(customer_id, key)
    try:
        order, created = _place(vendor, customer, body, token, claim.taken_over)
    except HTTPError:
        claims.release(claim)
        raise
    claims.settle(claim, order)
    return _shown(order, vendor.slug), 201, PRIVATE if created else {**PRIVATE, "Idempotent-Replayed": "true"}


def _place(vendor: Vendor, customer, body: dict, token: str, taken_over: bool) -> tuple[Order, bool]:
    """``orders.place`` for the body, its refusals as HTTP errors."""
    if taken_over and (twin := orders.find_by_token(vendor, token)) is not None:
        return twin, False  # the request presumed dead had placed it (its cart is gone with it)
    cart, quantities, field = None, {}, "lines"
    if "cart" in body:
        cart, field = _own_cart(vendor, customer.id, body["cart"]), "cart"
    else:
        quantities = {line["product_id"]: line["quantity"] for line in body["lines"]}
    details = orders.Customer(body.get("name") or customer.name, body.get("phone") or customer.phone,
                              body["address"], customer.email)
    try:
        return orders.place(vendor, quantities, details, token, cart, payment=body.get("payment"))
    except orders.Refused as refused:
        raise HTTPError(422, str(refused), detail={"json": {field: refused.messages}}) from None
    except orders.OutOfStock as short:
        if cart is None and (unknown := _not_the_stores(vendor, [s.product_id for s in short.shortages])):
            raise invalid("lines", f"The store has no product {', '.join(map(str, unknown))}.") from None
        raise HTTPError(409, str(short), detail={"shortages": [
            {"product_id": s.product_id, "name": s.name, "available": s.left} for s in short.shortages]}) from None
    except orders.CartOrdered as ordered:
        raise invalid("cart", str(ordered)) from None
    except orders.OrderError as refused:  # any other refusal of the store's now (a closed store)
        raise HTTPError(409, str(refused)) from None
    except ValueError:  # no units at all: the cart's lines were cut to nothing meanwhile
        raise invalid(field, "Your cart is empty.") from None


def _own_cart(vendor: Vendor, customer_id: int, cart_id: int) -> Cart:
    """The customer's cart ``cart_id`` at ``vendor``'s store with something in it, or a 422.
    (A second order from it, from another device, finds it gone: ``orders.CartOrdered``.)"""
    cart = db.session.get(Cart, cart_id)
    if cart is None or cart.customer_id != customer_id or cart.vendor_id != vendor.id:
        raise invalid("cart", "You have no such cart at this store.")
    if not any(line.quantity for line in cart.lines):
        raise invalid("cart", "Your cart is empty.")
    return cart


def _not_the_stores(vendor: Vendor, product_ids: list[int]) -> list[int]:
    """Those of ``product_ids`` the store has never had (or deleted): bad input, not short stock."""
    known = {product.id for product in db.session.scalars(
        products.for_vendor(vendor).where(Product.id.in_(product_ids)))}
    return [pid for pid in product_ids if pid not in known]


@bp.get("/orders")
@bp.auth_required(auth)
@bp.input(OrdersQuery, location="query", arg_name="query")
@bp.output(OrderPage, headers=PageHeaders)
@bp.doc(tags=["Orders"])
def order_history(query: dict):
    """Your orders, newest first, a page at a time

    The orders you placed through the API, at every store.
    """
    page, per_page = query["page"], query["per_page"]
    found, total = claims.placed_orders(auth.current_user.id, page, per_page)
    body = {"items": [_shown(order, order.vendor.slug) for order in found], "page": page, "per_page": per_page,
            "total": total}
    return body, 200, {**PRIVATE, "X-Total-Count": str(total),
                       "Link": paging.links("api.order_history", page, per_page, total)}


@bp.get("/orders/<ref>")
@bp.auth_required(auth)
@bp.output(OrderOut)
@bp.doc(tags=["Orders"], responses={404: "Not your order, or none"})
def read_order(ref: str):
    """One of your orders, by its ref"""
    order = claims.placed_order(auth.current_user.id, ref=ref) if orders.REF_RE.fullmatch(ref) else None
    if order is None:
        raise HTTPError(404, NO_ORDER)
    return _shown(order, order.vendor.slug), 200, PRIVATE
