"""The stock after a load test: ``snapshot FILE`` before it, ``verify FILE`` after.

``verify`` holds when no product of the store has negative stock, and each
product's stock went down by exactly the units of the orders placed since the
snapshot (the load test cancels nothing and sets no stock). Reads DATABASE_URL;
the store is LOADTEST_STORE (demo). Exit 1 when a check fails. With
DATABASE_REPLICA_URL it also prints how the table scans split between the
primary and the replica during the run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import database_url  # noqa: E402

STOCK = text("""
    SELECT p.id, p.name, p.stock FROM products p JOIN vendors v ON v.id = p.vendor_id
    WHERE v.username = :store ORDER BY p.id
""")
ORDERED_SINCE = text("""
    SELECT l.product_id, sum(l.quantity) AS units, count(DISTINCT o.id) AS orders
    FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN vendors v ON v.id = o.vendor_id
    WHERE v.username = :store AND o.id > :last_order
    GROUP BY l.product_id
""")
LAST_ORDER = text("SELECT coalesce(max(o.id), 0) FROM orders o")
# Every table scan a server ran (sequential and by index): the statistics views count a
# server's own, so on a replica they are the reads it served.
SCANS = text("SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables")


def scans() -> dict[str, int]:
    """Table scans so far on the primary and, with DATABASE_REPLICA_URL, the replica."""
    found = {}
    for server, variable in (("primary", "DATABASE_URL"), ("replica", "DATABASE_REPLICA_URL")):
        if os.environ.get(variable):
            engine = create_engine(database_url(os.environ[variable]))
            with engine.connect() as conn:
                found[server] = int(conn.scalar(SCANS))
            engine.dispose()
    return found


def main() -> int:
    action, path = sys.argv[1], Path(sys.argv[2])
    store = os.environ.get("LOADTEST_STORE", "demo")
    engine = create_engine(database_url(os.environ["DATABASE_URL"]))
    with engine.connect() as conn:
        stock = {row.id: (row.name, row.stock) for row in conn.execute(STOCK, {"store": store})}
        if action == "snapshot":
            last = conn.scalar(LAST_ORDER)
            path.write_text(json.dumps({"last_order": last, "stock": {str(k): v[1] for k, v in stock.items()},
                                        "scans": scans()}))
            return 0
        before = json.loads(path.read_text())
        ordered = {row.product_id: row.units for row in conn.execute(
            ORDERED_SINCE, {"store": store, "last_order": before["last_order"]})}
        orders = conn.scalar(text("SELECT count(*) FROM orders WHERE id > :last"), {"last": before["last_order"]})
    problems = []
    for product_id, (name, now) in stock.items():
        was = before["stock"].get(str(product_id))
        if now < 0:
            problems.append(f"{name}: stock {now} (oversold)")
        if was is not None and was - now != ordered.get(product_id, 0):
            units = ordered.get(product_id, 0)
            problems.append(f"{name}: stock went from {was} to {now} but {units} units were ordered")
    print(f"loadtest: {orders} orders placed, {sum(ordered.values())} units; "
          f"{sum(1 for _, s in stock.values() if s == 0)} of {len(stock)} products sold out")
    ran = {server: count - before.get("scans", {}).get(server, 0) for server, count in scans().items()}
    if "replica" in ran:
        # The primary's count includes the scans of writes (an order locks its rows by index).
        share = ran["primary"] / max(1, ran["primary"] + ran["replica"])
        print(f"loadtest: table scans during the run: primary {ran['primary']:,}, replica {ran['replica']:,} "
              f"(the primary's share {share:.1%}, writes included)")
    for problem in problems:
        print(f"loadtest: FAILED: {problem}")
    print("loadtest: stock checks " + ("failed" if problems else "held: nothing oversold, every order's units match"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
