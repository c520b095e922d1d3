"""Placing an order, stock, and an order's states: the business rules.

Stock is only ever changed by conditional ``UPDATE`` statements, so that no
amount of concurrency can sell a unit twice or leave stock below zero.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import catalog
from .extensions import db
from .models import Order, OrderLine, OrderStatus, Product, Vendor, utcnow

MAX_QUANTITY = 999

# Where an order may go next from each state; delivered and cancelled are final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OrderStatus.PLACED: (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    OrderStatus.CONFIRMED: (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
    OrderStatus.SHIPPED: (OrderStatus.DELIVERED,),
}

products_table = Product.__table__
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
    def message(self) -> str:
        """What the customer is told."""
        if self.name is None:
            return "A product you chose is no longer sold here."
        if self.left:
            return f"{self.name}: only {self.left} left."
        return f"{self.name}: sold out, 0 left."


class OrderError(Exception):
    """An order could not be placed or changed; the message is for the user."""


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


def quote(vendor: Vendor, quantities: dict[int, int]) -> Quote:
    """Price ``quantities`` (product id to units) at ``vendor``'s current prices.

    Only reads: nothing is reserved, so stock may still run out before the
    order is placed. Products that are gone, hidden or not the vendor's are
    left out of the total and named in ``problems``, as is short stock.
    """
    wanted = {pid: qty for pid, qty in quantities.items() if qty > 0}
    if not wanted:
        return Quote(Decimal("0"), 0, ())
    found = {
        p.id: p
        for p in db.session.scalars(
            select(Product).where(
                Product.id.in_(wanted), Product.vendor_id == vendor.id, Product.available
            )
        )
    }
    total, units, problems = Decimal("0"), 0, []
    for product_id, qty in sorted(wanted.items()):
        product = found.get(product_id)
        if product is None:
            problems.append(Shortage(product_id, None, 0).message)
            continue
        total += product.price * qty
        units += qty
        if product.stock < qty:
            problems.append(Shortage(product_id, product.name, product.stock).message)
    return Quote(total, units, tuple(dict.fromkeys(problems)))


def place(
    vendor: Vendor, quantities: dict[int, int], customer: Customer, token: str | None = None
) -> tuple[Order, bool]:
    """Place an order for ``quantities`` (product id to units) at ``vendor``'s store.

    Takes every line or none, in one transaction. Returns the order and whether
    it was created now; an order already placed with the same ``token`` is
    returned instead of placing a second one.

    Raises ``OutOfStock`` (nothing taken) when a product is unavailable, gone
    or short of stock, and ``ValueError`` for an order with no units.
    """
    wanted = sorted((pid, qty) for pid, qty in quantities.items() if qty > 0)
    if not wanted:
        raise ValueError("an order needs at least one unit")
    if any(qty > MAX_QUANTITY for _, qty in wanted):
        raise ValueError(f"at most {MAX_QUANTITY} units of a product")
    session = db.session
    if token and (twin := find_by_token(vendor.id, token)) is not None:
        return twin, False
    try:
        # Taking the next number locks the vendor row until commit, so one
        # store's orders are placed one after another and a twin with the same
        # token, committed meanwhile, is visible to the check below.
        number = session.execute(
            update(vendors_table)
            .where(vendors_table.c.id == vendor.id)
            .values(last_order_number=vendors_table.c.last_order_number + 1)
            .returning(vendors_table.c.last_order_number)
        ).scalar_one()
        if token and (twin := find_by_token(vendor.id, token)) is not None:
            session.rollback()
            return twin, False
        taken, short = [], []
        # Rows are locked in id order, so two orders never wait on each other.
        for product_id, qty in wanted:
            row = session.execute(
                update(products_table)
                .where(
                    products_table.c.id == product_id,
                    products_table.c.vendor_id == vendor.id,
                    products_table.c.available,
                    products_table.c.stock >= qty,
                )
                .values(stock=products_table.c.stock - qty)
                .returning(products_table.c.name, products_table.c.price, products_table.c.stock)
            ).one_or_none()
            if row is None:
                short.append(product_id)
            else:
                taken.append((product_id, qty, row))
        if short:
            session.rollback()
            raise OutOfStock(shortages(vendor.id, short))
        order = Order(
            vendor_id=vendor.id,
            number=number,
            ref=secrets.token_urlsafe(16),
            token=token or None,
            customer_name=customer.name,
            phone=customer.phone,
            address=customer.address,
            total=sum((row.price * qty for _, qty, row in taken), Decimal("0")),
            status=OrderStatus.PLACED.value,
            lines=[
                OrderLine(product_id=pid, name=row.name, unit_price=row.price, quantity=qty)
                for pid, qty, row in taken
            ],
        )
        session.add(order)
        if any(row.stock == 0 for _, _, row in taken):
            catalog.mark_stale(session, vendor.slug)
        session.commit()
    except IntegrityError:
        session.rollback()
        if token and (twin := find_by_token(vendor.id, token)) is not None:
            return twin, False
        raise
    return order, True


def shortages(vendor_id: int, product_ids: list[int]) -> list[Shortage]:
    """What is left of each of ``product_ids`` (0 if unavailable or gone)."""
    found = {
        p.id: p
        for p in db.session.scalars(
            select(Product).where(Product.id.in_(product_ids), Product.vendor_id == vendor_id)
        )
    }
    result = []
    for pid in product_ids:
        product = found.get(pid)
        if product is None:
            result.append(Shortage(pid, None, 0))
        else:
            result.append(Shortage(pid, product.name, product.stock if product.available else 0))
    return result


def find_by_token(vendor_id: int, token: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.vendor_id == vendor_id, Order.token == token))


def find_by_ref(vendor_id: int, ref: str) -> Order | None:
    return db.session.scalar(
        select(Order)
        .where(Order.vendor_id == vendor_id, Order.ref == ref)
        .options(selectinload(Order.lines))
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
        _restock(order)
    session.commit()
    session.refresh(order)
    return order


def _restock(order: Order) -> None:
    session = db.session
    back_in_stock = False
    for line in sorted(order.lines, key=lambda line: line.product_id or 0):
        if line.product_id is None:  # the product was deleted since
            continue
        row = session.execute(
            update(products_table)
            .where(products_table.c.id == line.product_id)
            .values(stock=products_table.c.stock + line.quantity)
            .returning(products_table.c.stock, products_table.c.available)
        ).one_or_none()
        if row is not None and row.available and row.stock == line.quantity:
            back_in_stock = True
    if back_in_stock:
        catalog.mark_stale(session, order.vendor.slug)


class StockMoved(OrderError):
    """Orders or cancellations changed a product's stock while its vendor was editing it."""

    def __init__(self, seen: int, now: int, wanted: int):
        self.seen, self.now, self.wanted = seen, now, wanted
        moved = (f"{seen - now} sold" if now < seen else f"{now - seen} back from cancelled orders")
        super().__init__(f"Stock changed from {seen} to {now} while you were editing ({moved}). "
                         f"Save again to set it to {wanted}.")


def edit_stock(product: Product, wanted: int, seen: int | None) -> None:
    """Apply a vendor's stock edit to ``product`` (not committed), with its row locked.

    ``seen`` is the stock the vendor's form was filled with. Left as it was
    (or set to what it is now), the stock is not touched: units sold since
    stay sold (a price edit in the middle of a sale must not put them back on
    sale). Changed while orders moved the stock, it raises ``StockMoved``
    rather than overwrite what they did. Without ``seen`` (a form that does
    not send it), ``wanted`` is set.
    """
    # Orders take stock with UPDATE … WHERE stock >= n: this lock waits for
    # them and holds them off until the edit commits.
    db.session.refresh(product, with_for_update=True)
    if seen is not None and wanted in (seen, product.stock):
        return
    if seen is not None and product.stock != seen:
        raise StockMoved(seen, product.stock, wanted)
    product.stock = wanted


def vendor_orders(vendor_id: int, page: int, per_page: int) -> tuple[list[Order], int]:
    """One page of a vendor's orders, newest first, and how many there are in all."""
    total = db.session.scalar(select(func.count(Order.id)).where(Order.vendor_id == vendor_id))
    orders = db.session.scalars(
        select(Order)
        .where(Order.vendor_id == vendor_id)
        .order_by(Order.number.desc())
        .options(selectinload(Order.lines))
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(orders), total or 0
