"""Orders: what one would cost, placing it (all of its lines or none), and its states.

Stock moves through ``dukaan.inventory``; this module decides when.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import inventory, jobs, products, replica
from .extensions import db
from .models import Cart, Order, OrderLine, OrderStatus, Product, Vendor, commit_keeping_loaded, utcnow
from .ops import metrics

# Units of one product in one order (a vendor may set fewer: Product.max_per_order).
MAX_QUANTITY = 999
# Different products in one order: the work done under the store's lock is bounded by it.
MAX_LINES = 100
# The most one order may be worth (₹99.99 crore): above any one product's price, below
# what the money columns hold.
MAX_TOTAL = Decimal("999999999.99")

# Where an order may go next from each state; delivered and cancelled are final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OrderStatus.PLACED: (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    OrderStatus.CONFIRMED: (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
    OrderStatus.SHIPPED: (OrderStatus.DELIVERED,),
}

orders_table = Order.__table__
vendors_table = Vendor.__table__


@dataclass(frozen=True)
class Customer:
    name: str
    phone: str
    address: str


@dataclass(frozen=True)
class Shortage:
    """A product the order could not take: ``left`` is what can still be bought."""

    product_id: int
    name: str | None  # None: the product is gone from the store
    left: int

    @property
    def left_text(self) -> str:
        """How many are left, said next to the product."""
        return f"Only {self.left} left." if self.left else "Sold out, 0 left."

    @property
    def message(self) -> str:
        """What the customer is told, naming the product."""
        if self.name is None:
            return NOT_AVAILABLE
        return f"{self.name}: {self.left_text[0].lower()}{self.left_text[1:]}"


# A product the store does not show (hidden, deleted, another store's): nothing more is said.
NOT_AVAILABLE = "A product you chose is not available."


class OrderError(Exception):
    """An order could not be placed or changed; the message is for the user."""


class Refused(OrderError):
    """The order breaks a rule of its own (too many lines, too large a total, more than a
    product's per-order limit): ``problems`` are said next to products, by id."""

    def __init__(self, messages: list[str], problems: dict[int, str] | None = None):
        self.messages, self.problems = messages, problems or {}
        super().__init__(" ".join(messages))


class OutOfStock(OrderError):
    def __init__(self, shortages: list[Shortage]):
        self.shortages = shortages
        super().__init__(" ".join(s.message for s in shortages))


class IllegalTransition(OrderError):
    pass


@dataclass(frozen=True)
class Quote:
    """What an order of some quantities would cost now, before it is placed."""

    total: Decimal
    units: int
    problems: tuple[str, ...]  # for the customer: what would stop the order


def quote(vendor: Vendor, quantities: dict[int, int], cart: Cart | None = None) -> Quote:
    """Price ``quantities`` (product id to units) at ``vendor``'s current prices, for a
    customer holding ``cart`` (whose own holds do not count against them).

    Only reads: nothing more is reserved, so stock may still run out before the
    order is placed. Products that are gone, hidden or not the vendor's are
    left out of the total and named in ``problems``, as is short stock.
    """
    wanted = {pid: qty for pid, qty in quantities.items() if qty > 0}
    if not wanted:
        return Quote(Decimal("0"), 0, ())
    found = {
        p.id: p
        for p in db.session.scalars(
            products.for_vendor(vendor).where(Product.id.in_(wanted), Product.available)
        )
    }
    free = inventory.free(list(found.values()), except_cart=cart.id if cart is not None else None)
    total, units, problems = Decimal("0"), 0, []
    for product_id, qty in sorted(wanted.items()):
        product = found.get(product_id)
        if product is None:
            problems.append(NOT_AVAILABLE)
            continue
        total += product.price * qty
        units += qty
        if free[product_id] < qty:
            problems.append(Shortage(product_id, product.name, free[product_id]).message)
    try:
        check(found, wanted)
    except Refused as refused:
        problems.extend(refused.messages)
    return Quote(total, units, tuple(dict.fromkeys(problems)))


def too_large(total: Decimal) -> str:
    return f"An order can be worth at most ₹{MAX_TOTAL:,}: this one is ₹{total:,.2f}."


def check(found: dict[int, Product], wanted: dict[int, int]) -> None:
    """Raise ``Refused`` when an order of ``wanted`` (product id to units) of the ``found``
    products breaks a rule of its own, whatever the stock."""
    if len(wanted) > MAX_LINES:
        raise Refused([f"An order can have at most {MAX_LINES} different products."])
    over = {
        pid: f"At most {found[pid].max_per_order} per order."
        for pid, qty in wanted.items()
        if pid in found and found[pid].max_per_order is not None and qty > found[pid].max_per_order
    }
    messages = [f"{found[pid].name}: at most {found[pid].max_per_order} per order." for pid in sorted(over)]
    total = sum((found[pid].price * qty for pid, qty in wanted.items() if pid in found), Decimal("0"))
    if total > MAX_TOTAL:
        messages.append(too_large(total))
    if messages:
        raise Refused(messages, over)


def place(
    vendor: Vendor, quantities: dict[int, int], customer: Customer, token: str | None = None,
    cart: Cart | None = None,
) -> tuple[Order, bool]:
    """Place an order for ``quantities`` (product id to units) at ``vendor``'s store, or for
    what ``cart`` holds (its holds become the order and the cart is gone with the commit).

    Takes every line or none, in one transaction, which also records the job
    that emails the vendor (if they gave an email). Returns the order and whether
    it was created now; an order already placed with the same ``token`` is
    returned instead of placing a second one.

    Raises ``OutOfStock`` (nothing taken) when a product is unavailable, gone
    or short of stock, ``Refused`` when the order breaks a rule of its own
    (``check``), and ``ValueError`` for an order with no units.
    """
    if cart is not None:
        quantities = {line.product_id: line.quantity for line in cart.lines}
    wanted = sorted((pid, qty) for pid, qty in quantities.items() if qty > 0)
    if not wanted:
        raise ValueError("an order needs at least one unit")
    if any(qty > MAX_QUANTITY for _, qty in wanted):
        raise ValueError(f"at most {MAX_QUANTITY} units of a product")
    session = db.session
    if token and (twin := find_by_token(vendor, token)) is not None:
        return twin, False
    if len(wanted) > MAX_LINES:
        raise Refused([f"An order can have at most {MAX_LINES} different products."])
    try:
        try:
            # The order's own rules (per-order limits, the largest total) are checked on
            # the locked rows, at the prices the order is taken at.
            taken, short = inventory.take(vendor.id, wanted, cart, check=lambda rows: check(rows, dict(wanted)))
        except Refused:
            session.rollback()
            raise
        if short:
            session.rollback()
            raise OutOfStock(shortages(vendor, short, cart))
        total = sum((t.price * t.quantity for t in taken), Decimal("0"))
        # The store's next number, taken last: it locks the vendor row until the commit,
        # so one store's orders queue only for their INSERT and the commit (a rollback
        # gives the number back). The product rows were locked first, in id order, as
        # every stock movement locks them: nothing locks the two the other way round.
        number = session.execute(
            update(vendors_table)
            .where(vendors_table.c.id == vendor.id)
            .values(last_order_number=vendors_table.c.last_order_number + 1)
            .returning(vendors_table.c.last_order_number)
        ).scalar_one()
        order = Order(
            vendor_id=vendor.id,
            number=number,
            ref=secrets.token_urlsafe(16),
            token=token or None,
            customer_name=customer.name,
            phone=customer.phone,
            address=customer.address,
            total=total,
            status=OrderStatus.PLACED.value,
            lines=[
                OrderLine(product_id=t.product_id, name=t.name, unit_price=t.price, quantity=t.quantity)
                for t in taken
            ],
        )
        session.add(order)
        if vendor.email:
            session.flush()  # the order's id, for the job
            jobs.record("mail.order_placed", order_id=order.id)
        if cart is not None:
            session.delete(cart)
        # What the caller reads back (the order's ref and number, the store's slug) is what
        # this transaction wrote or did not touch: no need to load it all again.
        session.expire(vendor, ["last_order_number"])
        commit_keeping_loaded()
    except IntegrityError:
        # A twin with the same token committed meanwhile (the unique key waited for it).
        session.rollback()
        if token and (twin := find_by_token(vendor, token)) is not None:
            return twin, False
        raise
    metrics.order_placed()
    return order, True


def shortages(vendor: Vendor, product_ids: list[int], cart: Cart | None = None) -> list[Shortage]:
    """What is left of each of ``product_ids`` for the holder of ``cart`` (0 if unavailable or gone)."""
    found = {
        p.id: p for p in db.session.scalars(products.for_vendor(vendor).where(Product.id.in_(product_ids)))
    }
    free = inventory.free(list(found.values()), cart.id if cart is not None else None)
    result = []
    for pid in product_ids:
        product = found.get(pid)
        if product is None:
            result.append(Shortage(pid, None, 0))
        else:
            result.append(Shortage(pid, product.name, free[pid]) if product.available
                          else Shortage(pid, None, 0))
    return result


def for_vendor(vendor: Vendor) -> Select:
    """The vendor's orders and nobody else's."""
    return Order.owned_by(vendor)


def get(vendor: Vendor, order_id: int) -> Order | None:
    return db.session.scalar(for_vendor(vendor).where(Order.id == order_id))


def find_by_token(vendor: Vendor, token: str) -> Order | None:
    return db.session.scalar(for_vendor(vendor).where(Order.token == token))


def find_by_ref(vendor: Vendor, ref: str) -> Order | None:
    return db.session.scalar(
        for_vendor(vendor).where(Order.ref == ref).options(selectinload(Order.lines))
    )


def next_statuses(order: Order) -> tuple[str, ...]:
    return TRANSITIONS.get(order.status, ())


def change_status(order: Order, status: str) -> Order:
    """Move ``order`` to ``status``; cancelling puts its units back in stock.

    Raises ``IllegalTransition`` when ``status`` does not follow the order's
    current state (also when another request changed it first).
    """
    if status not in next_statuses(order):
        raise IllegalTransition(f"An order that is {order.status} cannot become {status}.")
    session = db.session
    # Conditional on the state we checked: of two concurrent cancels, one wins
    # and the stock comes back once.
    moved = session.execute(
        update(orders_table)
        .where(orders_table.c.id == order.id, orders_table.c.status == order.status)
        .values(status=status, updated_at=utcnow())
    ).rowcount
    if moved != 1:
        session.rollback()
        session.refresh(order)
        raise IllegalTransition(f"The order is already {order.status}.")
    if status == OrderStatus.CANCELLED:
        inventory.put_back(order.vendor_id, [(line.product_id, line.quantity) for line in order.lines])
    session.commit()
    session.refresh(order)
    return order


def vendor_orders(vendor: Vendor, page: int, per_page: int) -> tuple[list[Order], int]:
    """One page of a vendor's orders, newest first, and how many there are in all: a read
    that may be a moment old (the replica's, when it can serve it)."""
    session = replica.session()
    total = session.scalar(select(func.count()).select_from(for_vendor(vendor).subquery()))
    orders = session.scalars(
        for_vendor(vendor)
        .order_by(Order.number.desc())
        .options(selectinload(Order.lines))
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(orders), total or 0
