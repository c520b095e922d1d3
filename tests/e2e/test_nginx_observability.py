"""nginx from the repository's template in front of a stand-in app: it refuses /metrics to the
public, makes each request's id, hands it to the app, sends it back and logs it as JSON; a
search of the store page neither comes from its cache nor goes into it.

nginx runs on a free loopback port of its own for this module (no fixed port, no other
service touched); the stand-in app records what reached it.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from helpers import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _StandIn(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.seen.append((self.path, self.headers.get("X-Request-ID")))
        body = f"<p>from the app: {self.path}</p>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        if "q" in parse_qs(urlsplit(self.path).query):  # as the app marks a search's answer
            self.send_header("X-Accel-Expires", "0")
        # The app's own id for this request: nginx must send its own instead.
        self.send_header("X-Request-ID", "from-the-app-0000")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    binary = shutil.which("nginx")
    if binary is None:
        if IN_CI:
            pytest.fail("nginx is not installed (.ci/run installs it)")
        pytest.skip("nginx is not installed")
    prefix = tmp_path_factory.mktemp("nginx")
    for folder in ("logs", "tmp", "cache", "www/static"):
        (prefix / folder).mkdir(parents=True)
    (prefix / "www/static/app.css").write_text("body{}")
    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = _free_port()
    variables = {"DUKAAN_LISTEN": f"127.0.0.1:{port}",
                 "DUKAAN_UPSTREAM_SERVERS": f"server 127.0.0.1:{app.server_address[1]};",
                 "DUKAAN_STATIC_ROOT": str(prefix / "www"), "DUKAAN_CACHE_PATH": str(prefix / "cache"),
                 "DUKAAN_CACHE_REFRESH_KEY": "a-long-random-key", "DUKAAN_ACCESS_LOG": str(prefix / "logs/access.log"),
                 "DUKAAN_MEDIA_ROOT": str(prefix / "media")}
    config = (ROOT / "nginx/dukaan.conf.template").read_text()
    for name, value in variables.items():
        config = config.replace("${" + name + "}", value)
    (prefix / "dukaan.conf").write_text(config)
    main = (ROOT / "nginx/native.conf.template").read_text()
    # As scripts/stack does when run as root: workers that can reach the folders under /tmp.
    (prefix / "nginx.conf").write_text(("user root root;\n" if os.geteuid() == 0 else "") + main)
    subprocess.run([binary, "-p", str(prefix), "-c", "nginx.conf"], check=True, timeout=30)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"{base}/static/app.css", timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield {"base": base, "log": prefix / "logs/access.log"}
    pid = int((prefix / "nginx.pid").read_text())
    subprocess.run(["kill", "-QUIT", str(pid)], check=False)
    app.shutdown()
    app.server_close()


@pytest.mark.parametrize("path", ["/metrics", "/metrics?format=text", "//metrics", "/%6Detrics", "/./metrics"])
def test_nginx_refuses_metrics_to_the_public(nginx, path):
    _StandIn.seen.clear()
    response = requests.get(nginx["base"] + path, timeout=5)
    assert response.status_code == 404
    assert not _StandIn.seen, "the request reached the app"
    assert len(response.headers["X-Request-ID"]) == 32


def test_nginx_makes_the_request_id_and_hands_it_to_the_app(nginx):
    _StandIn.seen.clear()
    response = requests.get(nginx["base"] + "/dashboard/products",
                            headers={"X-Request-ID": "chosen-by-the-client"}, timeout=5)
    assert response.status_code == 200
    (path, handed), = _StandIn.seen
    sent_back = response.headers["X-Request-ID"]
    assert len(handed) == 32 and int(handed, 16) >= 0, "nginx's $request_id, not the client's"
    assert sent_back == handed, "one id, the app's log and the response alike"


def test_a_cached_store_page_carries_this_requests_id(nginx):
    first = requests.get(nginx["base"] + "/order/demo", timeout=5)
    second = requests.get(nginx["base"] + "/order/demo", timeout=5)
    assert second.headers["X-Cache"] == "HIT"
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert "from-the-app" not in second.headers["X-Request-ID"]


def test_static_files_carry_a_request_id(nginx):
    response = requests.get(nginx["base"] + "/static/app.css", timeout=5)
    assert response.status_code == 200 and len(response.headers["X-Request-ID"]) == 32


def test_nginx_logs_each_request_as_json_with_its_id(nginx):
    response = requests.get(nginx["base"] + "/order/demo?q=secret-words", timeout=5)
    request_id = response.headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in nginx["log"].read_text().splitlines()]
        mine = [line for line in lines if line["request_id"] == request_id]
        if mine:
            break
        time.sleep(0.05)
    (line,) = mine
    assert (line["method"], line["uri"], line["status"]) == ("GET", "/order/demo", 200)
    assert isinstance(line["duration"], float) and line["time"].startswith("20")
    assert "secret-words" not in json.dumps(line)


def _page(nginx, path):
    response = requests.get(nginx["base"] + path, timeout=5)
    assert response.status_code == 200
    return response.headers["X-Cache"], response.text


def test_a_search_skips_the_store_page_cache_and_never_replaces_it(nginx):
    """The cache key has no query string: a search stored there would be everyone's store page."""
    _page(nginx, "/order/searched")
    assert _page(nginx, "/order/searched") == ("HIT", "<p>from the app: /order/searched</p>")
    for query in ("q=mango", "q=0", "q=%00%27%25_", "x=1&q=pickle", "q=" + "z" * 1000):
        cache, body = _page(nginx, f"/order/searched?{query}")
        assert cache == "BYPASS" and body == f"<p>from the app: /order/searched?{query}</p>", query
        assert _page(nginx, "/order/searched") == ("HIT", "<p>from the app: /order/searched</p>"), query
    # An empty search is the store page, from the cache.
    assert _page(nginx, "/order/searched?q=")[0] == "HIT"


def test_a_search_before_any_visit_leaves_nothing_in_the_cache(nginx):
    for query in ("q=mango", "%71=mango", "Q=mango"):  # nginx reads an argument's name as the app does, or wider
        assert _page(nginx, f"/order/first-searched?{query}")[0] == "BYPASS", query
    assert _page(nginx, "/order/first-searched") == ("MISS", "<p>from the app: /order/first-searched</p>")
    assert _page(nginx, "/order/first-searched")[0] == "HIT"
