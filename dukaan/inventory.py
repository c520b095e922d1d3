"""Every stock movement: orders take stock, cancellations put it back, vendors set it.

Nothing else writes ``Product.stock``. Orders and cancellations move it with
conditional ``UPDATE`` statements, so that no amount of concurrency sells a
unit twice or leaves stock below zero; each movement tells the store page's
invalidation what it did (``storefront_cache.shown``), as the ORM's flush
does for everything else. None of these functions commits: the caller's
transaction takes every movement or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import update

from .extensions import db
from .models import Product
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


class StockMoved(Exception):
    """Orders or cancellations changed a product's stock while its vendor was editing it."""

    def __init__(self, seen: int, now: int, wanted: int):
        self.seen, self.now, self.wanted = seen, now, wanted
        moved = f"{seen - now} sold" if now < seen else f"{now - seen} back from cancelled orders"
        super().__init__(f"Stock changed from {seen} to {now} while you were editing ({moved}). "
                         f"Save again to set it to {wanted}.")


def take(vendor_id: int, wanted: list[tuple[int, int]]) -> tuple[list[Taken], list[int]]:
    """Take ``wanted`` (product id, units), in product id order, from ``vendor_id``'s products on sale.

    Returns what was taken and the ids that could not be (gone, hidden or
    short): with any of those the caller must roll back. Rows are locked in id
    order, so two orders never wait on each other.
    """
    session = db.session
    taken, short = [], []
    for product_id, quantity in sorted(wanted):
        row = session.execute(
            update(products_table)
            .where(
                products_table.c.id == product_id,
                products_table.c.vendor_id == vendor_id,
                products_table.c.available,
                products_table.c.stock >= quantity,
            )
            .values(stock=products_table.c.stock - quantity)
            .returning(products_table.c.name, products_table.c.price, products_table.c.stock)
        ).one_or_none()
        if row is None:
            short.append(product_id)
            continue
        taken.append(Taken(product_id, quantity, row.name, row.price))
        shown.updated(session, Product, vendor_id, True, stock=(row.stock + quantity, row.stock))
    return taken, short


def put_back(vendor_id: int, lines: list[tuple[int | None, int]]) -> None:
    """Return ``lines`` (product id, units) of a cancelled order to stock; a deleted product's
    units (product id None) have nowhere to go."""
    session = db.session
    for product_id, quantity in sorted((pid, qty) for pid, qty in lines if pid is not None):
        row = session.execute(
            update(products_table)
            .where(products_table.c.id == product_id)
            .values(stock=products_table.c.stock + quantity)
            .returning(products_table.c.stock, products_table.c.available)
        ).one_or_none()
        if row is not None:
            shown.updated(session, Product, vendor_id, row.available,
                          stock=(row.stock - quantity, row.stock))


def receive(product: Product, units: int) -> None:
    """A new product's first stock."""
    product.stock = units


def set_stock(product: Product, wanted: int, seen: int | None) -> None:
    """Apply a vendor's stock edit to ``product``, with its row locked until the commit.

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
