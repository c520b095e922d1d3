"""Carts: a visitor's units held at one store for ``CART_HOLD_MINUTES``, and what they show.

The cookie carries the cart's random token; a cart is found only through its
store (``Cart.owned_by``), so a cookie from one store means nothing at another.
Every change moves the cart's hold on by ``CART_HOLD_MINUTES``; the units
themselves are held and taken in ``inventory``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import joinedload, selectinload

from . import accounts, inventory, products
from .extensions import db
from .models import Cart, Product, Vendor, aware, commit_keeping_loaded, utcnow
from .models.prepared import prepared
from .orders import MAX_LINES, MAX_QUANTITY

COOKIE = "cart"


class CartError(ValueError):
    """The change cannot be made; the message is for the customer."""


def find(vendor: Vendor, token: str | None, session=None) -> Cart | None:
    """The cart of ``token`` at ``vendor``'s store, read on ``session`` (the app's by default:
    a cart about to hold or be ordered is read on the primary)."""
    if not token:
        return None
    return (session or db.session).scalar(
        Cart.owned_by(vendor).where(Cart.token == token).options(selectinload(Cart.lines))
    )


# Built once: the store and the visitor's cart there with its lines, in one statement (every
# change of a cart, its fragment, the running total and the checkout begin with it).
_STORE_AND_CART = prepared(
    select(Vendor, Cart)
    .outerjoin(Cart, and_(Cart.vendor_id == Vendor.id, Cart.token == bindparam("token")))
    .where(Vendor.username == bindparam("username"))
    .options(joinedload(Cart.lines))
)


def store_and_cart(slug: str, token: str | None, session=None) -> tuple[Vendor | None, Cart | None]:
    """The store named ``slug`` and the cart of ``token`` there (``find``, in the same
    statement), read on ``session`` (the app's by default); None for either that is not."""
    if not token:
        return accounts.find(slug, session), None
    found = (session or db.session).execute(
        _STORE_AND_CART, {"username": accounts.normalise_username(slug), "token": token}
    ).unique().first()
    return (found[0], found[1]) if found is not None else (None, None)


def set_quantity(vendor: Vendor, cart: Cart | None, product_id: int, quantity: int) -> Cart:
    """Hold ``quantity`` units of ``product_id`` in ``cart`` (a new cart if None), committed.

    Raises ``inventory.NotEnough`` (nothing more held, nothing committed) when
    fewer are free, and ``CartError`` for a quantity the store does not allow (any, while it is
    closed).
    """
    if not 0 <= quantity <= MAX_QUANTITY:
        raise CartError(f"Choose from 0 to {MAX_QUANTITY}.")
    if quantity and not vendor.open:  # a closed store holds nothing; letting go is always fine
        raise CartError(f"{vendor.store_name} is closed right now and is not taking orders.")
    until = utcnow() + hold_time()
    if cart is None:  # written by inventory.hold, with its first line
        cart = Cart(vendor_id=vendor.id, token=secrets.token_urlsafe(32), expires_at=until, lines=[])
    elif quantity and product_id not in {line.product_id for line in cart.lines} and len(cart.lines) >= MAX_LINES:
        raise CartError(f"A cart can hold at most {MAX_LINES} different products.")
    try:
        seen = inventory.hold(cart, product_id, quantity, until=until)
    except inventory.NotEnough:
        db.session.rollback()
        raise
    except inventory.OverLimit as over:
        db.session.rollback()
        raise CartError(f"{over.name}: at most {over.limit} per order.") from None
    commit_keeping_loaded()  # the cart and its lines are shown next, as written
    cart.seen = {product_id: seen} if seen is not None else {}
    return cart


def hold_time() -> timedelta:
    return timedelta(minutes=current_app.config["CART_HOLD_MINUTES"])


@dataclass(frozen=True)
class LineView:
    product: Product  # or the product's row as a change of this request locked it (id, name, price)
    quantity: int
    problem: str | None  # what the customer must know: a lapsed hold short of stock, a cut

    @property
    def subtotal(self) -> Decimal:
        return self.product.price * self.quantity


@dataclass(frozen=True)
class CartView:
    lines: list[LineView]
    expires_at: datetime | None
    lapsed: bool
    gone: int = 0  # lines of products no longer on sale (not named: the store hides them)

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal("0"))

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def minutes_left(self) -> int:
        if self.expires_at is None or self.lapsed:
            return 0
        return max(1, round((aware(self.expires_at) - utcnow()).total_seconds() / 60))


def view(vendor: Vendor, cart: Cart | None, session=None) -> CartView:
    """What the cart shows. A line is never dropped silently: a lapsed hold whose units
    went meanwhile, a product gone from sale, or a hold the vendor cut says so. Read on
    ``session`` (the app's by default)."""
    if cart is None:
        return CartView([], None, False)
    gone = 0
    lapsed = aware(cart.expires_at) <= utcnow()
    wanted = {line.product_id for line in cart.lines}
    # The product a change of this request just locked is shown as it saw it: not read again.
    on_sale = {product_id: (row, free) for product_id, (row, free) in (cart.seen or {}).items()
               if product_id in wanted and row.vendor_id == vendor.id and row.available}
    others = products.on_sale_among(vendor, wanted - on_sale.keys(), except_cart=cart.id, session=session)
    on_sale.update((product.id, (product, product.free)) for product in others)
    lines = []
    for line in cart.lines:
        found = on_sale.get(line.product_id)
        if found is None:  # deleted or hidden since
            gone += 1
            continue
        product, left = found
        problem = None
        if line.cut_from:
            problem = f"The store has fewer now: {line.quantity} of the {line.cut_from} you chose are held."
        elif left < line.quantity:
            problem = f"Only {left} left." if left else "Sold out, 0 left."
        lines.append(LineView(product, line.quantity, problem))
    return CartView(lines, cart.expires_at, lapsed, gone)


def create(vendor: Vendor, customer_id: int | None = None) -> Cart:
    """A new, empty cart at ``vendor``'s store (committed), belonging to ``customer_id`` if
    given (a cart of the API; the store page's carts belong to a cookie)."""
    cart = Cart(vendor_id=vendor.id, customer_id=customer_id, token=secrets.token_urlsafe(32),
                expires_at=utcnow() + hold_time(), lines=[])
    db.session.add(cart)
    db.session.commit()
    return cart


def discard(cart: Cart) -> None:
    """Delete ``cart``, letting go of every unit it holds (committed)."""
    now = utcnow()
    for line in list(cart.lines):
        inventory.hold(cart, line.product_id, 0, until=now)
    db.session.delete(cart)
    db.session.commit()
