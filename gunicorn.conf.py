"""gunicorn settings, read from the environment (the same in Compose and the native stack)."""

import glob
import multiprocessing
import os
import shutil
import tempfile

env = os.environ.get

bind = env("GUNICORN_BIND", "0.0.0.0:8000")
# The worker model, chosen by measurement (scripts/bench_workers.py; README, "The worker
# model"): sync workers, 2 × cores + 1 of them. Every request is short and nginx buffers slow
# clients, so a thread has little wait to overlap, and threads cost more in switching (one GIL
# per process) than they save: on 2 cores gthread served the sale-day mix at about sync ×5's
# rate with 1.5-2 times its p99, and /livez's p99 beyond 1.5 times the bare Flask hello's (the
# target; sync ×5 1.36). Fewer workers (cores + 1) served the mix's reads faster, but
# orders fell from 13 to 10.5 % of /livez: an order waits on its commit's WAL flush, and the
# extra workers keep the cores busy meanwhile. More than one thread makes gunicorn run gthread.
worker_class = env("GUNICORN_WORKER_CLASS", "sync")
workers = int(env("GUNICORN_WORKERS", str(multiprocessing.cpu_count() * 2 + 1)))
threads = int(env("GUNICORN_THREADS", "1"))
timeout = int(env("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(env("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(env("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then, staggered, to bound any slow leak. A new worker imports the
# app again (1.5 s of a core): every 20,000 requests that was 75 µs a request, a sixth of
# /livez's whole cost; every 250,000 it is 6 µs (README, "The worker model").
max_requests = int(env("GUNICORN_MAX_REQUESTS", "250000"))
max_requests_jitter = max_requests // 10

# The app writes one line per request itself (dukaan.ops.logs): with JSON logs gunicorn's
# own access log stays off unless it is asked for.
log_format = env("LOG_FORMAT") or ("json" if env("DUKAAN_ENV") == "production" else "text")
accesslog = env("GUNICORN_ACCESS_LOG", None if log_format == "json" else "-")
errorlog = env("GUNICORN_ERROR_LOG", "-")
loglevel = env("GUNICORN_LOG_LEVEL", "info")
# %(L)s is the request time in seconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
forwarded_allow_ips = env("FORWARDED_ALLOW_IPS", "127.0.0.1")

# (GUNICORN_PID itself is gunicorn's own, for re-exec.)
pidfile = env("GUNICORN_PIDFILE") or None
# Several instances on one host must not share gunicorn's control socket.
control_socket_disable = env("GUNICORN_CONTROL_SOCKET") is None
if not control_socket_disable:
    control_socket = env("GUNICORN_CONTROL_SOCKET")

# Metrics (dukaan.ops.metrics): each worker writes its counts to files in one folder per
# gunicorn instance, and /metrics on any worker sums them. The folder must be empty at
# start; a dead worker's live gauges (connections in use) are dropped, its counts kept.
# Without PROMETHEUS_MULTIPROC_DIR a folder of this master's own, removed when it exits
# (the config is read again on a reload: the marker keeps the same folder).
if not env("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(tempfile.gettempdir(), f"dukaan-metrics-{os.getpid()}")
    os.environ["DUKAAN_METRICS_DIR_MADE"] = "1"
metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    os.makedirs(metrics_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(metrics_dir, "*.db")):
        os.remove(stale)


def on_exit(server):
    if env("DUKAAN_METRICS_DIR_MADE"):
        shutil.rmtree(metrics_dir, ignore_errors=True)


def post_worker_init(worker):
    """The worker has loaded the app: what it made (modules, the app, its routes and caches)
    lives as long as the worker. Frozen, it is left out of every garbage collection: a full
    collection took 78 ms (its 145,000 objects), a wait for every request queued behind it,
    and now takes 0.1 ms (README, "The worker model")."""
    import gc

    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)


if log_format == "json":
    import json
    import logging
    from datetime import datetime, timezone

    from gunicorn.glogging import Logger

    class JsonLines(logging.Formatter):
        """gunicorn's own lines (start, worker exits) in the fields of the app's (dukaan.ops.logs)."""

        def format(self, record):
            line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                    "level": record.levelname, "logger": record.name, "message": record.getMessage()}
            if record.exc_info:
                line["exc_info"] = self.formatException(record.exc_info)
            return json.dumps(line, default=str, ensure_ascii=False)

    class JsonLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonLines())

    logger_class = JsonLogger
