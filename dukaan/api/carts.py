"""A customer's carts: made for one store, lines set one at a time (each holds stock through
``carts`` and ``inventory``), read and deleted. Another customer's cart is 404."""

from __future__ import annotations

from apiflask.exceptions import HTTPError

from .. import carts, inventory, products
from ..extensions import db
from ..models import Cart, Vendor
from . import bp, listing
from .auth import auth
from .schemas import MAX_ID, CartIn, CartOut, QuantityIn

NO_CART = "You have no such cart."


def _own_cart(cart_id: int) -> tuple[Cart, Vendor]:
    """The calling customer's cart ``cart_id`` and its store, or a 404."""
    cart = db.session.get(Cart, cart_id) if cart_id <= MAX_ID else None
    if cart is None or cart.customer_id != auth.current_user.id:
        raise HTTPError(404, NO_CART)
    return cart, db.session.get(Vendor, cart.vendor_id)


def _shown(vendor: Vendor, cart: Cart) -> dict:
    seen = carts.view(vendor, cart)
    return {
        "id": cart.id, "store": vendor.slug, "expires_at": seen.expires_at, "lapsed": seen.lapsed,
        "gone": seen.gone, "total": f"{seen.total:.2f}",
        "lines": [{"product_id": line.product.id, "name": line.product.name,
                   "price": f"{line.product.price:.2f}", "quantity": line.quantity,
                   "subtotal": f"{line.subtotal:.2f}", "problem": line.problem} for line in seen.lines],
    }


@bp.post("/carts")
@bp.auth_required(auth)
@bp.input(CartIn, arg_name="body")
@bp.output(CartOut, status_code=201)
@bp.doc(tags=["Carts"])
def create(body):
    """Start a cart at a store"""
    vendor = listing.store(body["store"])
    if vendor is None:
        raise HTTPError(422, "There is no such store.", detail={"json": {"store": ["There is no such store."]}})
    cart = carts.create(vendor, auth.current_user.id)
    return _shown(vendor, cart)


@bp.get("/carts/<int:cart_id>")
@bp.auth_required(auth)
@bp.output(CartOut)
@bp.doc(tags=["Carts"], responses={404: "Not your cart, or none"})
def read(cart_id: int):
    """One of your carts"""
    cart, vendor = _own_cart(cart_id)
    return _shown(vendor, cart)


@bp.put("/carts/<int:cart_id>/lines/<int:product_id>")
@bp.auth_required(auth)
@bp.input(QuantityIn, arg_name="body")
@bp.output(CartOut)
@bp.doc(tags=["Carts"], responses={
    404: "Not your cart, or no such product at its store",
    409: "Fewer units are free: `detail.available` says how many",
})
def set_line(cart_id: int, product_id: int, body):
    """Hold a number of units of a product

    The units are held for the customer until the cart's `expires_at`; 0 lets go of them.
    """
    cart, vendor = _own_cart(cart_id)
    if product_id > MAX_ID or products.get(vendor, product_id) is None:
        raise HTTPError(404, "The store has no such product.")
    try:
        cart = carts.set_quantity(vendor, cart, product_id, body["quantity"])
    except inventory.NotEnough as short:
        raise HTTPError(409, str(short), detail={"product_id": product_id, "available": short.available}) from None
    except carts.CartError as refused:
        raise HTTPError(422, str(refused), detail={"json": {"quantity": [str(refused)]}}) from None
    return _shown(vendor, cart)


@bp.delete("/carts/<int:cart_id>")
@bp.auth_required(auth)
@bp.output({}, status_code=204)
@bp.doc(tags=["Carts"], responses={404: "Not your cart, or none"})
def delete(cart_id: int):
    """Delete a cart, letting go of every unit it holds"""
    cart, _vendor = _own_cart(cart_id)
    carts.discard(cart)
    return ""
