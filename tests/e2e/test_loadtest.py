"""loadtest/locustfile.py runs headless against the app with the demo store, stops by itself,
and never loads a host off this machine. Locust runs in a process of its own (it patches the
standard library with gevent when imported)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from dukaan.extensions import db
from dukaan.models import Product

ROOT = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).parent / "locust"


def _locust(host: str, *args: str, seconds: int = 6, timeout: float = 60) -> subprocess.CompletedProcess:
    if not LOCUST.exists():
        pytest.skip("locust is not installed (requirements-dev.txt)")
    return subprocess.run([str(LOCUST), "-f", str(ROOT / "loadtest/locustfile.py"), "--headless", "--only-summary",
                           "-u", "6", "-r", "6", "-t", f"{seconds}s", "--stop-timeout", "3", "--host", host, *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_the_sale_day_runs_against_the_demo_store_and_stops_by_itself(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = _locust(f"http://127.0.0.1:{server.server_port}", seconds=8)
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout + result.stderr
    for kind in ("store page", "product page", "cart fragment", "add to cart", "Aggregated"):
        assert kind in summary, kind
    assert took < 40
    with app.app_context():
        assert db.session.query(Product).filter(Product.stock < 0).count() == 0


def test_the_request_cap_stops_the_run(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        result = subprocess.run(
            [str(LOCUST), "-f", str(ROOT / "loadtest/locustfile.py"), "--headless", "--only-summary",
             "-u", "6", "-r", "6", "-t", "60s", "--stop-timeout", "3", "--host",
             f"http://127.0.0.1:{server.server_port}"],
            capture_output=True, text=True, timeout=90, cwd=ROOT,
            env={**os.environ, "LOADTEST_MAX_REQUESTS": "30"})
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert "30 requests sent" in result.stdout + result.stderr
    assert took < 40, "stopped by the cap, not by the 60 s limit"


@pytest.mark.parametrize("host", ["http://example.invalid", "http://192.0.2.1.invalid:8080"])
def test_a_host_off_this_machine_is_refused(host):
    result = _locust(host, seconds=5, timeout=60)
    assert result.returncode != 0
    assert "refusing to load" in result.stdout + result.stderr
