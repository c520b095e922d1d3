"""What every request costs in the app: each route's time per request, split by who spends it.

Calls the WSGI app directly (no server, no network), with the production
settings on its own PostgreSQL database and Redis db, on the demo store, for
the routes a sale day brings to gunicorn; and a bare Flask "hello" under the
same Python, as the floor. For each route it prints the microseconds per
request and, from cProfile, how they split between the layers that run on every
request (the WSGI middlewares, Flask and Werkzeug, Flask-Login, CSRF,
Flask-Limiter, the session interface, logging, metrics) and the route's own work
(templates, SQL, Redis). cProfile slows Python down evenly, so the split is a
share of the measured time, not cProfile's own totals.

With ``--layers`` it also times each route through each WSGI layer alone (the
request observer, the process memo, the security headers, ProxyFix, Flask): what
peeling one layer off saves.

Usage: .venv/bin/python scripts/profile_requests.py [--requests 2000] [--only TEXT] [--top N] [--layers]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "dukaan_profile_requests"

# Where a function lives -> the layer it counts for (first match wins).
LAYERS = (
    ("dukaan/ops/requests", "request id, access log, metrics (middleware)"),
    ("dukaan/ops/logs", "logging"),
    ("logging/", "logging"),
    ("dukaan/ops/metrics", "metrics"),
    ("prometheus_client", "metrics"),
    ("werkzeug/middleware/proxy_fix", "ProxyFix"),
    ("flask_login", "Flask-Login"),
    ("dukaan/sessions", "session interface"),
    ("flask/sessions", "session interface"),
    ("itsdangerous", "session interface"),
    ("flask_wtf", "CSRF"),
    ("flask_limiter", "Flask-Limiter"),
    ("limits/", "Flask-Limiter"),
    ("apiflask", "APIFlask"),
    ("marshmallow", "APIFlask"),
    ("webargs", "APIFlask"),
    ("jinja2", "templates"),
    ("sqlalchemy", "SQL"),
    ("psycopg2", "SQL"),
    ("redis", "Redis"),
    ("flask_caching", "Redis"),
    ("dukaan/", "Dukaan's own code"),
    ("werkzeug", "Flask and Werkzeug"),
    ("flask/", "Flask and Werkzeug"),
    ("site-packages", "other libraries"),
)


def layer_of(filename: str, name: str) -> str:
    if filename == "~":  # a built-in: C code, named by what it belongs to
        if "psycopg2" in name:
            return "SQL"
        if "socket" in name or "select" in name or "poll" in name:
            return "waiting on a socket (SQL, Redis)"
        return "Python's built-ins"
    for fragment, layer in LAYERS:
        if fragment in filename:
            return layer
    return "Python's library"


def routes(product_id: int, token: str) -> list[tuple[str, str, str, dict]]:
    """(name, method, path, headers) for each kind of request on a sale day."""
    return [
        ("/livez", "GET", "/livez", {}),
        ("store page (hit in this process)", "GET", "/order/demo", {"Accept-Encoding": "gzip"}),
        ("product page (hit)", "GET", f"/order/demo/p/{product_id}", {"Accept-Encoding": "gzip"}),
        ("running total", "GET", f"/order/demo/total?qty-{product_id}=2", {}),
        ("cart (empty)", "GET", "/order/demo/cart", {}),
        ("API products (20)", "GET", "/api/v1/stores/demo/products?per_page=20", {}),
        ("dashboard orders (logged in)", "GET", "/dashboard/orders", {"Cookie": token, "HX-Request": "true"}),
    ]


def environ_for(method: str, path: str, headers: dict) -> dict:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=path, method=method, headers=headers,
                             environ_base={"REMOTE_ADDR": "127.0.0.1"})
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app, environ: dict) -> int:
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(int(line[:3]))

    body = app(dict(environ), start_response)
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return status[0]


def per_request(app, environ: dict, n: int) -> float:
    """Microseconds per request, best of three runs of ``n``."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            call(app, environ)
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def layers(app) -> list[tuple[str, object]]:
    """(name, WSGI callable) of each middleware around Flask, outermost first, then Flask's own."""
    found = []
    wsgi_app = app.wsgi_app
    while wsgi_app is not None:
        owner = getattr(wsgi_app, "__self__", None)
        found.append(("Flask" if owner is app else type(wsgi_app).__name__, wsgi_app))
        wsgi_app = None if owner is app else getattr(wsgi_app, "wsgi_app", None) or getattr(wsgi_app, "app", None)
    return found


def split(app, environ: dict, n: int, top: int) -> dict[str, float]:
    """Each layer's share of the time (self time of its functions, under cProfile); with
    ``top``, prints the functions that took most."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(n):
        call(app, environ)
    profile.disable()
    stats = pstats.Stats(profile, stream=io.StringIO())
    shares: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        shares[layer_of(filename, name)] += tottime
    total = sum(shares.values()) or 1.0
    if top:
        listing = io.StringIO()
        pstats.Stats(profile, stream=listing).sort_stats("tottime").print_stats(top)
        print(listing.getvalue().split("ncalls", 1)[-1])
    return {layer: seconds / total for layer, seconds in shares.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only", help="profile only routes whose name contains this")
    parser.add_argument("--top", type=int, default=0, help="also print each route's N costliest functions")
    parser.add_argument("--layers", action="store_true", help="also time each route from each WSGI layer in")
    options = parser.parse_args()

    from profiling import production_on_fresh_database
    from sqlalchemy import select, text

    admin = production_on_fresh_database(DATABASE, 10, PROXY_COUNT="1", LOG_LEVEL="WARNING")
    import logging

    from flask import Flask
    from flask_migrate import upgrade

    from dukaan import create_app
    from dukaan.extensions import cache, db
    from dukaan.models import Product

    app = create_app()
    # The access log is written as in production (JSON lines to a stream), here to nothing.
    for handler in app.logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    with app.app_context():
        upgrade()
        cache.clear()
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["seed-demo"])
    assert seeded.exit_code == 0, seeded.output
    with app.app_context():
        product_id = db.session.scalar(select(Product.id).order_by(Product.id))
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    logged_in = client.post("/login", data={"username": "demo", "password": "demo1234", "csrf_token": csrf})
    assert logged_in.status_code == 303, logged_in.status_code
    session_cookie = client.get_cookie("session")
    token = f"session={session_cookie.value}"

    hello = Flask("hello")
    hello.add_url_rule("/", "hello", lambda: "Hello, World!")
    floor = per_request(hello.wsgi_app, environ_for("GET", "/", {}), options.requests)
    print(f"bare Flask hello: {floor:.0f} µs per request (in-process, no server)\n")

    rows = []
    for name, method, path, headers in routes(product_id, token):
        if options.only and options.only not in name:
            continue
        environ = environ_for(method, path, headers)
        statuses = {call(app.wsgi_app, environ) for _ in range(50)}
        assert statuses <= {200, 204}, (name, statuses)
        micros = per_request(app.wsgi_app, environ, options.requests)
        if options.layers:
            print(f"--- {name}, from each WSGI layer in (µs per request)")
            for layer, wsgi_app in layers(app):
                print(f"  {layer:<24} {per_request(wsgi_app, environ, options.requests):>6.1f}")
        if options.top:
            print(f"--- {name}")
        shares = split(app.wsgi_app, environ, max(200, options.requests // 4), options.top)
        rows.append((name, micros, shares))

    print(f"{'route':<34} {'µs/req':>7} {'× hello':>8}  where the time goes (µs per request)")
    for name, micros, shares in rows:
        parts = ", ".join(f"{layer} {share * micros:.0f}"
                          for layer, share in sorted(shares.items(), key=lambda kv: -kv[1]) if share * micros >= 3)
        print(f"{name:<34} {micros:>7.0f} {micros / floor:>8.1f}  {parts}")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
