"""The production topology, for real: nginx in front of two gunicorn instances,
on the PostgreSQL and Redis of this machine, started by ``scripts/stack``.

Each load is bounded in requests and time and goes to 127.0.0.1 only. The
figures (sent, failed, by status) are printed; run with ``-s`` to see them
as they come, or read them in the captured output of a failure.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from helpers import FIGURES, IN_CI, PG_URL, join_all

ROOT = Path(__file__).resolve().parents[2]
PORT = 18080
APP_PORTS = (18001, 18002)
BASE = f"http://127.0.0.1:{PORT}"
STACK_DB = "dukaan_stack_test"
STACK_REDIS_DB = 14
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _can_run_stack() -> str | None:
    if shutil.which("nginx") is None and os.geteuid() != 0:
        return "nginx is not installed and installing it needs root"
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """``scripts/stack up`` with its own ports, database and Redis db; down afterwards."""
    reason = _can_run_stack()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    stack_dir = tmp_path_factory.mktemp("stack")
    env = dict(
        os.environ,
        STACK_DIR=str(stack_dir),
        STACK_PORT=str(PORT),
        STACK_APP_PORTS=" ".join(map(str, APP_PORTS)),
        DATABASE_URL=PG_URL.rsplit("/", 1)[0] + "/" + STACK_DB,
        REDIS_URL=f"redis://127.0.0.1:6379/{STACK_REDIS_DB}",
        # As behind the README's TLS load balancer (the test balancer below); requests
        # straight to nginx carry one entry of each X-Forwarded-*, which the app ignores.
        PROXY_COUNT="2",
    )
    _redis().flushdb()
    up = subprocess.run([str(ROOT / "scripts/stack"), "up"], env=env, capture_output=True,
                        text=True, timeout=300)
    print(up.stdout[-2000:], up.stderr[-2000:])
    assert up.returncode == 0, f"scripts/stack up failed:\n{up.stdout}\n{up.stderr}"
    assert f"http://127.0.0.1:{PORT}/" in up.stdout
    yield Stack(stack_dir, env)
    down = subprocess.run([str(ROOT / "scripts/stack"), "down"], env=env, capture_output=True,
                          text=True, timeout=120)
    print(down.stdout, down.stderr)
    _ensure_redis()
    _ensure_postgres()


class Stack:
    def __init__(self, directory: Path, env: dict):
        self.dir = directory
        self.env = env

    def pid(self, port: int) -> int:
        return int((self.dir / f"gunicorn-{port}.pid").read_text())

    def access_lines(self) -> list[dict]:
        """The app's own line for each request it answered (JSON, as in production: gunicorn's
        access log is off), from every gunicorn's output."""
        lines = []
        for port in APP_PORTS:
            for line in (self.dir / "logs" / f"gunicorn-{port}-stdout.log").read_text().splitlines():
                record = json.loads(line) if line.startswith("{") else {}
                if record.get("logger") == "dukaan.access":
                    lines.append(record)
        return lines

    def bypass(self) -> dict:
        """Headers with which a request skips nginx's storefront cache and reaches the app."""
        return {"X-Cache-Bypass": self.cache_key()}

    def refresh(self) -> dict:
        """Headers with which a request skips nginx's storefront cache and stores what it gets."""
        return {"X-Cache-Refresh": self.cache_key()}

    def cache_key(self) -> str:
        return (self.dir / "cache_refresh_key").read_text().strip()

    def cached_file(self, path: str, encoding: str) -> Path:
        """Where nginx keeps its ``encoding`` copy of ``path`` (levels=1:2, keyed by the URI and encoding)."""
        digest = hashlib.md5(f"{path}:{encoding}".encode()).hexdigest()
        return self.dir / "cache" / digest[-1] / digest[-3:-1] / digest

    def up(self) -> None:
        result = subprocess.run([str(ROOT / "scripts/stack"), "up"], env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        # nginx remembers a failed server for a few seconds: wait until the app answers again.
        _wait(lambda: all(requests.get(f"{BASE}/livez").status_code == 200 for _ in range(4)), 15,
              "nginx to reach the app again")


def _redis():
    return redis_lib.Redis(host="127.0.0.1", port=6379, db=STACK_REDIS_DB, socket_timeout=2)


def _redis_up() -> bool:
    try:
        return _redis().ping()
    except redis_lib.RedisError:
        return False


def _ensure_redis() -> None:
    if not _redis_up():
        subprocess.run(REDIS_START, shell=True, check=True)
        _wait(_redis_up, 10, "Redis to start")


def _postgres_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0


def _ensure_postgres() -> None:
    if not _postgres_up():
        cluster = os.listdir("/etc/postgresql")[0]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start"],
                       check=True)
        _wait(_postgres_up, 30, "PostgreSQL to start")


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


class Load:
    """GETs on ``path`` from ``workers`` threads until ``total`` are sent or ``seconds`` pass."""

    def __init__(self, path: str, total: int = 1500, workers: int = 4, seconds: float = 60,
                 headers: dict | None = None):
        self.path, self.total, self.workers, self.seconds = path, total, workers, seconds
        self.headers = headers or {}
        self.statuses: collections.Counter = collections.Counter()
        self.sent = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def _next(self) -> bool:
        with self._lock:
            if self.sent >= self.total:
                return False
            self.sent += 1
            return True

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        while time.monotonic() < deadline and self._next():
            try:
                conn.request("GET", self.path, headers=self.headers)
                response = conn.getresponse()
                response.read()
                outcome = response.status
            except (OSError, http.client.HTTPException) as error:
                outcome = type(error).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            with self._lock:
                self.statuses[outcome] += 1
        conn.close()

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def wait_for(self, count: int) -> None:
        _wait(lambda: sum(self.statuses.values()) >= count, self.seconds, f"{count} responses")

    def join(self) -> Load:
        join_all(self._threads, self.seconds + 30)
        return self

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)

    def report(self, name: str) -> str:
        by_status = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items(), key=str))
        line = f"[{name}] sent {self.sent}, failed {self.failed} ({by_status})"
        FIGURES.append(line)
        return line


def _login(session: requests.Session, username="demo", password="demo1234") -> str:
    page = session.get(f"{BASE}/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    response = session.post(f"{BASE}/login", data={"username": username, "password": password,
                                                   "csrf_token": token}, allow_redirects=False)
    assert response.status_code == 303, response.text
    products = session.get(f"{BASE}/dashboard/products")
    return re.search(r'"X-CSRFToken": "([^"]+)"', products.text).group(1)


def _first_product(session: requests.Session) -> int:
    html = session.get(f"{BASE}/dashboard/products").text
    return int(re.search(r'<tr id="product-(\d+)"', html).group(1))


# --- through nginx --------------------------------------------------------------


def test_storefront_static_and_headers_through_nginx(stack):
    """The store page comes from the app with its security headers; static
    files come from nginx alone, with long-lived cache headers."""
    store = requests.get(f"{BASE}/order/demo")
    assert store.status_code == 200
    assert "Mango pickle" in store.text
    csp = store.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "frame-ancestors 'none'", "form-action 'self'"):
        assert directive in csp
    assert store.headers["X-Content-Type-Options"] == "nosniff"
    assert store.headers["Referrer-Policy"]
    assert "Set-Cookie" not in store.headers

    static_path = re.search(r'src="(/static/vendor/htmx-2\.0\.11\.min\.js\?v=\w+)"', store.text).group(1)
    static = _raw_get(static_path, {"Accept-Encoding": "gzip, deflate, br"})
    assert static.status == 200
    assert "immutable" in static.getheader("Cache-Control")
    assert static.getheader("Content-Encoding") == "gzip"
    # The gzipped twin made at start, sent whole (nginx's own gzip streams chunked, with no length).
    assert int(static.getheader("Content-Length")) == len(static.body)
    assert gzip.decompress(static.body) == (ROOT / "static/vendor/htmx-2.0.11.min.js").read_bytes()
    plain = _raw_get(static_path, {})
    assert plain.getheader("Content-Encoding") is None
    assert plain.body == (ROOT / "static/vendor/htmx-2.0.11.min.js").read_bytes()
    # The app logs a request just after answering it, under the id nginx gave it.
    request_id = requests.get(f"{BASE}/order/demo", headers=stack.bypass()).headers["X-Request-ID"]
    _wait(lambda: any(line["request_id"] == request_id for line in stack.access_lines()),
          5, "the store page in the app's log")
    logged = next(line for line in stack.access_lines() if line["request_id"] == request_id)
    assert (logged["route"], logged["vendor"], logged["status"]) == ("/order/<slug>", "demo", 200)
    assert not any((line["route"] or "").startswith("/static/") for line in stack.access_lines()), \
        "a static file reached gunicorn"


def test_the_api_through_nginx_from_registering_to_order_history(stack):
    """A mobile app's session through nginx: register, a token, the demo store's products
    (an ETag that nginx passes on: 304), a cart that holds, an order under an
    Idempotency-Key (a retry replays it) and the history."""
    api = f"{BASE}/api/v1"
    username = "app-" + secrets.token_hex(4)
    registered = requests.post(f"{api}/customers", json={
        "username": username, "password": "mango-lassi-2024", "name": "Asha Rao", "phone": "9876543210"})
    assert registered.status_code == 201, registered.text
    assert registered.headers["X-Request-ID"]
    token = requests.post(f"{api}/tokens", json={"username": username, "password": "mango-lassi-2024"})
    assert token.status_code == 201, token.text
    auth = {"Authorization": f"Bearer {token.json()['token']}"}
    listed = requests.get(f"{api}/stores/demo/products", params={"per_page": 5, "in_stock": "true"})
    assert listed.status_code == 200 and listed.json()["items"], listed.text
    again = requests.get(f"{api}/stores/demo/products", params={"per_page": 5, "in_stock": "true"},
                         headers={"If-None-Match": listed.headers["ETag"]})
    assert again.status_code == 304
    product = listed.json()["items"][0]
    cart = requests.post(f"{api}/carts", json={"store": "demo"}, headers=auth)
    assert cart.status_code == 201, cart.text
    held = requests.put(f"{api}/carts/{cart.json()['id']}/lines/{product['id']}", json={"quantity": 1}, headers=auth)
    assert held.status_code == 200, held.text
    body = {"store": "demo", "cart": cart.json()["id"], "address": "12 MG Road, Pune", "payment": "cod"}
    key = {"Idempotency-Key": secrets.token_hex(8)}
    placed = requests.post(f"{api}/orders", json=body, headers=auth | key)
    assert placed.status_code == 201, placed.text
    replayed = requests.post(f"{api}/orders", json=body, headers=auth | key)
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["ref"] == placed.json()["ref"]
    history = requests.get(f"{api}/orders", headers=auth)
    assert [order["ref"] for order in history.json()["items"]] == [placed.json()["ref"]]
    assert requests.get(f"{api}/orders").status_code == 401
    broken = requests.post(f"{api}/customers", data="{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code in (400, 422) and broken.headers["Content-Type"].startswith("application/json")


def test_session_cookie_flags(stack):
    response = requests.get(f"{BASE}/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_dashboard_flow_and_htmx_through_nginx(stack):
    """Log in, toggle a product off with htmx, see it leave the store, toggle it back."""
    session = requests.Session()
    token = _login(session)
    product_id = _first_product(session)
    hx = {"HX-Request": "true", "X-CSRFToken": token}
    item = f'id="item-{product_id}"'
    off = session.post(f"{BASE}/dashboard/products/{product_id}/availability",
                       data={"available": "no"}, headers=hx)
    assert off.status_code == 200
    assert off.text.lstrip().startswith(f'<tr id="product-{product_id}"')
    # Customers see a change within a second, through nginx's cache.
    _wait(lambda: item not in requests.get(f"{BASE}/order/demo").text, 1, "the product to leave the store")
    on = session.post(f"{BASE}/dashboard/products/{product_id}/availability",
                      data={"available": "yes"}, headers=hx)
    assert on.status_code == 200
    _wait(lambda: item in requests.get(f"{BASE}/order/demo").text, 1, "the product to come back")
    assert session.post(f"{BASE}/dashboard/products/{product_id}/availability",
                        data={"available": "yes"}, headers={"HX-Request": "true"}).status_code == 400


# --- faults ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_killing_one_web_server_under_load(stack, how):
    """Kill one of the two gunicorns in the middle of a load of storefront GETs.

    SIGTERM (a deploy, a scale-in) fails no GET: the instance finishes what it
    has and nginx sends the rest to the other. SIGKILL (a crash) can only cut
    off responses already under way on the dead instance, which no proxy can
    retry once their headers are out: at most one per thread it had.
    """
    # Past nginx's cache, so that every GET needs one of the two servers.
    load = Load("/order/demo", total=1500, headers=stack.bypass()).start()
    load.wait_for(300)
    victim = stack.pid(APP_PORTS[0])
    os.killpg(os.getpgid(victim), getattr(signal, how))
    load.join()
    load.report(f"one of two gunicorns killed with {how}")
    assert load.sent == 1500
    if how == "SIGTERM":
        assert load.failed == 0
    else:
        threads = int(stack.env.get("GUNICORN_THREADS", 4)) * int(stack.env.get("STACK_WORKERS", 2))
        assert load.failed <= threads
    _wait(lambda: not _alive(victim), 30, "the killed instance to exit")
    stack.up()  # bring it back for the tests after this one
    assert requests.get(f"http://127.0.0.1:{APP_PORTS[0]}/healthz").status_code == 200


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_redis_down_store_still_sells(stack):
    """Stop Redis under load: no failed GET, an edit still commits; caching resumes after."""
    session = requests.Session()
    token = _login(session)
    product_id = _first_product(session)
    hx = {"HX-Request": "true", "X-CSRFToken": token}
    requests.get(f"{BASE}/order/demo", headers=stack.bypass())
    assert _redis().keys("*storefront:demo")

    # Past nginx's cache: every GET is served by the app, from Redis until it stops.
    load = Load("/order/demo", total=1500, headers=stack.bypass()).start()
    load.wait_for(200)
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"])
    try:
        _wait(lambda: not _redis_up(), 10, "Redis to stop")
        edit = session.post(f"{BASE}/dashboard/products/{product_id}",
                            data={"name": "Edited while Redis was down", "price": "111.00",
                                  "mrp": "", "stock": "7", "description": ""}, headers=hx)
        assert edit.status_code == 200
        _wait(lambda: "Edited while Redis was down" in requests.get(f"{BASE}/order/demo").text, 1,
              "the edit to reach the store")
        load.join()
    finally:
        _ensure_redis()
    load.report("Redis stopped")
    assert load.failed == 0
    # Redis is empty after its restart; the next visit to the app fills it again.
    assert requests.get(f"{BASE}/order/demo", headers=stack.bypass()).status_code == 200
    _wait(lambda: bool(_redis().keys("*storefront:demo")), 10, "the storefront to be cached again")
    assert "Edited while Redis was down" in requests.get(f"{BASE}/order/demo").text


def test_postgres_restart_app_recovers(stack):
    """Restart PostgreSQL under the running app: once it is back, so is the app."""
    cluster = os.listdir("/etc/postgresql")[0]
    assert requests.get(f"{BASE}/healthz").status_code == 200
    restart = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main",
                              "restart"], capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stderr
    _ensure_postgres()
    started = time.monotonic()
    statuses = collections.Counter()

    def healthy() -> bool:
        status = requests.get(f"{BASE}/healthz").status_code
        statuses[status] += 1
        return status == 200

    _wait(healthy, 30, "the app to see PostgreSQL again")
    FIGURES.append(f"[PostgreSQL restarted] app healthy again after {time.monotonic() - started:.2f} s, "
                   f"health checks by status: {dict(statuses)}")
    session = requests.Session()
    _login(session)
    assert session.get(f"{BASE}/dashboard/orders").status_code == 200
    order = requests.post(f"{BASE}/order/demo", data={
        "name": "After restart", "phone": "9876543210", "address": "1 Loopback Lane",
        f"qty-{_first_product(session)}": "1"}, allow_redirects=False)
    assert order.status_code == 303



# --- the shared cache ------------------------------------------------------------


def test_storefront_is_served_from_nginx_and_revalidates_with_etag(stack):
    first = requests.get(f"{BASE}/order/demo")
    again = requests.get(f"{BASE}/order/demo")
    assert again.headers["X-Cache"] in ("HIT", "UPDATING", "REVALIDATED")
    assert again.text == first.text
    not_modified = requests.get(f"{BASE}/order/demo", headers={"If-None-Match": again.headers["ETag"]})
    assert not_modified.status_code == 304


def test_a_product_page_is_kept_by_nginx_and_follows_every_change(stack):
    """A product's page is cached like the store page: HITs from nginx, and a change (an
    edit, the product taken off the store) shows within a second."""
    session = requests.Session()
    token = _login(session)
    product = _add_product(session, token, "Page Pickle", 4)
    path = f"/order/demo/p/{product}"
    assert "<h1>Page Pickle</h1>" in requests.get(f"{BASE}{path}").text
    again = requests.get(f"{BASE}{path}")
    assert again.headers["X-Cache"] in ("HIT", "UPDATING", "REVALIDATED")
    hx = {"HX-Request": "true", "X-CSRFToken": token}

    def shown_within_a_second(what, change) -> float:
        sent = time.monotonic()
        change()
        while True:
            response = requests.get(f"{BASE}{path}")
            if what(response):
                return time.monotonic() - sent
            assert time.monotonic() - sent < 1.0, f"nginx still serves the old {path}"
            time.sleep(0.05)

    edited = shown_within_a_second(
        lambda r: "<h1>Page Pickle Deluxe</h1>" in r.text,
        lambda: session.post(f"{BASE}/dashboard/products/{product}", headers=hx, data={
            "name": "Page Pickle Deluxe", "price": "10.00", "mrp": "", "stock": "4", "description": ""}))
    gone = shown_within_a_second(
        lambda r: r.status_code == 404,
        lambda: session.post(f"{BASE}/dashboard/products/{product}/availability", headers=hx,
                             data={"available": "no"}))
    FIGURES.append(f"[product page through nginx] an edit showed after {edited:.2f} s, "
                   f"taking it off the store after {gone:.2f} s")
    time.sleep(1)  # the change's second refresh (0.4 s on) lands here, not in the next test


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_bypass_skips_the_cache_and_leaves_it_alone_refresh_replaces_it(stack, encoding):
    accept = {"Accept-Encoding": encoding}
    requests.get(f"{BASE}/order/demo", headers={**stack.refresh(), **accept})
    cached = stack.cached_file("/order/demo", encoding)
    before = cached.stat()
    for _ in range(3):
        bypassed = requests.get(f"{BASE}/order/demo", headers={**stack.bypass(), **accept})
        assert bypassed.status_code == 200
        assert bypassed.headers["X-Cache"] == "BYPASS"
    # nginx stores a response in a new file and renames it over the old one.
    assert cached.stat().st_ino == before.st_ino
    refreshed = requests.get(f"{BASE}/order/demo", headers={**stack.refresh(), **accept})
    assert refreshed.headers["X-Cache"] == "BYPASS"
    assert cached.stat().st_ino != before.st_ino
    wrong_key = requests.get(f"{BASE}/order/demo", headers={"X-Cache-Bypass": "guess", **accept})
    assert wrong_key.headers["X-Cache"] in ("HIT", "UPDATING", "REVALIDATED", "EXPIRED")


def _raw_get(path: str, headers: dict) -> http.client.HTTPResponse:
    """A GET whose body is read as sent (requests would decompress it)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_nginx_keeps_a_gzipped_and_a_plain_copy_and_compresses_nothing_itself(stack):
    plain = _raw_get("/order/demo", {})
    for accept in ("gzip, deflate, br, zstd", "gzip"):
        _raw_get("/order/demo", {"Accept-Encoding": accept})
        zipped = _raw_get("/order/demo", {"Accept-Encoding": accept})
        assert zipped.getheader("X-Cache") in ("HIT", "UPDATING", "REVALIDATED")
        assert zipped.getheader("Content-Encoding") == "gzip"
        # nginx's own gzip would stream the body chunked, without a length:
        # this is the app's gzipped page, stored as it came.
        assert int(zipped.getheader("Content-Length")) == len(zipped.body)
        assert gzip.decompress(zipped.body) == plain.body
    again = _raw_get("/order/demo", {})
    assert again.getheader("X-Cache") in ("HIT", "UPDATING", "REVALIDATED")
    assert again.getheader("Content-Encoding") is None
    assert again.body == plain.body


def test_store_stays_open_while_the_app_tier_is_down(stack):
    """Both gunicorns stopped: nginx keeps serving the last good storefront."""
    good = requests.get(f"{BASE}/order/demo")
    assert good.status_code == 200
    pids = [stack.pid(port) for port in APP_PORTS]
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    try:
        _wait(lambda: not any(_alive(pid) for pid in pids), 30, "both gunicorns to exit")
        time.sleep(6)  # past the entry's freshness: only stale-if-error can answer now
        down = requests.get(f"{BASE}/order/demo")
        assert down.status_code == 200
        assert down.headers["X-Cache"] == "STALE"
        assert down.text == good.text
        assert requests.get(f"{BASE}/dashboard/orders", allow_redirects=False).status_code == 502
        FIGURES.append("[app tier down] storefront still 200 from nginx (X-Cache: STALE); dashboard 502")
    finally:
        stack.up()


class Freshness:
    """Changes to one store while readers hammer it through nginx.

    Every response records when it started and what it showed; every change
    records when its request was sent (before its commit). Afterwards each
    response is checked against every change sent more than 1 s before it.
    """

    def __init__(self, slug: str):
        self.slug = slug
        self.changes: list[tuple[float, str, int]] = []  # (sent at, kind, subject)
        self.seen: list[tuple[float, int, frozenset, frozenset, frozenset, int, str]] = []
        self.done = threading.Event()

    def read(self, encoding: str) -> None:
        """Read the store until done, as a client taking ``encoding`` (gzip or identity)."""
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        deadline = time.monotonic() + 300
        while not self.done.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            conn.request("GET", f"/order/{self.slug}", headers={"Accept-Encoding": encoding})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200
            assert response.getheader("Content-Encoding", "identity") == encoding
            body = (gzip.decompress(body) if encoding == "gzip" else body).decode()
            fresh = [int(n) for n in re.findall(r"Fresh (\d+)", body)]
            self.seen.append((
                started,
                max(fresh, default=-1),
                frozenset(map(int, re.findall(r'id="item-(\d+)"', body))),
                frozenset(map(int, re.findall(r'name="qty-(\d+)"', body))),
                frozenset(map(int, re.findall(r"New (\d+)", body))),
                max((int(n) for n in re.findall(r'class="shelf-title">Shelf (\d+)<', body)), default=-1),
                response.getheader("X-Cache", "-"),
            ))
        conn.close()

    def stale_responses(self) -> tuple[int, int]:
        """(responses checked against at least one change, responses that missed one)."""
        changes = sorted(self.changes)
        checked = stale = 0
        at = 0
        fresh_at_least, shelf_at_least, hidden, sold_out, added = -1, -1, set(), set(), set()
        for started, fresh, items, buyable, news, shelf, _ in sorted(self.seen):
            while at < len(changes) and changes[at][0] + 1.0 < started:
                _, kind, subject = changes[at]
                if kind == "edit":
                    fresh_at_least = max(fresh_at_least, subject)
                elif kind == "toggle":
                    hidden.add(subject)
                elif kind == "sell-out":
                    sold_out.add(subject)
                elif kind == "category":
                    shelf_at_least = max(shelf_at_least, subject)
                else:
                    added.add(subject)
                at += 1
            if at == 0:
                continue
            checked += 1
            if (fresh < fresh_at_least or shelf < shelf_at_least or hidden & items or sold_out & buyable
                    or not added <= news):
                stale += 1
        return checked, stale


def _add_product(session, token, name, stock) -> int:
    response = session.post(f"{BASE}/dashboard/products", headers={"HX-Request": "true", "X-CSRFToken": token},
                            data={"name": name, "price": "10.00", "mrp": "", "stock": str(stock),
                                  "description": "", "available": "y"})
    assert response.status_code == 200, response.text
    return int(re.search(r'<tr id="product-(\d+)"', response.text.split("hx-swap-oob", 1)[1]).group(1))


def test_every_change_reaches_every_customer_within_a_second(stack):
    """200 changes (edits, toggles, new products, sell-outs, a category renamed) while two readers (one taking gzip,
    one not) hammer the store through nginx: no response started more than 1 s after
    a change's request was sent misses that change."""
    slug = f"fresh{int(time.time() * 1000) % 10**8}"
    session = requests.Session()
    page = session.get(f"{BASE}/signup")
    assert page.status_code == 200, (page.status_code, page.text[:500])
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    signed_up = session.post(f"{BASE}/signup", allow_redirects=False, data={
        "username": slug, "store_name": "Freshness Test", "password": "fresh-pass-1",
        "confirm": "fresh-pass-1", "csrf_token": csrf})
    assert signed_up.status_code == 303, signed_up.text
    token = re.search(r'"X-CSRFToken": "([^"]+)"', session.get(f"{BASE}/dashboard/products").text).group(1)
    hx = {"HX-Request": "true", "X-CSRFToken": token}
    edited = _add_product(session, token, "Fresh 0", 100)
    # The edited product sits in a category, renamed Shelf 1, 2, …: its section's heading.
    assert session.post(f"{BASE}/dashboard/categories", headers=hx, data={"name": "Shelf 0"}).status_code == 200
    shelf = int(re.search(r'<li id="category-(\d+)"', session.get(f"{BASE}/dashboard/categories").text).group(1))
    toggled = [_add_product(session, token, f"Toggle {i}", 5) for i in range(50)]
    selling = [_add_product(session, token, f"Last one {i}", 1) for i in range(50)]

    fresh = Freshness(slug)
    # A browser and a client that takes no gzip: nginx keeps a copy for each.
    readers = [threading.Thread(target=fresh.read, args=(encoding,), daemon=True) for encoding in ("gzip", "identity")]
    for reader in readers:
        reader.start()
    time.sleep(1)
    try:
        for i in range(200):
            kind, k = ("edit", "toggle", "new", "sell-out", "category")[i % 5], i // 5
            sent = time.monotonic()
            if kind == "edit":
                response = session.post(f"{BASE}/dashboard/products/{edited}", headers=hx, data={
                    "name": f"Fresh {i + 1}", "price": "10.00", "mrp": "", "stock": "100",
                    "description": "", "category_id": str(shelf)})
                subject = i + 1
            elif kind == "category":
                response = session.post(f"{BASE}/dashboard/categories/{shelf}", headers=hx,
                                        data={"name": f"Shelf {i + 1}"})
                subject = i + 1
            elif kind == "toggle":
                response = session.post(f"{BASE}/dashboard/products/{toggled[k]}/availability",
                                        headers=hx, data={"available": "no"})
                subject = toggled[k]
            elif kind == "new":
                response = session.post(f"{BASE}/dashboard/products", headers=hx, data={
                    "name": f"New {k}", "price": "5.00", "mrp": "", "stock": "5", "description": "",
                    "available": "y"})
                subject = k
            else:
                response = requests.post(f"{BASE}/order/{slug}", allow_redirects=False, data={
                    "name": "Fast Buyer", "phone": "9876543210", "address": "1 Sale Street",
                    f"qty-{selling[k]}": "1"})
                subject = selling[k]
            assert response.status_code in (200, 303), (kind, response.status_code, response.text[:300])
            fresh.changes.append((sent, kind, subject))
            time.sleep(0.02)
        time.sleep(1.5)
    finally:
        fresh.done.set()
        join_all(readers)
    checked, stale = fresh.stale_responses()
    caches = collections.Counter(seen[-1] for seen in fresh.seen)
    FIGURES.append(f"[freshness] {len(fresh.changes)} changes, {len(fresh.seen)} responses read through "
                   f"nginx ({dict(caches)}), {checked} checked against changes sent >1 s before them, "
                   f"{stale} stale")
    assert len(fresh.changes) == 200
    assert checked > 1000
    assert stale == 0

# Last: it spends this client's login budget for a minute.
def test_bad_logins_are_throttled(stack):
    statuses = collections.Counter(
        requests.post(f"{BASE}/login", data={"username": "demo", "password": "wrong"}).status_code
        for _ in range(20)
    )
    FIGURES.append(f"[login throttle] sent 20 bad logins, by status: {dict(statuses)}")
    assert statuses[429] >= 10
    page = requests.post(f"{BASE}/login", data={"username": "demo", "password": "wrong"})
    assert page.status_code == 429
    assert "Too many attempts" in page.text


# --- behind a TLS load balancer ----------------------------------------------------------------

BALANCER_PORT = 18085
BALANCER = f"http://127.0.0.1:{BALANCER_PORT}"
BALANCER_CONF = """
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # What an AWS load balancer that ends TLS on its port says.
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-Port {port};
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def balancer(stack, tmp_path_factory):
    """An nginx standing in for a load balancer that ends TLS, in front of the stack's nginx."""
    prefix = tmp_path_factory.mktemp("balancer")
    for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / folder).mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(BALANCER_CONF.format(prefix=prefix, port=BALANCER_PORT, upstream=PORT))
    started = subprocess.run(["nginx", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True,
                             timeout=30)
    assert started.returncode == 0, started.stderr
    _wait(lambda: requests.get(f"{BALANCER}/livez").status_code == 200, 10, "the balancer")
    yield BALANCER
    os.kill(int((prefix / "nginx.pid").read_text()), signal.SIGQUIT)


def test_behind_a_tls_balancer_orders_go_through_and_hsts_is_sent(stack, balancer):
    """Through two proxies the app sees the customer's https: a browser's order (Origin
    https://…, no Sec-Fetch-Site) is same-origin, and HSTS is sent. With nginx
    overwriting X-Forwarded-Proto the order was a 403 and HSTS never came."""
    page = requests.get(f"{balancer}/order/demo", headers=stack.bypass())
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    product = re.search(r'name="qty-(\d+)"', page.text).group(1)
    order = requests.post(f"{balancer}/order/demo", allow_redirects=False,
                          headers={"Origin": f"https://127.0.0.1:{BALANCER_PORT}"},
                          data={"name": "Meera", "phone": "9876543210", "address": "12 MG Road",
                                f"qty-{product}": "1"})
    assert order.status_code == 303, order.text[:500]
    assert order.headers["Location"].startswith("/order/demo/")
