"""The stock after a load test: ``snapshot FILE`` before it, ``verify FILE`` after.

``verify`` holds when no product of the store has negative stock, and each
product's stock went down by exactly the units of the orders placed since the
snapshot (the load test cancels nothing and sets no stock). Reads DATABASE_URL;
the store is LOADTEST_STORE (demo). Exit 1 when a check fails. With
DATABASE_REPLICA_URL it also prints how the table scans split between the
primary and the replica during the run, by table, and the primary's share of
the scans that were reads only.

Reads only, as far as the statistics views tell (``pg_stat_user_tables``, per
table): every scan on the replica is a read (a hot standby runs no writes, and
its views count its own scans). On the primary, a write scans too: an UPDATE
or DELETE finds its rows, an insert checks each foreign key with a scan of the
table it points to, a delete cascades into the tables that point to it, and a
locking read (FOR UPDATE) is a write's. So a table's scans on the primary are
counted as reads only when, during the run, no row of it was written, no table
whose foreign key points to it had rows inserted or updated, no table it points
to had rows deleted, and it is not among the tables the sale day's writes lock
without writing (``LOCKED``). Updates of a row pointed to scan nothing else: every
foreign key here points to an ``id``, which the app never changes. The views
cannot split the other tables' scans, so the primary's share of read scans is
given as a range: at least its scans of the tables only read (against all of the
replica's), at most every scan it ran. A scan is a table read by one statement
(a correlated subquery per product counts once a product), not a statement.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
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
# Each table's scans a server ran (sequential and by index), and the rows written to it: the
# statistics views count a server's own, so on a replica they are the reads it served.
TABLES = text("""
    SELECT relname, sum(seq_scan + coalesce(idx_scan, 0)), sum(n_tup_ins), sum(n_tup_upd), sum(n_tup_del)
    FROM pg_stat_user_tables GROUP BY relname
""")
# (the table whose foreign key it is, the table it points to)
FOREIGN_KEYS = text("""
    SELECT DISTINCT t.relname, r.relname FROM pg_constraint k
    JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
    WHERE k.contype = 'f'
""")
# Rows the sale day's writes lock, or update on a condition that may match none, whether or
# not the run then writes them (loadtest/locustfile.py's mix): products (a hold, checkout:
# inventory), carts (a hold), vendors (the foreign keys' checks of a new order or cart lock
# its store's row FOR KEY SHARE), outbox (the relay's FOR UPDATE SKIP LOCKED).
LOCKED = frozenset({"products", "carts", "vendors", "outbox"})
# A backend's counts reach the views within a second of it going idle (PostgreSQL 15 flushes
# at most every second; ten when the flush had to wait for a lock).
STATS_SETTLE_SECONDS = 2.0

# table -> [scans, rows inserted, updated, deleted]
Counts = dict[str, list[int]]


def tables() -> dict[str, Counts]:
    """Each server's counts by table so far: the primary and, with DATABASE_REPLICA_URL, the replica."""
    found = {}
    for server, variable in (("primary", "DATABASE_URL"), ("replica", "DATABASE_REPLICA_URL")):
        if os.environ.get(variable):
            engine = create_engine(database_url(os.environ[variable]))
            with engine.connect() as conn:
                found[server] = {name: [int(n) for n in counts] for name, *counts in conn.execute(TABLES)}
            engine.dispose()
    return found


def settled_tables() -> dict[str, Counts]:
    time.sleep(STATS_SETTLE_SECONDS)
    return tables()


def foreign_keys() -> list[tuple[str, str]]:
    engine = create_engine(database_url(os.environ["DATABASE_URL"]))
    with engine.connect() as conn:
        found = [(table, target) for table, target in conn.execute(FOREIGN_KEYS)]
    engine.dispose()
    return found


def during(now: Counts, before: Counts) -> Counts:
    """The counts of the run: ``now`` less ``before`` (a table new since counts from 0)."""
    return {name: [n - b for n, b in zip(counts, before.get(name, [0] * len(counts)), strict=True)]
            for name, counts in now.items()}


def only_read(primary: Counts, keys: list[tuple[str, str]], locked: frozenset[str] = LOCKED) -> set[str]:
    """The tables whose scans on the primary during the run were all reads (the module's docstring)."""
    reached = set(locked)
    for name, (_scans, inserted, updated, deleted) in primary.items():
        if inserted or updated or deleted:
            reached.add(name)
    for table, target in keys:
        _scans, inserted, updated, deleted = primary.get(table, [0, 0, 0, 0])
        if inserted or updated:
            reached.add(target)  # each new or changed key is checked in the table it points to
        if primary.get(target, [0, 0, 0, 0])[3]:
            reached.add(table)  # a delete there cascades here, or is checked against this table
    return set(primary) - reached


def statements() -> dict[str, float]:
    """The statements the stack's app servers sent so far ("primary read", "replica read", …),
    summed over them, from their ``/metrics`` (``dukaan_db_statements_total``)."""
    counted: dict[str, float] = {}
    for port in os.environ.get("STACK_APP_PORTS", "8001 8002").split():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                page = response.read().decode()
        except OSError as error:
            print(f"loadtest: the app on port {port} gave no metrics ({error}); its statements are not counted")
            continue
        for family in text_string_to_metric_families(page):
            if family.name == "dukaan_db_statements":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        key = f"{sample.labels['server']} {sample.labels['kind']}"
                        counted[key] = counted.get(key, 0.0) + sample.value
    return counted


def statements_report(now: dict[str, float], before: dict[str, float]) -> str:
    ran = {key: int(value - before.get(key, 0.0)) for key, value in now.items()}
    primary, replica = ran.get("primary read", 0), ran.get("replica read", 0)
    asked = ran.get("primary position", 0), ran.get("replica position", 0)
    return (f"read statements during the run (the app's count): primary {primary:,}, replica {replica:,} "
            f"(the primary's share {share(primary, replica):.1%}); writes and locking reads on the primary "
            f"{ran.get('primary write', 0):,}; WAL positions asked (read-your-writes, no table): primary "
            f"{asked[0]:,}, replica {asked[1]:,} (counted as reads, the primary's share would be "
            f"{share(primary + asked[0], replica + asked[1]):.1%})")


def share(part: int, rest: int) -> float:
    return part / max(1, part + rest)


def split_report(primary: Counts, replica: Counts, keys: list[tuple[str, str]]) -> list[str]:
    """What the run's scans say about reads on the primary and the replica, as lines to print."""
    ran_primary = sum(counts[0] for counts in primary.values())
    ran_replica = sum(counts[0] for counts in replica.values())
    read = only_read(primary, keys)
    lines = [f"table scans during the run: primary {ran_primary:,}, replica {ran_replica:,} "
             f"(the primary's share {share(ran_primary, ran_replica):.1%}, writes included)",
             "by table: primary / replica scans (the primary's share); reads only, or also written:"]
    for name in sorted(set(primary) | set(replica)):
        here, there = primary.get(name, [0])[0], replica.get(name, [0])[0]
        if here or there:
            ratio = f"({share(here, there):.1%})"
            lines.append(f"  {name:<18} {here:>10,} / {there:>10,}  {ratio:>8}  "
                         + ("reads only" if name in read else "also written"))
    certain = sum(primary[name][0] for name in read)
    lines.append(f"reads only: the primary's share is at least {share(certain, ran_replica):.1%} "
                 f"(its {certain:,} scans of the tables only read, against all the replica's) and at most "
                 f"{share(ran_primary, ran_replica):.1%} (every scan it ran taken for a read)")
    return lines


def main() -> int:
    action, path = sys.argv[1], Path(sys.argv[2])
    store = os.environ.get("LOADTEST_STORE", "demo")
    replica = bool(os.environ.get("DATABASE_REPLICA_URL"))
    # This script's own queries are no part of the run: the counts are taken after them before
    # it and before them after it, once the last counts have reached the views.
    counted = settled_tables() if replica and action == "verify" else {}
    engine = create_engine(database_url(os.environ["DATABASE_URL"]))
    with engine.connect() as conn:
        stock = {row.id: (row.name, row.stock) for row in conn.execute(STOCK, {"store": store})}
        if action == "snapshot":
            last = conn.scalar(LAST_ORDER)
            conn.close()
            engine.dispose()
            path.write_text(json.dumps({"last_order": last, "stock": {str(k): v[1] for k, v in stock.items()},
                                        "tables": settled_tables() if replica else {},
                                        "statements": statements()}))
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
    print(f"loadtest: {statements_report(statements(), before.get('statements', {}))}")
    if "replica" in counted:
        was = before.get("tables", {})
        ran = {server: during(now, was.get(server, {})) for server, now in counted.items()}
        for line in split_report(ran["primary"], ran["replica"], foreign_keys()):
            print(f"loadtest: {line}")
    for problem in problems:
        print(f"loadtest: FAILED: {problem}")
    print("loadtest: stock checks " + ("failed" if problems else "held: nothing oversold, every order's units match"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
