"""Prometheus metrics: what each process counts, and ``/metrics``, summed over a server's processes.

Under gunicorn every process writes its counts to its own files in
``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py names the folder, empties it
at start and drops a dead worker's live gauges), and ``/metrics`` on any of
them reads every file: one scrape of one gunicorn gives that whole server.
Without the variable (``flask run``, the tests) each process counts alone.

Store-wide figures (units held in carts, the outbox backlog) are read from
the database when Prometheus scrapes, not counted per request: one cheap
query each, every scrape interval.

``/metrics`` answers only clients in ``METRICS_ALLOWED_NETWORKS`` (loopback
and the private ranges by default), and nginx refuses it to the public.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator

from flask import Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from sqlalchemy.pool import Pool

from ..models.prepared import original
from ..replica import POSITIONS

log = logging.getLogger(__name__)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# A route the app has no rule for (a 404 or 405): one label value, never the raw path.
UNMATCHED = "(unmatched)"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "dukaan_http_requests_total",
    "Requests the app answered, by method, route template and status.",
    ["method", "route", "status"],
)
# Fine steps below 10 ms: a store page served from a process's memory takes well under 1 ms.
DURATION = Histogram(
    "dukaan_http_request_duration_seconds",
    "Time from a request reaching the app to its response, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE = Counter(
    "dukaan_cache_lookups_total",
    "Lookups in the app's caches, by layer (page: a process's whole store pages; catalogue: the "
    "store's entry in Redis; api_products: a process's API product pages) and result (hit, miss, "
    "error: the cache did not answer).",
    ["layer", "result"],
)
STATEMENTS = Counter(
    "dukaan_db_statements_total",
    "SQL statements the app sent, by server (primary, replica) and kind (read: a SELECT that "
    "locks nothing; position: where the servers stand in the WAL, for read-your-writes; write: "
    "anything else, locking reads included).",
    ["server", "kind"],
)
ORDERS = Counter("dukaan_orders_placed_total", "Orders placed (a retried order found again is not counted).")
DB_IN_USE = Gauge(
    "dukaan_db_connections_in_use",
    "Database connections checked out of the pools of the live processes.",
    multiprocess_mode="livesum",
)

_children: dict[tuple[str, str, str], tuple] = {}
_children_lock = threading.Lock()


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one answered request. A few microseconds: the label children are looked up once."""
    key = (method, route or UNMATCHED, str(status))
    children = _children.get(key)
    if children is None:
        with _children_lock:
            if method not in METHODS:
                key = ("OTHER", key[1], key[2])
            children = _children.setdefault(key, (REQUESTS.labels(*key), DURATION.labels(key[0], key[1])))
    children[0].inc()
    children[1].observe(seconds)


_cache_children: dict[tuple[str, str], Counter] = {}


def cache_lookup(layer: str, result: str) -> None:
    """Count a lookup in the cache ``layer``: ``result`` is "hit", "miss" or "error"."""
    child = _cache_children.get((layer, result))
    if child is None:
        child = _cache_children.setdefault((layer, result), CACHE.labels(layer, result))
    child.inc()


def order_placed() -> None:
    ORDERS.inc()


# --- the database pools ---------------------------------------------------------


def _checked_out(*_args) -> None:
    DB_IN_USE.inc()


def _checked_in(*_args) -> None:
    DB_IN_USE.dec()


def watch_pools() -> None:
    """Count connections in use in every pool of this process (once per process)."""
    if not event.contains(Pool, "checkout", _checked_out):
        event.listen(Pool, "checkout", _checked_out)
        event.listen(Pool, "checkin", _checked_in)


# --- the statements each server runs ----------------------------------------------

# A read: a SELECT (or a WITH that ends in one) that writes and locks nothing.
_READ = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)
_NOT_READ = re.compile(r"\bFOR\s+(NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b|\b(INSERT|UPDATE|DELETE)\b",
                       re.IGNORECASE)
# The app's statements are a few hundred texts: each is classified once.
_kinds: dict[str, str] = {}


def statement_kind(statement: str) -> str:
    """"read", "position" or "write" (see ``STATEMENTS``)."""
    kind = _kinds.get(statement)
    if kind is None:
        text = original(statement)  # what an EXECUTE of a prepared statement runs
        if text in POSITIONS:
            kind = "position"
        else:
            kind = "read" if _READ.match(text) and not _NOT_READ.search(text) else "write"
        if len(_kinds) < 10_000:
            _kinds[statement] = kind
    return kind


class _StatementCounter:
    """An engine's ``before_cursor_execute`` listener: counts its statements for ``server``."""

    def __init__(self, server: str) -> None:
        self.counters = {kind: STATEMENTS.labels(server, kind) for kind in ("read", "position", "write")}

    def __call__(self, _conn, _cursor, statement, *_args) -> None:
        self.counters[statement_kind(statement)].inc()


def count_statements(app: Flask) -> None:
    """Count the statements of each of ``app``'s engines: the replica's as the replica's, the
    rest (the primary's, the side connection's) as the primary's."""
    from ..extensions import db

    with app.app_context():
        engines = dict(db.engines)
    for bind, engine in engines.items():
        if not any(isinstance(fn, _StatementCounter) for fn in engine.dispatch.before_cursor_execute):
            server = "replica" if bind == "replica" else "primary"
            event.listen(engine, "before_cursor_execute", _StatementCounter(server))


# --- what the database says at scrape time -----------------------------------------


class StoreCollector:
    """Gauges read from the database when Prometheus scrapes: units held in live carts,
    the live carts, and the outbox backlog. The same on every server (take ``max``)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        from sqlalchemy import func, select

        from ..extensions import db
        from ..jobs import outbox
        from ..models import Cart, CartLine, utcnow

        try:
            with self.app.app_context():
                carts, units = db.session.execute(
                    select(func.count(func.distinct(Cart.id)), func.coalesce(func.sum(CartLine.quantity), 0))
                    .join(CartLine, CartLine.cart_id == Cart.id)
                    .where(Cart.expires_at > utcnow())
                ).one()
                backlog, age = outbox.backlog()
        except Exception:  # a scrape reports what it can; the database may be why it is needed
            log.warning("metrics: the database gauges could not be read", exc_info=True)
            yield GaugeMetricFamily("dukaan_database_gauges_up", "1 if the database gauges below were read.",
                                    value=0)
            return
        yield GaugeMetricFamily("dukaan_database_gauges_up", "1 if the database gauges below were read.", value=1)
        yield GaugeMetricFamily("dukaan_cart_holds_units", "Units held in carts whose hold has not lapsed.",
                                value=int(units))
        yield GaugeMetricFamily("dukaan_carts_live", "Carts with a hold that has not lapsed.", value=int(carts))
        yield GaugeMetricFamily("dukaan_outbox_backlog", "Jobs in the outbox not handed to the workers yet.",
                                value=backlog)
        yield GaugeMetricFamily("dukaan_outbox_oldest_seconds", "Age of the oldest job in the outbox (0: empty).",
                                value=age or 0.0)
        yield from self.replica()

    def replica(self) -> Iterator[Metric]:
        from .. import replica

        if not replica.configured(self.app):
            return
        with self.app.app_context():
            standing = replica.measure(self.app.config["REPLICA_MAX_LAG_SECONDS"])
        yield GaugeMetricFamily("dukaan_replica_up", "1 if the read replica answers and is not too far behind.",
                                value=int(standing.usable))
        if standing is not replica.DOWN:
            yield GaugeMetricFamily("dukaan_replica_lag_seconds", "How far the read replica is behind the primary.",
                                    value=standing.lag)


def exposition(app: Flask) -> bytes:
    """Every process's metrics (this one's alone without ``PROMETHEUS_MULTIPROC_DIR``), then the
    database gauges, in Prometheus text format."""
    if os.environ.get(MULTIPROC_DIR):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    store = CollectorRegistry(auto_describe=False)
    store.register(StoreCollector(app))
    return generate_latest(processes) + generate_latest(store)


def allowed_networks(spec: str | Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks in a comma-separated ``spec`` ("127.0.0.0/8, 10.0.0.0/8"); ValueError if one is malformed."""
    parts = spec.split(",") if isinstance(spec, str) else spec
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in parts if part.strip())


def client_allowed(address: str | None, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def register(app: Flask) -> None:
    """``/metrics``, the pool watch and, while requests are observed, the statements counted."""
    watch_pools()
    if app.config.get("OBSERVE_REQUESTS", True):
        count_statements(app)
    networks = allowed_networks(app.config["METRICS_ALLOWED_NETWORKS"])

    @app.get("/metrics")
    def metrics():
        """Prometheus text; a 404 to a client outside ``METRICS_ALLOWED_NETWORKS``."""
        if not client_allowed(request.remote_addr, networks):
            abort(404)
        return Response(exposition(current_app._get_current_object()), content_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})
