"""Where an order's time goes: places orders through the app (no server) and prints a breakdown.

Runs on its own PostgreSQL database and Redis db with the production settings,
on a store of 50 products with plenty of stock, one order of one unit of a
random product per request (as the benchmark's "place order" row does), or a
first "Add" to a new cart with ``--cart``. Prints the time per request, the
SQL statements it ran with their time (statement by statement, commits
apart), and the functions that took the most time under cProfile.

Usage: .venv/bin/python scripts/profile_order.py [--orders 300] [--cart] [--dump FILE]
       valgrind --tool=callgrind .venv/bin/python scripts/profile_order.py --plain 120 [--cart]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import re
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "dukaan_profile"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--cart", action="store_true", help="profile a first Add to the cart instead")
    parser.add_argument("--plain", type=int, metavar="N",
                        help="only run N requests after the warm-up, nothing measured: for valgrind's callgrind "
                             "(the instructions of N=120 less those of N=20 are 100 requests')")
    parser.add_argument("--dump", metavar="FILE", help="also write the cProfile stats to FILE (for pstats or snakeviz)")
    options = parser.parse_args()

    from profiling import production_on_fresh_database
    from sqlalchemy import event

    production_on_fresh_database(DATABASE, 11)
    from flask_migrate import upgrade

    from dukaan import accounts, create_app, products
    from dukaan.extensions import cache, db
    from dukaan.products import Details

    app = create_app()
    with app.app_context():
        upgrade()
        cache.clear()
        vendor = accounts.create_vendor("profile", "Profile Store", "profile-pass-1")
        added = [products.add(vendor, Details(f"Product {index}", Decimal("99.00"), None, ""), 1_000_000)
                 for index in range(50)]
        db.session.commit()
        ids = [product.id for product in added]

    statements: dict[str, list[float]] = defaultdict(list)
    started: dict[int, float] = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        started[id(cursor)] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        statements[_shape(statement)].append(time.perf_counter() - started.pop(id(cursor)))

    if options.plain is None:
        event.listen(_engine(app), "before_cursor_execute", before)
        event.listen(_engine(app), "after_cursor_execute", after)

    client = app.test_client()
    path = "/order/profile/cart" if options.cart else "/order/profile"

    def request():
        product = random.choice(ids)
        if options.cart:
            client.delete_cookie("cart", path="/order/profile")
            response = client.post(path, data={"product_id": str(product), "quantity": "1"})
            assert response.status_code == 200, response.status_code
        else:
            response = client.post(path, data={"name": "Sale Day", "phone": "9876543210",
                                               "address": "1 Bench Road, Pune", f"qty-{product}": "1"})
            assert response.status_code == 303, response.status_code

    for _ in range(20):  # warm-up: templates compiled, pools filled
        request()
    if options.plain is not None:
        for _ in range(options.plain):
            request()
        return 0
    # First the plain time (no profiler, no statement timing beyond the events' own cost).
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(options.orders):
        request()
    plain = (time.perf_counter() - began) / options.orders * 1000
    plain_cpu = (time.process_time() - cpu) / options.orders * 1000
    statements.clear()
    # Timed by this process's CPU: what PostgreSQL does meanwhile (and waiting for it) is not counted.
    profile = cProfile.Profile(time.process_time)
    began = time.perf_counter()
    profile.enable()
    for _ in range(options.orders):
        request()
    profile.disable()
    wall = time.perf_counter() - began

    what = "first Add to a new cart" if options.cart else "order of one unit"
    print(f"{options.orders} requests ({what}), one at a time: {plain:.2f} ms each without the profiler "
          f"({1000 / plain:.0f}/s in one thread), of which {plain_cpu:.2f} ms of this process's CPU; "
          f"{wall / options.orders * 1000:.2f} ms with the profiler\n")
    print("| SQL statement | per request | ms each | ms per request |")
    print("|---|---:|---:|---:|")
    total_sql = 0.0
    for shape, times in sorted(statements.items(), key=lambda item: -sum(item[1])):
        per_request = len(times) / options.orders
        ms = sum(times) / options.orders * 1000
        total_sql += ms
        print(f"| {shape[:90]} | {per_request:.1f} | {sum(times) / len(times) * 1000:.3f} | {ms:.3f} |")
    print(f"\nSQL (statements, without commits): {total_sql:.2f} ms of "
          f"{wall / options.orders * 1000:.2f} ms per request\n")
    if options.dump:
        profile.dump_stats(options.dump)
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(r"dukaan|flask_wtf|flask_login|wtforms", 30)
    return 0


def _engine(app):
    from dukaan.extensions import db

    with app.app_context():
        return db.engine


def _shape(statement: str) -> str:
    shape = re.sub(r"\s+", " ", statement).strip()
    shape = re.sub(r"\(%\(\w+\)s(, %\(\w+\)s)*\)", "(…)", shape)
    return re.sub(r"%\(\w+\)s", "?", shape)


if __name__ == "__main__":
    sys.exit(main())
