"""Every stock movement: carts hold it, orders take it, cancellations put it back, vendors set it.

Nothing else writes ``Product.stock`` or a cart's holds. What a customer may
still buy is the stock on hand less the live holds of other carts; a hold is
live until its cart's ``expires_at``, so an abandoned cart frees its units by
the clock, with no job. Whoever holds or takes units locks the product's row
first (in product id order, so two never wait on each other), then counts the
holds in a later statement (an order's is the one that takes the stock; for an
order of one product, whose UPDATE takes the stock on hand and so locks the row,
the one that writes the order), which sees every hold committed before the lock
was granted: no amount of concurrency
sells or holds a unit twice or leaves stock below zero. Each movement tells the
store page's invalidation what it did (``storefront_cache.shown``), and one
that takes a product's stock from above its low-stock mark (``low_stock_at``)
to it or below asks for the vendor's email in the same transaction (``fell``).
None of these functions commits: the caller's transaction takes every movement
or none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Integer, Select, and_, bindparam, case, delete, func, insert, inspect, select, update
from sqlalchemy.orm import make_transient_to_detached

from . import jobs
from .extensions import db
from .models import Cart, CartLine, Product, aware, utcnow
from .models.prepared import prepared
from .storefront_cache import shown

MAX_STOCK = 1_000_000

products_table = Product.__table__


@dataclass(frozen=True)
class Taken:
    """Units taken from one product for an order, with its name and price at that moment."""

    product_id: int
    quantity: int
    name: str
    price: Decimal


class NotEnough(Exception):
    """A cart asked to hold more of a product than is free: ``available`` is what is."""

    def __init__(self, product_id: int, available: int, name: str | None = None):
        self.product_id, self.available, self.name = product_id, available, name
        super().__init__(f"Only {available} available." if available else "0 available right now.")


class CartGone(Exception):
    """The cart an order was to be taken from was ordered (or deleted) meanwhile."""


class OverLimit(Exception):
    """A cart asked to hold more of a product than one order may take (``limit``)."""

    def __init__(self, name: str, limit: int):
        self.name, self.limit = name, limit
        super().__init__(f"{name}: at most {limit} per order.")


class StockMoved(Exception):
    """Orders or cancellations changed a product's stock while its vendor was editing it."""

    def __init__(self, seen: int, now: int, wanted: int):
        self.seen, self.now, self.wanted = seen, now, wanted
        moved = f"{seen - now} sold" if now < seen else f"{now - seen} back from cancelled orders"
        super().__init__(f"Stock changed from {seen} to {now} while you were editing ({moved}). "
                         f"Save again to set it to {wanted}.")


# The statements of a sale day's hot path are built once, here, with their values bound at
# each execution: building one anew (and finding its key in SQLAlchemy's cache) cost an
# order more than sending it.
lines_table, carts_table = CartLine.__table__, Cart.__table__
NOW = bindparam("now", type_=DateTime(timezone=True))
EXCEPT_CART = bindparam("except_cart", type_=Integer)


# A cart line's hold lapses with its cart: looked up line by line (a subquery, not a join).
# Joined, PostgreSQL's planner scanned every live cart of the store for each product counted
# (0.56 ms a product with 3,000 live carts, against 0.20 ms line by line).
_LINE_EXPIRES = (
    select(carts_table.c.expires_at).where(carts_table.c.id == lines_table.c.cart_id)
    .correlate(lines_table).scalar_subquery()
)


def _holding(query: Select) -> Select:
    """``query`` of cart lines narrowed to those that hold stock: their cart's hold has not
    lapsed at ``:now``, and their cart is not ``:except_cart`` (None: every cart counts)."""
    return query.where(_LINE_EXPIRES > NOW, lines_table.c.cart_id.is_distinct_from(EXCEPT_CART))


_HELD = _holding(
    select(lines_table.c.product_id, func.sum(lines_table.c.quantity))
    .where(lines_table.c.product_id.in_(bindparam("ids", expanding=True)))
).group_by(lines_table.c.product_id)
# For a statement over products: the units of each held by live carts.
_HELD_BY_CARTS = _holding(
    select(func.coalesce(func.sum(lines_table.c.quantity), 0))
    .where(lines_table.c.product_id == products_table.c.id)
).correlate(products_table)
# After a product's lock: the units other carts hold of it, and the cart's own line of it
# (another tab of the same cart may have just written it), in one statement.
_HELD_AND_LINE = prepared(
    select(_HELD_BY_CARTS.scalar_subquery(), CartLine)
    .select_from(products_table)
    .outerjoin(CartLine, and_(CartLine.product_id == products_table.c.id, CartLine.cart_id == EXCEPT_CART))
    .where(products_table.c.id == bindparam("product"))
    .execution_options(populate_existing=True)
)
# A cart whose holds become an order: deleted (its lines by the foreign key's cascade, except
# on SQLite, which enforces none).
_DELETE_CART = prepared(delete(carts_table).where(carts_table.c.id == bindparam("cart")).returning(carts_table.c.id))
_DELETE_CART_LINES = delete(lines_table).where(lines_table.c.cart_id == bindparam("cart"))
_LOCK = (
    select(products_table).where(products_table.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(products_table.c.id).with_for_update()
)
# A cart's change locks one product and counts the holds of it: no list to expand (SQLAlchemy
# writes an expanding IN anew at each execution).
_LOCK_ONE = prepared(select(products_table).where(products_table.c.id == bindparam("product")).with_for_update())
_HELD_ONE = prepared(_holding(
    select(func.coalesce(func.sum(lines_table.c.quantity), 0)).where(lines_table.c.product_id == bindparam("product"))
))


# A new cart and its first line: on PostgreSQL one statement (the cart's INSERT a CTE whose id
# the line takes), prepared; on SQLite two. The ORM's unit of work cost a first "Add" more than
# its statements (``scripts/profile_order.py --cart``).
_CART_COLUMNS = ("vendor_id", "token", "customer_id", "created_at", "expires_at")
_CART_LINE_COLUMNS = ("product_id", "quantity", "changed_at", "cut_from")
_INSERT_CART = (
    insert(carts_table).values({key: bindparam(key, type_=carts_table.c[key].type) for key in _CART_COLUMNS})
    .returning(carts_table.c.id)
)
_INSERT_CART_LINE = (
    insert(lines_table)
    .values({key: bindparam(f"line_{key}", type_=lines_table.c[key].type) for key in ("cart_id", *_CART_LINE_COLUMNS)})
    .returning(lines_table.c.id)
)
_NEW_CART = _INSERT_CART.cte("new_cart")
_NEW_LINE = (
    insert(lines_table)
    .from_select(["cart_id", *_CART_LINE_COLUMNS],
                 select(_NEW_CART.c.id, *(bindparam(f"line_{key}", type_=lines_table.c[key].type)
                                          for key in _CART_LINE_COLUMNS)))
    .returning(lines_table.c.cart_id, lines_table.c.id)
    .cte("new_line")
)
_NEW_CART_AND_LINE = prepared(select(_NEW_LINE.c.cart_id, _NEW_LINE.c.id.label("line_id")))


def _write_new_cart(cart: Cart, line: CartLine) -> None:
    """Write the new ``cart`` with its one ``line`` now (``_NEW_CART_AND_LINE``), and make both
    the session's own, as a query would have loaded them."""
    session = db.session
    connection = session.connection()
    values = {key: getattr(cart, key) for key in _CART_COLUMNS}
    values.update((f"line_{key}", getattr(line, key)) for key in _CART_LINE_COLUMNS)
    for written, keys in ((cart, _CART_COLUMNS), (line, _CART_LINE_COLUMNS)):
        for key in keys:  # loaded as written, even those left empty (else read back when shown)
            setattr(written, key, getattr(written, key))
    if connection.dialect.name == "postgresql":
        cart.id, line.id = connection.execute(_NEW_CART_AND_LINE, values).one()
    else:
        cart.id = connection.execute(_INSERT_CART, values).scalar_one()
        line.id = connection.execute(_INSERT_CART_LINE, {**values, "line_cart_id": cart.id}).scalar_one()
    line.cart_id = cart.id
    cart.lines.append(line)
    for written in (cart, line):
        make_transient_to_detached(written)
    session.add(cart)


def holds_now(except_cart: int | None) -> dict[str, Any]:
    """The values of a holds count's ``:now`` and ``:except_cart``: the holds live now, of
    every cart but ``except_cart`` (None: of every cart)."""
    return {"now": utcnow(), "except_cart": except_cart}


def held(product_ids: list[int], except_cart: int | None = None, session=None) -> dict[int, int]:
    """Units of each product held by live carts, other than ``except_cart``'s (read on
    ``session``, the app's by default)."""
    if not product_ids:
        return {}
    return dict((session or db.session).execute(_HELD, {"ids": product_ids, **holds_now(except_cart)}).all())


# A column for a query of products: the units of each held by live carts; its values
# (``holds_now``) go with each execution.
HELD_BY_CARTS = _HELD_BY_CARTS.scalar_subquery()


def free(products: list[Product], except_cart: int | None = None, session=None) -> dict[int, int]:
    """What a customer (holding ``except_cart``) may still buy of each product: its stock
    on hand less the live holds of other carts, read on ``session`` (the app's by default;
    the same session the products were read on). Reads only: the next lock may change it."""
    holds = held([p.id for p in products], except_cart, session)
    return {p.id: max(0, p.stock - holds.get(p.id, 0)) for p in products}


def _lock(product_ids: list[int]) -> dict[int, object]:
    """Lock the rows of ``product_ids`` (in id order) until the commit; their columns now."""
    return {row.id: row for row in db.session.connection().execute(_LOCK, {"ids": product_ids})}


@functools.cache
def _taking(lines: int, returning_held: bool):
    """The UPDATE that takes an order of ``lines`` products (``:id_<i>``, ``:units_<i>`` each):
    each product's stock less its units, where that leaves enough for the other carts' live
    holds; returns what it took from (id, stock now and, if ``returning_held``, what the
    other carts hold)."""
    ids = [bindparam(f"id_{i}", type_=Integer) for i in range(lines)]
    held = _HELD_BY_CARTS.scalar_subquery()
    units = case(*((products_table.c.id == ids[i], bindparam(f"units_{i}", type_=Integer)) for i in range(lines)))
    return (
        update(products_table)
        .where(products_table.c.id.in_(ids), products_table.c.stock - held >= units)
        .values(stock=products_table.c.stock - units)
        .returning(products_table.c.id, products_table.c.stock, *([held.label("held")] if returning_held else []))
    )


# ``take_at_once``: one product of store ``:vendor`` on sale with ``:units`` on hand, less
# them (the other carts' holds are counted by the order's INSERT: ``COUNTED``); what the order's
# rules and the store page need of it.
_TAKING_ON_HAND = prepared(
    update(products_table)
    .where(products_table.c.id == bindparam("product"), products_table.c.vendor_id == bindparam("vendor"),
           products_table.c.available, products_table.c.stock >= bindparam("units", type_=Integer))
    .values(stock=products_table.c.stock - bindparam("units", type_=Integer))
    .returning(*(products_table.c[key] for key in ("id", "stock", "name", "price", "max_per_order", "low_stock_at")))
)
# For the statement that writes the order ``take_at_once`` took the stock of: a CTE of the
# product's stock now and the units other carts hold of it (``:now``, ``:except_cart``), read
# after the product's lock. The order is sound only where the stock covers them.
COUNTED = (
    select(products_table.c.id, products_table.c.stock, _HELD_BY_CARTS.scalar_subquery().label("held"))
    .where(products_table.c.id == bindparam("product"))
    .cte("counted")
)


def hold(cart: Cart, product_id: int, quantity: int, until: datetime) -> tuple[Any, int] | None:
    """Make ``cart`` hold ``quantity`` units of ``product_id`` (0 lets go of them), and all
    of its holds until ``until``. Returns what it saw of the product once locked: its row and
    how many of it the cart may have (stock less the other carts' live holds); None if there
    is no such product. A new ``cart`` (not yet in the session) is written here with its
    first line (``_write_new_cart``); one that holds nothing is added to the session.

    Raises ``NotEnough`` (nothing more held) when fewer are free; a product that
    is not on sale at the cart's store has 0 free. Raises ``OverLimit`` for more
    than the product's ``max_per_order``.
    """
    session = db.session
    new_cart = inspect(cart).transient or inspect(cart).pending
    row = session.connection().execute(_LOCK_ONE, {"product": product_id}).first()
    # After the lock: the holds it let through, and this cart's line as another tab may have
    # just written it. No such product: nothing held of it, and no line (lines go with it).
    others, line = 0, None
    if row is not None and new_cart:
        others = session.connection().execute(_HELD_ONE, {"product": product_id, **holds_now(None)}).scalar_one()
    elif row is not None:
        others, line = session.execute(_HELD_AND_LINE, {"product": product_id, **holds_now(cart.id)}).one()
    was_live = not new_cart and aware(cart.expires_at) > utcnow()
    before = line.quantity if line is not None and was_live else 0
    if quantity and (row is None or row.vendor_id != cart.vendor_id or not row.available):
        raise NotEnough(product_id, 0)
    if quantity and row.max_per_order and quantity > row.max_per_order:
        raise OverLimit(row.name, row.max_per_order)
    if quantity and quantity > max(0, row.stock - others):
        raise NotEnough(product_id, max(0, row.stock - others), row.name)
    written = False
    if quantity == 0:
        if line is not None:
            session.delete(line)
            if line in cart.lines:  # a cart read back after the commit must not show it
                cart.lines.remove(line)
    elif line is None and inspect(cart).transient:  # written now, with the cart
        cart.created_at, cart.expires_at = utcnow(), until
        _write_new_cart(cart, CartLine(product_id=product_id, quantity=quantity, changed_at=cart.created_at))
        written = True
    elif line is None:
        cart.lines.append(CartLine(product_id=product_id, quantity=quantity))
    else:
        line.quantity, line.changed_at, line.cut_from = quantity, utcnow(), None
    if not written:
        cart.expires_at = until
        session.add(cart)  # a new cart that holds nothing is written at the commit
    if row is not None:
        shown.updated(session, Product, row.vendor_id, row.available,
                      free=(row.stock - others - before, row.stock - others - quantity))
        # Whatever this cart makes look held on the store page stops being held at
        # ``until``: the page must be fetched anew then.
        if row.stock - others - quantity <= 0 and row.available:
            shown.stale_at(session, row.vendor_id, until)
        return row, max(0, row.stock - others)
    return None


def take(vendor_id: int, wanted: list[tuple[int, int]], cart: Cart | None = None,
         check: Callable[[dict[int, Any]], None] | None = None) -> tuple[list[Taken], list[int]]:
    """Take ``wanted`` (product id, units) from ``vendor_id``'s products on sale, for an order
    from ``cart`` (whose own holds, live or lapsed, do not stand in its way).

    Deletes ``cart`` and its lines in the caller's transaction (its holds become the order);
    raises ``CartGone`` when it was ordered or deleted meanwhile.
    Returns what was taken and the ids that could not be: the products gone or
    hidden, or else those with fewer free than wanted. With any of those nothing
    is taken and the caller must roll back. ``check`` sees the locked rows (id to
    row: name, price, max_per_order, …) of an order whose products are all on
    sale, before any stock is counted or taken, and may raise to refuse it.
    """
    session = db.session
    ids = sorted(pid for pid, _ in wanted)
    rows = _lock(ids)
    # Then the cart (products first, as a hold does), deleted with its lines: its holds become
    # the order. A second checkout of the same cart (another tab) waits here for the first,
    # and then finds the cart gone with it.
    if cart is not None and not _take_cart(session.connection(), cart.id):
        raise CartGone()
    gone = [pid for pid in ids if rows.get(pid) is None or rows[pid].vendor_id != vendor_id
            or not rows[pid].available]
    if gone:
        return [], gone
    if check is not None:
        check(rows)
    # One statement, after the lock (so that it counts every hold committed before the lock was
    # granted): each product's stock less its units, where that leaves enough for the other
    # carts' live holds. A product it leaves alone is short.
    quantities = dict(wanted)
    values = holds_now(cart.id if cart is not None else None)
    for i, product_id in enumerate(ids):
        values[f"id_{i}"], values[f"units_{i}"] = product_id, quantities[product_id]
    # SQLAlchemy writes a subquery in SQLite's RETURNING without its tables' names (ambiguous
    # there): the one-writer database counts the holds in a statement of their own.
    connection = session.connection()
    returning_held = connection.dialect.name != "sqlite"
    left = {row.id: row for row in connection.execute(_taking(len(ids), returning_held), values)}
    if short := [pid for pid in ids if pid not in left]:
        return [], short
    holds = {pid: row.held for pid, row in left.items()} if returning_held else held(ids, values["except_cart"])
    own = {line.product_id: line.quantity for line in cart.lines} if cart is not None else {}
    live = cart is not None and aware(cart.expires_at) > utcnow()
    for product_id in ids:
        row = rows[product_id]
        _moved(vendor_id, product_id, row.low_stock_at, row.stock, left[product_id].stock,
               holds.get(product_id, 0), own.get(product_id, 0) if live else 0)
    return [Taken(pid, quantities[pid], rows[pid].name, rows[pid].price) for pid in ids], []


def take_at_once(vendor_id: int, product_id: int, units: int, cart: Cart | None = None,
                 check: Callable[[dict[int, Any]], None] | None = None) -> tuple[Taken, Any] | None:
    """PostgreSQL's fast path of ``take`` for an order of one product (most orders; one row,
    so no order of locks to keep), whose INSERT counts the holds (``COUNTED``, then ``took``):
    one UPDATE takes ``units`` from the stock on hand and locks the product's row, and ``cart``
    (if any) is deleted with its lines after it. The holds are counted by the next statement,
    which sees every hold committed before the lock was granted. Returns what was taken and the
    row as the UPDATE left it (for ``took``); None when it is not that plain (the product gone,
    hidden or short on hand): the caller rolls back and calls ``take``, which tells which.
    Raises ``CartGone`` as ``take`` does; ``check`` as for ``take``."""
    connection = db.session.connection()
    row = connection.execute(_TAKING_ON_HAND, {"product": product_id, "vendor": vendor_id, "units": units}).first()
    if row is None:
        return None
    if cart is not None and not _take_cart(connection, cart.id):
        raise CartGone()
    if check is not None:
        check({product_id: row})
    return Taken(product_id, units, row.name, row.price), row


def counting(product_id: int, cart: Cart | None) -> dict[str, Any]:
    """The values ``COUNTED`` takes for an order of ``product_id`` from ``cart``."""
    return {"product": product_id, **holds_now(cart.id if cart is not None else None)}


def took(vendor_id: int, taken: Taken, row: Any, held: int, cart: Cart | None = None) -> None:
    """What ``take_at_once`` did, once the order's INSERT has counted the units other carts
    ``held``: the low-stock email and the store page's invalidation, as ``take`` does them."""
    own = 0
    if cart is not None and aware(cart.expires_at) > utcnow():
        own = next((line.quantity for line in cart.lines if line.product_id == taken.product_id), 0)
    _moved(vendor_id, taken.product_id, row.low_stock_at, row.stock + taken.quantity, row.stock, held, own)


def _moved(vendor_id: int, product_id: int, mark: int | None, before: int, now: int, others: int,
           own: int) -> None:
    """An order took a product's stock from ``before`` to ``now`` while other carts held
    ``others`` of it and the order's own cart ``own`` (live): a low-stock email if it fell to its
    ``mark``, and the store page told what it shows of the product (free: stock less holds)."""
    fell(product_id, mark, before, now)
    shown.updated(db.session, Product, vendor_id, True, stock=(before, now), free=(before - others - own, now - others))


def _take_cart(connection, cart_id: int) -> bool:
    """Delete the cart ``cart_id`` and its lines (one statement on PostgreSQL, whose foreign key
    cascades; SQLite enforces none); False if it was gone already."""
    if connection.dialect.name == "sqlite":
        connection.execute(_DELETE_CART_LINES, {"cart": cart_id})
    return connection.execute(_DELETE_CART, {"cart": cart_id}).first() is not None


def fell(product_id: int, mark: int | None, before: int, after: int) -> None:
    """A product's stock moved from ``before`` to ``after``: if that took it from above its
    low-stock ``mark`` to the mark or below, ask for the vendor's email (``mail.low_stock``) in
    this transaction. Once per fall: a product already at or below its mark is not mailed again
    until its stock has gone back above it. Holds in carts do not count: stock on hand does."""
    if mark is not None and before > mark >= after:
        jobs.record("mail.low_stock", product_id=product_id, fell_to=after, at=utcnow().isoformat())


def put_back(vendor_id: int, lines: list[tuple[int | None, int]]) -> None:
    """Return ``lines`` (product id, units) of a cancelled order to stock; a deleted product's
    units (product id None) have nowhere to go."""
    session = db.session
    returned = sorted((pid, qty) for pid, qty in lines if pid is not None)
    holds = held([pid for pid, _ in returned])
    for product_id, quantity in returned:
        row = session.execute(
            update(products_table)
            .where(products_table.c.id == product_id)
            .values(stock=products_table.c.stock + quantity)
            .returning(products_table.c.stock, products_table.c.available)
        ).one_or_none()
        if row is not None:
            holding = holds.get(product_id, 0)
            shown.updated(session, Product, vendor_id, row.available, stock=(row.stock - quantity, row.stock),
                          free=(row.stock - quantity - holding, row.stock - holding))


def receive(product: Product, units: int) -> None:
    """A new product's first stock (no low-stock email: the vendor is looking at it)."""
    product.stock = units


def set_stock(product: Product, wanted: int, seen: int | None, low_stock_at: int | None = None) -> None:
    """Apply a vendor's stock edit to ``product``, with its row locked until the commit.

    ``seen`` is the stock the vendor's form was filled with. Left as it was
    (or set to what it is now), the stock is not touched: units sold since
    stay sold (a price edit in the middle of a sale must not put them back on
    sale). Changed while orders moved the stock, it raises ``StockMoved``
    rather than overwrite what they did. Without ``seen`` (a form that does
    not send it), ``wanted`` is set. ``low_stock_at`` is the product's low-stock
    mark once the edit is saved: setting the stock to it or below mails the
    vendor as a sale would (``fell``).
    """
    # Orders take stock with UPDATE … WHERE stock >= n: this lock waits for
    # them and holds them off until the edit commits.
    db.session.refresh(product, with_for_update=True)
    if seen is not None and wanted in (seen, product.stock):
        return
    if seen is not None and product.stock != seen:
        raise StockMoved(seen, product.stock, wanted)
    holding = held([product.id]).get(product.id, 0)
    free_before = product.stock - holding
    fell(product.id, low_stock_at, product.stock, wanted)
    product.stock = wanted
    _cut_holds(product, holding)
    shown.updated(db.session, Product, product.vendor_id, product.available,
                  free=(free_before, wanted - min(holding, wanted)))


def _cut_holds(product: Product, holding: int) -> None:
    """Stock set below what live carts hold: the newest holds give way first, and keep
    what they had asked for (``cut_from``) so that their carts can say so."""
    excess = holding - product.stock
    if excess <= 0:
        return
    lines = db.session.scalars(
        _holding(select(CartLine).where(CartLine.product_id == product.id))
        .order_by(CartLine.changed_at.desc(), CartLine.id.desc()),
        holds_now(None),
    )
    for line in lines:
        if excess <= 0:
            break
        cut = min(line.quantity, excess)
        line.cut_from = line.cut_from or line.quantity
        line.quantity -= cut
        excess -= cut

