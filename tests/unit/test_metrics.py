"""Metrics summed over processes (prometheus_client's multiprocess mode, as gunicorn runs it),
the settings of /metrics and the log, and gunicorn's hooks that keep the metrics folder."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

import config
from dukaan import replica
from dukaan.ops import metrics

ROOT = Path(__file__).resolve().parents[2]

# One worker's requests: what a gunicorn process would count.
WORKER = """
from dukaan.ops import metrics
for _ in range({requests}):
    metrics.observe_request("GET", "/order/<slug>", 200, 0.003)
metrics.cache_lookup("page", "hit")
metrics.order_placed()
metrics.DB_IN_USE.inc()
"""


def _worker(folder: Path, requests: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    process = subprocess.run([sys.executable, "-c", WORKER.format(requests=requests)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == 0, process.stderr


def _collected(folder: Path) -> dict[tuple, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples}


def test_two_processes_writing_to_one_folder_are_summed(tmp_path):
    _worker(tmp_path, 3)
    _worker(tmp_path, 4)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2, "each process writes files of its own"
    seen = _collected(tmp_path)
    route = (("method", "GET"), ("route", "/order/<slug>"), ("status", "200"))
    assert seen[("dukaan_http_requests_total", route)] == 7
    timed = (("method", "GET"), ("route", "/order/<slug>"))
    assert seen[("dukaan_http_request_duration_seconds_count", timed)] == 7
    bucket = "dukaan_http_request_duration_seconds_bucket"
    assert seen[(bucket, tuple(sorted(timed + (("le", "0.005"),))))] == 7
    assert seen[(bucket, tuple(sorted(timed + (("le", "0.0025"),))))] == 0
    assert seen[("dukaan_cache_lookups_total", (("layer", "page"), ("result", "hit")))] == 2
    assert seen[("dukaan_orders_placed_total", ())] == 2
    assert seen[("dukaan_db_connections_in_use", ())] == 2


def test_gunicorn_keeps_the_counts_of_a_dead_worker_but_not_its_live_gauges(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("DUKAAN_METRICS_DIR_MADE", raising=False)
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    (tmp_path / "counter_999999.db").write_bytes(b"left from the last run")
    hooks["on_starting"](None)
    assert not list(tmp_path.glob("*.db")), "a new server starts from an empty folder"
    _worker(tmp_path, 2)
    _worker(tmp_path, 5)
    first = sorted(tmp_path.glob("gauge_livesum_*.db"))[0]
    dead = type("Worker", (), {"pid": int(first.stem.rsplit("_", 1)[1])})()
    hooks["child_exit"](None, dead)
    seen = _collected(tmp_path)
    assert seen[("dukaan_db_connections_in_use", ())] == 1, "only the live worker's connections"
    route = (("method", "GET"), ("route", "/order/<slug>"), ("status", "200"))
    assert seen[("dukaan_http_requests_total", route)] == 7, "a counter never goes back"
    hooks["on_exit"](None)
    assert tmp_path.exists(), "a folder the operator named is theirs to keep"


def test_gunicorn_makes_and_removes_a_folder_of_its_own(monkeypatch, tmp_path):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("DUKAAN_METRICS_DIR_MADE", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    try:
        folder = Path(hooks["metrics_dir"])
        assert folder.parent == tmp_path and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
        hooks["on_starting"](None)
        assert folder.is_dir()
        hooks["on_exit"](None)
        assert not folder.exists()
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        os.environ.pop("DUKAAN_METRICS_DIR_MADE", None)


@pytest.mark.parametrize("log_format, env, access_log", [
    ("json", {"DUKAAN_ENV": "production"}, None),
    ("text", {}, "-"),
    ("json", {"LOG_FORMAT": "json", "GUNICORN_ACCESS_LOG": "/tmp/x.log"}, "/tmp/x.log"),
])
def test_gunicorn_logs_as_the_app_does(monkeypatch, tmp_path, log_format, env, access_log):
    for name in ("DUKAAN_ENV", "LOG_FORMAT", "GUNICORN_ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert hooks["log_format"] == log_format
    assert hooks["accesslog"] == access_log, "the app logs each request itself in JSON"
    assert ("logger_class" in hooks) == (log_format == "json")


def test_a_worker_freezes_what_loading_the_app_made(monkeypatch, tmp_path):
    import gc

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() > 0, "the app's objects are left out of collections"
    finally:
        gc.unfreeze()


def test_observed_requests_need_no_lock_after_the_first(monkeypatch):
    metrics.observe_request("GET", "/livez", 200, 0.0001)
    monkeypatch.setattr(metrics, "_children_lock", None)  # a second use would fail on it
    metrics.observe_request("GET", "/livez", 200, 0.0001)


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", True), ("::1", True), ("10.1.2.3", True), ("172.20.0.5", True), ("192.168.1.9", True),
    ("::ffff:127.0.0.1", True), ("203.0.113.5", False), ("172.32.0.1", False), ("2001:db8::1", False),
    ("", False), (None, False), ("not-an-address", False),
])
def test_who_may_read_the_metrics_by_default(address, allowed):
    networks = metrics.allowed_networks(config.PRIVATE_NETWORKS)
    assert metrics.client_allowed(address, networks) is allowed


def test_metrics_networks_and_log_format_are_checked_at_start(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8, everywhere")
    with pytest.raises(config.ConfigError, match="METRICS_ALLOWED_NETWORKS"):
        config.DevelopmentConfig()
    monkeypatch.delenv("METRICS_ALLOWED_NETWORKS")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(config.ConfigError, match="LOG_FORMAT"):
        config.DevelopmentConfig()


def test_production_logs_json_and_a_laptop_text(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setenv("SECRET_KEY", "x9Kq2LmP4vR7tY1wZ3bN6cF8hJ0dS5gA")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert config.ProductionConfig().LOG_FORMAT == "json"
    assert config.DevelopmentConfig().LOG_FORMAT == "text"
    monkeypatch.setenv("LOG_FORMAT", "text")
    assert config.ProductionConfig().LOG_FORMAT == "text"


def test_gunicorn_writes_its_own_lines_as_json(monkeypatch, tmp_path):
    import json

    from gunicorn.config import Config

    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    logger = hooks["logger_class"](cfg)
    logger.info("Booting worker with pid: %s", 42)
    try:
        raise ValueError("worker failed")
    except ValueError:
        logger.exception("Exception in worker process")
    for handler in logger.error_log.handlers:
        handler.flush()
    lines = [json.loads(line) for line in (tmp_path / "error.log").read_text().splitlines()]
    assert [(ln["level"], ln["logger"], ln["message"]) for ln in lines] == [
        ("INFO", "gunicorn.error", "Booting worker with pid: 42"),
        ("ERROR", "gunicorn.error", "Exception in worker process"),
    ]
    assert "ValueError: worker failed" in lines[1]["exc_info"] and lines[0]["time"].endswith("+00:00")
    for handler in logger.error_log.handlers:
        handler.close()


@pytest.mark.parametrize(("statement", "kind"), [
    ("SELECT products.id FROM products WHERE products.vendor_id = %(vendor_id)s", "read"),
    ("  select updated_at, deleted from orders", "read"),
    ("WITH held AS (SELECT 1) SELECT * FROM held", "read"),
    ("SELECT pg_last_wal_replay_lsn()", "read"),
    (replica.WRITTEN.text, "position"),
    (replica.REPLAYED.text, "position"),
    (replica.STANDING.text, "position"),
    ("SELECT id FROM products WHERE id = ANY(%(ids)s) FOR UPDATE", "write"),
    ("SELECT id FROM vendors WHERE id = 1 FOR NO KEY UPDATE", "write"),
    ("SELECT id FROM outbox FOR UPDATE SKIP LOCKED", "write"),
    ("SELECT 1 FROM carts FOR SHARE", "write"),
    ("WITH gone AS (DELETE FROM cart_lines RETURNING 1) SELECT count(*) FROM gone", "write"),
    ("UPDATE products SET stock = stock - 1", "write"),
    ("INSERT INTO orders (ref) VALUES (%(ref)s) RETURNING orders.id", "write"),
    ("BEGIN", "write"),
])
def test_a_statement_is_a_read_only_when_it_writes_and_locks_nothing(statement, kind):
    assert metrics.statement_kind(statement) == kind
