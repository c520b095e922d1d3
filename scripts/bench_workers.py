"""Which gunicorn worker model serves a sale day best: each model on the same mix, side by side.

Builds the bench's native stack (scripts/bench.py: its database, Redis db and
ports) with ONE gunicorn behind nginx, once per worker model, and drives each
with the same sale-day mix through nginx at 50 connections (wrk and
scripts/wrk/mix.lua, every request reaching the app: store and product pages
with nginx's cache bypassed, the running total, the cart, adding to it,
checkout, an order page's poll, the vendor's orders list, the API's product
list). Prints, per model, requests a second, p50 and p99, cores busy and errors,
and ``/livez`` against the bench's bare Flask hello (gunicorn sync ×3), run by run.

For comparison only, the last rows put granian (a Rust HTTP server for Python,
requirements-dev.txt) in the gunicorn's place, with the same environment:
production runs gunicorn (the Dockerfile, issue 3).

Usage: .venv/bin/python scripts/bench_workers.py [--seconds 10] [--repeat 3] [--only TEXT]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402  (the bench's stack, data and wrk helpers)

CORES = os.cpu_count() or 1
# (name, worker class, workers, threads); the class "granian" is granian's WSGI server.
MODELS = [
    (f"sync, {CORES + 1} workers", "sync", CORES + 1, 1),
    (f"sync, {2 * CORES + 1} workers", "sync", 2 * CORES + 1, 1),
    (f"sync, {4 * CORES} workers", "sync", 4 * CORES, 1),
    (f"gthread, {CORES} workers × 4 threads", "gthread", CORES, 4),
    (f"gthread, {2 * CORES} workers × 2 threads", "gthread", 2 * CORES, 2),
    (f"gthread, {2 * CORES} workers × 4 threads", "gthread", 2 * CORES, 4),
    (f"gthread, {2 * CORES} workers × 8 threads", "gthread", 2 * CORES, 8),
    (f"granian (not gunicorn), {CORES} workers × 1 thread", "granian", CORES, 1),
    (f"granian (not gunicorn), {CORES} workers × 2 threads", "granian", CORES, 2),
]
# What reaches the app on a sale day, per 100 requests.
MIX = """\
25\tGET\t/order/{store}\t{bypass}
10\tGET\t/order/{store}/p/{{id}}\t{bypass}
20\tGET\t/order/{store}/total?qty-{{id}}=2\t
10\tGET\t/order/{store}/cart\t
8\tPOST\t/order/{store}/cart\t\tproduct_id={{id}}&quantity=1
2\tPOST\t/order/{store}\t\tname=Sale+Day&phone=9876543210&address=1+Bench+Road%2C+Pune&qty-{{id}}=1
10\tGET\t/order/{store}/{ref}\t
5\tGET\t/dashboard/orders\tHX-Request: true | Cookie: {cookie}
10\tGET\t/api/v1/stores/{store}/products?per_page=20\t
"""


def request(method: str, path: str, body: str = "", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", bench.PORT, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers={
            **({"Content-Type": "application/x-www-form-urlencoded"} if body else {}), **(headers or {})})
        response = conn.getresponse()
        return response, response.read().decode(errors="replace")
    finally:
        conn.close()


def login_cookie() -> str:
    """The bench vendor's session cookie (the Cookie header value)."""
    page, html = request("GET", "/login")
    first = page.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode({"username": bench.STORE, "password": "demo1234", "csrf_token": token})
    response, _ = request("POST", "/login", form, {"Cookie": first})
    assert response.status == 303, response.status
    return response.getheader("Set-Cookie").split(";", 1)[0]


def an_order_ref(product_id: int) -> str:
    form = f"name=Bench&phone=9876543210&address=1+Bench+Road&qty-{product_id}=1"
    response, _ = request("POST", f"/order/{bench.STORE}", form)
    assert response.status == 303, response.status
    return response.getheader("Location").rsplit("/", 1)[1]


def granian_in_place(port: str, workers: int, threads: int) -> None:
    """Put granian where the stack's gunicorn on ``port`` was, with that gunicorn's environment
    and its pid file (so that ``scripts/stack down`` stops it too)."""
    pidfile = ROOT / ".stack-bench" / f"gunicorn-{port}.pid"
    pid = int(pidfile.read_text())
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
                   if "=" in item)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            sys.exit(f"bench_workers: gunicorn {pid} did not stop")
        time.sleep(0.2)
    log = open(ROOT / ".stack-bench" / "logs" / f"granian-{port}.log", "w")  # noqa: SIM115 (the server's, while it runs)
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", port,
         "--workers", str(workers), "--blocking-threads", str(threads), "--runtime-mode", "st",
         "--no-access-log", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pidfile.write_text(f"{server.pid}\n")
    deadline = time.monotonic() + 30
    while True:
        try:
            if request("GET", "/livez")[0].status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            sys.exit(f"bench_workers: granian did not answer (see {log.name})")
        time.sleep(0.2)


def measure(wrk_bin: str, worker_class: str, workers: int, threads: int, options) -> dict:
    """One model on a stack and data of its own (the mix's orders and carts slow the next model's
    store pages down: measured on one database, whichever model came first won by a third): the
    mix's medians, and /livez beside the hello, run by run."""
    port = bench.APP_PORTS.split()[0]
    bench.fresh_data(50)
    ids = bench.on_sale_ids()
    if worker_class == "granian":
        bench.stack("up", extra={"STACK_APP_PORTS": port})
        granian_in_place(port, workers, threads)
    else:
        bench.stack("up", extra={"STACK_APP_PORTS": port, "GUNICORN_WORKER_CLASS": worker_class,
                                 "GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": str(threads)})
    try:
        mix = MIX.format(store=bench.STORE, bypass="%s: %s" % bench.bypass_header(),
                         ref=an_order_ref(ids[0]), cookie=login_cookie())
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as file:
            file.write(mix)
        script = ("mix.lua", [file.name, ",".join(map(str, ids))])
        bench.wrk(wrk_bin, "/", options.connections, 2, {}, script)  # warm-up
        figure = bench.median_run([bench.wrk(wrk_bin, "/", options.connections, options.seconds, {}, script)
                                   for _ in range(options.repeat)])
        os.unlink(file.name)
        bench.wrk(wrk_bin, "/livez", options.connections, 1, {})  # warm-up
        seconds = options.livez_seconds
        pairs = [(bench.wrk(wrk_bin, "/livez", options.connections, seconds, {}),
                  bench.wrk(wrk_bin, "/", options.connections, seconds, {}, None, bench.HELLO_PORT))
                 for _ in range(options.repeat)]
    finally:
        bench.stack("down")
    figure["livez_vs_hello"] = statistics.median(livez["rps"] / hello["rps"] for livez, hello in pairs)
    figure["livez_p99_vs_hello"] = statistics.median(livez["p99_ms"] / hello["p99_ms"] for livez, hello in pairs)
    figure["errors"] += sum(livez["errors"] for livez, _ in pairs)
    return figure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--livez-seconds", type=int, default=5)
    parser.add_argument("--only", help="measure only the models whose name has this")
    options = parser.parse_args()
    wrk_bin = bench.ensure_wrk()
    bench.stack("down")
    rows = []
    try:
        with bench.hello_server():  # the yardstick of /livez, beside the stack
            for name, worker_class, workers, threads in MODELS:
                if options.only and options.only not in name:
                    continue
                figure = measure(wrk_bin, worker_class, workers, threads, options)
                rows.append((name, figure))
                print(f"  {name:<34} {figure['rps']:>7.0f} req/s  p50 {figure['p50_ms']:.1f} ms  "
                      f"p99 {figure['p99_ms']:.1f} ms  cores {figure['cores']:.2f}  errors {figure['errors']}  "
                      f"/livez {figure['livez_vs_hello']:.2f}× the hello (p99 {figure['livez_p99_vs_hello']:.2f}×)")
    finally:
        bench.stack("down")
    print(f"\nThe sale-day mix at {options.connections} connections, one app server behind nginx, "
          f"{CORES} cores, medians of {options.repeat} runs of {options.seconds} s; /livez against the "
          f"{bench.HELLO}, medians of {options.repeat} pairs of {options.livez_seconds} s runs:\n")
    print("| worker model | req/s | p50 ms | p99 ms | cores busy | errors | /livez × hello | its p99 × hello's |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, figure in rows:
        print(f"| {name} | {figure['rps']:.0f} | {figure['p50_ms']:.1f} | {figure['p99_ms']:.1f} | "
              f"{figure['cores']:.2f} | {figure['errors']} | {figure['livez_vs_hello']:.2f} | "
              f"{figure['livez_p99_vs_hello']:.2f} |")
    return 0 if all(figure["errors"] == 0 for _, figure in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
