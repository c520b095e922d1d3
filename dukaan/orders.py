"""Orders: what one would cost, placing it (all of its lines or none), and its states.

Stock moves through ``dukaan.inventory``; this module decides when.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, String, bindparam, cast, exists, func, insert, select, true, union_all, update
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached, selectinload
from sqlalchemy.orm.exc import ObjectDeletedError

from . import inventory, jobs, pricing, products, replica
from .extensions import db
from .models import Cart, Order, OrderLine, OrderStatus, PaymentState, Product, Vendor, commit_keeping_loaded, utcnow
from .models.prepared import prepared
from .ops import metrics

# The shape of the refs ``place`` hands out (secrets.token_urlsafe): anything else names no order.
REF_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Units of one product in one order (a vendor may set fewer: Product.max_per_order).
MAX_QUANTITY = 999
# Different products in one order: the work done under its products' locks is bounded by it.
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
lines_table = OrderLine.__table__
vendors_table = Vendor.__table__


@dataclass(frozen=True)
class Customer:
    name: str
    phone: str
    address: str
    email: str | None = None  # checked already (accounts.email_problem): each change of the order is mailed there


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


class CartOrdered(OrderError):
    """The cart was ordered meanwhile (another tab or device): nothing more was taken."""

    def __init__(self):
        super().__init__("This cart has just been ordered (from another tab or device), so nothing more "
                         "was ordered. Look for the order's page there.")


class StoreClosed(OrderError):
    """The store is closed: it shows its page but takes no orders."""

    def __init__(self, store_name: str):
        super().__init__(f"{store_name} is closed right now and is not taking orders. Please check back later.")


def payment_for(vendor: Vendor, terms: pricing.Terms, chosen: str | None) -> str:
    """The payment method an order at ``vendor``'s store uses when the customer chose ``chosen``
    (None or "": the store's only method). Raises ``Refused`` for a method the store does not take."""
    if not chosen:
        if terms.default_payment is None:
            raise Refused(["Choose how you will pay: cash on delivery or UPI."])
        return terms.default_payment
    if chosen not in terms.methods:
        label = pricing.PAYMENT_METHODS.get(chosen)
        taken = " or ".join(pricing.PAYMENT_METHODS[m].lower().replace("upi", "UPI") for m in terms.methods)
        what = f"{label} payments" if label else "that way of paying"
        raise Refused([f"{vendor.store_name} does not take {what}: pay by {taken}."])
    return chosen


@dataclass(frozen=True)
class Quote:
    """What an order of some quantities would cost now, before it is placed."""

    total: Decimal  # what the customer would pay: goods, delivery and fees
    units: int
    problems: tuple[str, ...]  # for the customer: what would stop the order
    price: pricing.Price | None = None  # the breakdown (None: nothing chosen)


def quote(vendor: Vendor, quantities: dict[int, int], payment: str | None = None, cart: Cart | None = None,
          session=None) -> Quote:
    """Price ``quantities`` (product id to units) at ``vendor``'s current prices and terms,
    paid by ``payment`` (a method the store does not take counts as none chosen yet), for
    a customer holding ``cart`` (whose own holds do not count against them), read on
    ``session`` (the app's by default).

    Only reads: nothing more is reserved, so stock may still run out before the
    order is placed. Products that are gone, hidden or not the vendor's are
    left out of the total and named in ``problems``, as is short stock, an
    order below the store's minimum and a closed store.
    """
    wanted = {pid: qty for pid, qty in quantities.items() if qty > 0}
    if not wanted:
        return Quote(Decimal("0"), 0, ())
    terms = pricing.Terms.of(vendor)
    if payment not in terms.methods:
        payment = terms.default_payment
    found = {
        p.id: p
        for p in (session or db.session).scalars(
            products.for_vendor(vendor).where(Product.id.in_(wanted), Product.available)
        )
    }
    free = inventory.free(list(found.values()), except_cart=cart.id if cart is not None else None, session=session)
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
    price = pricing.price(terms, total, payment)
    if units and price.below_minimum:
        problems.append(price.below_minimum)
    if not terms.open:
        problems.insert(0, str(StoreClosed(vendor.store_name)))
    return Quote(price.total, units, tuple(dict.fromkeys(problems)), price)


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
    cart: Cart | None = None, payment: str | None = None,
) -> tuple[Order, bool]:
    """Place an order for ``quantities`` (product id to units) at ``vendor``'s store, or for
    what ``cart`` holds (its holds become the order and the cart is gone with the commit).

    Takes every line or none, in one transaction, which also records the jobs
    that email the vendor and the customer (each if they gave an email). Returns the order and whether
    it was created now; an order already placed with the same ``token`` is
    returned instead of placing a second one.

    The order is priced by ``pricing.price`` with the store's terms as they are
    when it is written, paid by ``payment`` (``cod`` or ``upi``; None: the
    store's only method), and keeps its charges and payment method.

    Raises ``OutOfStock`` (nothing taken) when a product is unavailable, gone
    or short of stock, ``Refused`` when the order breaks a rule of its own
    (``check``, the store's minimum order, a payment method it does not take),
    ``StoreClosed`` when the store is closed, ``CartOrdered`` when ``cart`` was
    ordered meanwhile, and ``ValueError`` for an order with no units. A refused order
    takes no number.
    """
    if cart is not None:
        quantities = {line.product_id: line.quantity for line in cart.lines}
    wanted = sorted((pid, qty) for pid, qty in quantities.items() if qty > 0)
    if not wanted:
        raise ValueError("an order needs at least one unit")
    if any(qty > MAX_QUANTITY for _, qty in wanted):
        raise ValueError(f"at most {MAX_QUANTITY} units of a product")
    session = db.session
    # An order from a cart has no twin while the cart is there (the cart goes with its order's
    # commit; a retry after that finds no cart, and its caller looks for the order): the unique
    # token below is enough for it.
    if token and cart is None and (twin := find_by_token(vendor, token)) is not None:
        return twin, False
    if len(wanted) > MAX_LINES:
        raise Refused([f"An order can have at most {MAX_LINES} different products."])
    terms_before = pricing.Terms.of(vendor)

    def rules(rows) -> None:
        # The order's own rules and the store's terms, on the locked rows (at the prices
        # the order is taken at), before any stock is counted.
        check(rows, dict(wanted))
        _check_terms(vendor, terms_before, payment, sum((rows[pid].price * qty for pid, qty in wanted), Decimal("0")))

    try:
        # PostgreSQL: the plain case in two statements (the stock taken, then the order written
        # where the holds allow it); anything else is rolled back and told apart below.
        try:
            order = (_at_once(vendor, wanted, cart, rules, terms_before, payment, customer, token)
                     or _taking_apart(vendor, wanted, cart, rules, terms_before, payment, customer, token))
        except (inventory.CartGone, ObjectDeletedError):
            # Ordered from another tab meanwhile (found gone, or gone when a rollback above had
            # the session read it again).
            if cart is None:
                raise
            session.rollback()
            raise CartOrdered() from None
        if vendor.email or order.email:
            if vendor.email:
                jobs.record("mail.order_placed", order_id=order.id)
            tell_customer(order, OrderStatus.PLACED)
        # What the caller reads back (the order's ref and number, the store's slug) is what
        # this transaction wrote or did not touch: no need to load it all again.
        commit_keeping_loaded()
    except IntegrityError:
        # A twin with the same token committed meanwhile (the unique key waited for it).
        session.rollback()
        if token and (twin := find_by_token(vendor, token)) is not None:
            return twin, False
        raise
    metrics.order_placed()
    return order, True


def _at_once(vendor: Vendor, wanted: list[tuple[int, int]], cart: Cart | None, rules, terms: pricing.Terms,
             payment: str | None, customer: Customer, token: str | None) -> Order | None:
    """``place``'s plain case, an order of one product on PostgreSQL, in two statements:
    ``inventory.take_at_once`` takes the stock on hand (locking the product's row), then one
    INSERT writes the order and its line where the stock still covers the other carts' holds,
    counted after the lock, and the terms are those it was priced with (``_insert``). None, with
    the transaction rolled back, for anything else: more products, a product gone or short, a
    rule broken, the terms changed; ``_taking_apart`` tells which. Raises ``inventory.CartGone``
    (rolled back) for a cart ordered meanwhile."""
    session = db.session
    if len(wanted) != 1 or session.connection().dialect.name != "postgresql":
        return None
    [(product_id, units)] = wanted
    try:
        found = inventory.take_at_once(vendor.id, product_id, units, cart, check=rules)
        if found is None:
            session.rollback()
            return None
        taken, row = found
        price = _check_terms(vendor, terms, payment, taken.price * taken.quantity)
    except OrderError:
        session.rollback()
        return None
    except inventory.CartGone:
        session.rollback()
        raise
    order = _new_order(vendor, price, customer, token)
    held = _insert(order, _lines([taken]), terms, inventory.counting(product_id, cart))
    if held is None:
        session.rollback()
        return None
    if cart is not None:  # deleted with its line: the session lets go of them
        session.expunge(cart)
    inventory.took(vendor.id, taken, row, held[product_id], cart)
    return order


def _taking_apart(vendor: Vendor, wanted: list[tuple[int, int]], cart: Cart | None, rules,
                  terms_before: pricing.Terms, payment: str | None, customer: Customer, token: str | None) -> Order:
    """``place`` step by step (``inventory.take``: the products locked, the rules checked, the
    stock taken where the holds allow it, then the order written), saying what stops it."""
    session = db.session
    try:
        taken, short = inventory.take(vendor.id, wanted, cart, check=rules)
    except OrderError:
        session.rollback()
        raise
    if short:
        session.rollback()
        raise OutOfStock(shortages(vendor, short, cart))
    if cart is not None:  # deleted with its lines by take(): the session lets go of them
        session.expunge(cart)
    subtotal = sum((t.price * t.quantity for t in taken), Decimal("0"))
    lines = _lines(taken)
    # Written only under the terms it was priced with, as they are when it is written (its
    # number is taken then): a setting changed since is read and the order priced again.
    terms = terms_before
    for _attempt in range(TERMS_TRIES):
        try:  # a setting changed since the check above
            price = _check_terms(vendor, terms, payment, subtotal)
        except OrderError:
            session.rollback()
            raise
        order = _new_order(vendor, price, customer, token)
        if _insert(order, lines, terms) is not None:
            return order
        terms = pricing.Terms(*session.execute(_TERMS_NOW, {"vendor": vendor.id}).one())
    session.rollback()
    raise Refused([f"{vendor.store_name} is changing its terms right now. Please place the order again."])


def _new_order(vendor: Vendor, price: pricing.Price, customer: Customer, token: str | None) -> Order:
    """An order at ``vendor``'s store at ``price``, placed now, to be written by ``_insert``."""
    now = utcnow()
    return Order(
        vendor_id=vendor.id,
        ref=secrets.token_urlsafe(16),
        token=token or None,
        customer_name=customer.name,
        phone=customer.phone,
        address=customer.address,
        email=customer.email or None,
        subtotal=price.subtotal,
        delivery_fee=price.delivery,
        cod_fee=price.cod_fee,
        total=price.total,
        payment_method=price.payment,
        payment_state=PaymentState.PENDING.value,
        status=OrderStatus.PLACED.value,
        created_at=now,
        updated_at=now,
    )


def _lines(taken: list[inventory.Taken]) -> list[OrderLine]:
    return [OrderLine(product_id=t.product_id, name=t.name, unit_price=t.price, quantity=t.quantity)
            for t in taken]


# Built once (inventory says why); the values go with each execution.
_INSERT_LINES = insert(lines_table).returning(lines_table.c.id, sort_by_parameter_order=True)
# Every column of an order the caller gives; its id and number are the database's.
_ORDER_COLUMNS = tuple(column.key for column in orders_table.columns if column.key not in ("id", "number"))
_LINE_COLUMNS = ("product_id", "name", "unit_price", "quantity")
# The vendor columns that make pricing.Terms.
TERMS = tuple(pricing.Terms.__dataclass_fields__)
_TERMS_NOW = select(*(vendors_table.c[name] for name in TERMS)).where(vendors_table.c.id == bindparam("vendor"))
# A store changing its terms while its orders are written: read again this many times at most.
TERMS_TRIES = 3
# Orders of up to this many products are written by statements prepared on each connection.
PREPARED_LINES = 10


def numbers_sequence(vendor_id: int) -> str:
    """The PostgreSQL sequence of the order numbers of store ``vendor_id`` (made and dropped
    with the store by triggers on its table: migration 0014)."""
    return f"order_numbers_{vendor_id}"


def _order_rows(postgresql: bool, *guards) -> Select:
    """An order's row (``:o_<column>``), there only while its store's terms are those it was
    priced with (``:t_<term>``) and ``guards`` hold, numbered then: on PostgreSQL by the store's
    own sequence (``:numbers``; no lock on the store's row, so one store's orders do not wait
    for each other's commit); on SQLite, one writer at a time, after the store's last order.
    No row, no number taken."""
    vendor = bindparam("o_vendor_id", type_=orders_table.c.vendor_id.type)
    number = (
        func.nextval(cast(bindparam("numbers", type_=String), REGCLASS)) if postgresql
        else select(func.coalesce(func.max(orders_table.c.number), 0) + 1)
        .where(orders_table.c.vendor_id == vendor).scalar_subquery()
    )
    return (
        select(*(vendor if key == "vendor_id" else bindparam(f"o_{key}", type_=orders_table.c[key].type)
                 for key in _ORDER_COLUMNS), number)
        .select_from(vendors_table)
        .where(vendors_table.c.id == vendor,
               *(vendors_table.c[name].is_not_distinct_from(bindparam(f"t_{name}", type_=vendors_table.c[name].type))
                 for name in TERMS),
               *guards)
    )


# SQLite: the order (``_order_rows``), its id and number back; its lines by _INSERT_LINES.
_INSERT_ORDER = (
    insert(orders_table).from_select([*_ORDER_COLUMNS, "number"], _order_rows(False))
    .returning(orders_table.c.id, orders_table.c.number)
)


@functools.cache
def _insert_with_lines(count: int, counting: bool):
    """PostgreSQL: an order (``_order_rows``) and its ``count`` lines (``:<column>_<i>``) in one
    statement: the order's INSERT as a CTE whose id its lines take. Returns a row a line (its
    product, its id, the order's id and number); with ``counting`` (``inventory.take_at_once``
    took the stock of the order's one product), the product's row, the order written only
    where the stock covers the other carts' holds (``inventory.COUNTED``), with the units they
    hold (``held``) and the order's columns empty if it was not."""
    counted = inventory.COUNTED if counting else None
    guards = [~exists().where(counted.c.stock < counted.c.held)] if counting else []
    placed = (
        insert(orders_table).from_select([*_ORDER_COLUMNS, "number"], _order_rows(True, *guards))
        .returning(orders_table.c.id, orders_table.c.number)
        .cte("placed")
    )
    rows = [select(placed.c.id, *(bindparam(f"{key}_{i}", type_=lines_table.c[key].type) for key in _LINE_COLUMNS))
            for i in range(count)]
    written = (
        insert(lines_table)
        .from_select(["order_id", *_LINE_COLUMNS], rows[0] if count == 1 else union_all(*rows))
        .returning(lines_table.c.order_id, lines_table.c.id, lines_table.c.product_id)
        .cte("written")
    )
    columns = [written.c.order_id, placed.c.number, written.c.id.label("line_id")]
    if not counting:
        statement = select(written.c.product_id, *columns).select_from(
            placed.join(written, written.c.order_id == placed.c.id))
    else:
        statement = select(counted.c.id.label("product_id"), counted.c.held, *columns).select_from(
            counted.outerjoin(written, written.c.product_id == counted.c.id).outerjoin(placed, true()))
    # Most orders are of a few products: theirs are prepared (each count is a statement of its own).
    return prepared(statement) if count <= PREPARED_LINES else statement


def _insert(order: Order, lines: list[OrderLine], terms: pricing.Terms,
            counting: dict | None = None) -> dict[int, int] | None:
    """Write ``order`` (every column given but its id and number) and its ``lines`` with Core
    (one statement on PostgreSQL, ``_insert_with_lines``; two on SQLite) if its store's terms
    are still ``terms`` and, with ``counting`` (PostgreSQL: ``inventory.counting``'s values),
    the stock covers the other carts' holds; make the order the session's own, loaded, as a
    query would have: the ORM's unit of work (object states, a flush plan, a second round of
    events) cost an order more than the statements (``scripts/profile_order.py``). Returns the
    units other carts hold of each product (counted: else empty), or None when nothing was
    written (the terms changed, or the holds came first)."""
    session = db.session
    connection = session.connection()
    values = {f"o_{key}": getattr(order, key) for key in _ORDER_COLUMNS}
    values.update((f"t_{name}", getattr(terms, name)) for name in TERMS)
    held: dict[int, int] = {}
    if connection.dialect.name == "postgresql":  # one statement, one round trip
        values["numbers"] = numbers_sequence(order.vendor_id)
        values.update(counting or {})
        for i, line in enumerate(lines):
            values.update((f"{key}_{i}", getattr(line, key)) for key in _LINE_COLUMNS)
        written = connection.execute(_insert_with_lines(len(lines), counting is not None), values).all()
        if not written or written[0].order_id is None:
            return None
        order.id, order.number = written[0].order_id, written[0].number
        ids = {row.product_id: row.line_id for row in written}  # an order has one line a product
        for line in lines:
            line.id, line.order_id = ids[line.product_id], order.id
        if counting is not None:
            held = {row.product_id: row.held for row in written}
    else:
        placed = connection.execute(_INSERT_ORDER, values).first()
        if placed is None:
            return None
        order.id, order.number = placed
        rows = [{"order_id": order.id, **{key: getattr(line, key) for key in _LINE_COLUMNS}} for line in lines]
        for line, line_id in zip(lines, connection.scalars(_INSERT_LINES, rows), strict=True):
            line.id, line.order_id = line_id, order.id
    order.lines = lines
    for written_now in (order, *lines):
        make_transient_to_detached(written_now)
    session.add(order)
    return held


def _check_terms(vendor: Vendor, terms: pricing.Terms, payment: str | None, subtotal: Decimal) -> pricing.Price:
    """The price of an order of ``subtotal`` under ``terms``; raises ``StoreClosed`` for a closed
    store, ``Refused`` for a payment method it does not take or a subtotal below its minimum."""
    if not terms.open:
        raise StoreClosed(vendor.store_name)
    price = pricing.price(terms, subtotal, payment_for(vendor, terms, payment))
    if price.below_minimum:
        raise Refused([price.below_minimum])
    return price


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


def find_by_ref(vendor: Vendor, ref: str, session=None) -> Order | None:
    """The order behind ``ref`` at ``vendor``'s store, with its lines, read on ``session``
    (the app's by default: an order about to change is read on the primary)."""
    return (session or db.session).scalar(
        for_vendor(vendor).where(Order.ref == ref).options(selectinload(Order.lines))
    )


def next_statuses(order: Order) -> tuple[str, ...]:
    return TRANSITIONS.get(order.status, ())


def change_status(order: Order, status: str) -> Order:
    """Move ``order`` to ``status`` and note when; cancelling puts its units back in stock, and
    a cash order is paid once delivered. The customer's email about it is asked for in the
    same transaction (``tell_customer``).

    Raises ``IllegalTransition`` when ``status`` does not follow the order's
    current state (also when another request changed it first).
    """
    if status not in next_statuses(order):
        raise IllegalTransition(f"An order that is {order.status} cannot become {status}.")
    session = db.session
    # Conditional on the state we checked: of two concurrent cancels, one wins
    # and the stock comes back once.
    now = utcnow()
    values = {"status": status, "updated_at": now, f"{status}_at": now}
    if status == OrderStatus.DELIVERED and order.payment_method == pricing.COD:
        # Cash changes hands at the door.
        values.update(payment_state=PaymentState.PAID.value, paid_at=now)
    moved = session.execute(
        update(orders_table)
        .where(orders_table.c.id == order.id, orders_table.c.status == order.status)
        .values(**values)
    ).rowcount
    if moved != 1:
        session.rollback()
        session.refresh(order)
        raise IllegalTransition(f"The order is already {order.status}.")
    if status == OrderStatus.CANCELLED:
        inventory.put_back(order.vendor_id, [(line.product_id, line.quantity) for line in order.lines])
    tell_customer(order, status)
    session.commit()
    session.refresh(order)
    return order


# The one news an order can have more than once: a payment not found, claimed again, not found again.
REPEATABLE_NEWS = (PaymentState.NOT_RECEIVED,)


def tell_customer(order: Order, news: str) -> None:
    """Ask, in the current transaction, for the email that tells ``order``'s customer its
    ``news`` (the state it reached, or ``paid`` / ``not_received`` for its payment), if they
    gave an email. Sent once per order and news (a repeatable one once each time: ``at``
    tells them apart), after the commit."""
    if not order.email:
        return
    if news in REPEATABLE_NEWS:
        jobs.record("mail.customer_update", order_id=order.id, news=str(news), at=utcnow().isoformat())
    else:
        jobs.record("mail.customer_update", order_id=order.id, news=str(news))


def cancel_by_customer(order: Order) -> Order:
    """The customer cancels ``order`` while it is still only placed; its units go back in stock.

    Raises ``IllegalTransition`` once the store has confirmed it (or it is already
    cancelled): from then on only the store can cancel it.
    """
    if order.status != OrderStatus.PLACED:
        raise IllegalTransition(f"Order #{order.number} is {order.status}: it can no longer be cancelled "
                                "here. Message the store if something is wrong.")
    return change_status(order, OrderStatus.CANCELLED)


def timeline(order: Order) -> list[tuple[str, object]]:
    """The order's states in order, each with when it was reached (None: not yet). A cancelled
    order shows what it reached, then its cancellation."""
    moments = {
        OrderStatus.PLACED: order.created_at, OrderStatus.CONFIRMED: order.confirmed_at,
        OrderStatus.SHIPPED: order.shipped_at, OrderStatus.DELIVERED: order.delivered_at,
    }
    if order.status == OrderStatus.CANCELLED:
        return [(s.value, at) for s, at in moments.items() if at is not None] + [
            (OrderStatus.CANCELLED.value, order.cancelled_at)]
    return [(s.value, at) for s, at in moments.items()]


def filtered(vendor: Vendor, status: str | None = None, payment: str | None = None,
             since: datetime | None = None, before: datetime | None = None) -> Select:
    """The vendor's orders in ``status`` with payment ``payment``, placed at or after ``since``
    and before ``before`` (each None: any)."""
    query = for_vendor(vendor)
    if status:
        query = query.where(Order.status == status)
    if payment:
        query = query.where(Order.payment_state == payment)
    if since is not None:
        query = query.where(Order.created_at >= since)
    if before is not None:
        query = query.where(Order.created_at < before)
    return query


def vendor_orders(vendor: Vendor, page: int, per_page: int, status: str | None = None,
                  payment: str | None = None) -> tuple[list[Order], int]:
    """One page of a vendor's orders (in ``status``, with payment ``payment``), newest first,
    and how many there are in all: a read that may be a moment old (the replica's, when it
    can serve it)."""
    session = replica.session()
    query = filtered(vendor, status, payment)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    orders = session.scalars(
        query
        .order_by(Order.number.desc())
        .options(selectinload(Order.lines))
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(orders), total or 0


@dataclass(frozen=True)
class Summary:
    """A vendor's orders over a period: how many were placed, how many of those were cancelled,
    what the others are worth, and the products that sold most in them."""

    orders: int
    cancelled: int
    revenue: Decimal
    top: list[tuple[str, int, Decimal]]  # (name as sold, units, their worth), most units first


def summary(vendor: Vendor, since: datetime, before: datetime, top: int = 5) -> Summary:
    """The ``Summary`` of ``vendor``'s orders placed in [``since``, ``before``); cancelled orders
    count in ``cancelled`` only."""
    placed = filtered(vendor, since=since, before=before).subquery()
    kept = placed.c.status != OrderStatus.CANCELLED.value
    count, cancelled, revenue = db.session.execute(
        select(func.count(), func.count().filter(~kept), func.coalesce(func.sum(placed.c.total).filter(kept), 0))
    ).one()
    units = func.sum(OrderLine.quantity)
    best = db.session.execute(
        select(OrderLine.name, units, func.sum(OrderLine.unit_price * OrderLine.quantity))
        .join(placed, placed.c.id == OrderLine.order_id)
        .where(kept)
        .group_by(OrderLine.name)
        .order_by(units.desc(), OrderLine.name)
        .limit(top)
    ).all()
    return Summary(count, cancelled, Decimal(revenue), [(name, n, Decimal(worth)) for name, n, worth in best])


def export(vendor: Vendor, since: datetime | None, before: datetime | None, status: str | None = None,
           payment: str | None = None, batch: int = 500) -> Iterator[Order]:
    """The vendor's orders placed in [``since``, ``before``), oldest first, with their lines,
    read ``batch`` at a time: a year of orders never sits in memory at once. A read that may
    be a moment old, as the orders list is (the replica's, when it can serve it; asked when
    the first row is read, inside the streamed response)."""
    query = (
        filtered(vendor, status, payment, since, before)
        .order_by(Order.number)
        .options(selectinload(Order.lines))
        .execution_options(yield_per=batch)
    )
    yield from replica.session().scalars(query)
