"""What metrics and logs cost a request, measured in this process, without a server.

Calls the app's WSGI callable directly, as gunicorn would, for a few paths, on an
app with the request observer (request id, metrics in multiprocess mode, one
JSON log line written to a file) and one without it (``OBSERVE_REQUESTS=off``).
Rounds alternate between the two so that a busy machine hurts both alike; the
median round's CPU time per request is reported.

Usage (the database must hold the demo store: `flask db upgrade && flask seed-demo`):
    DATABASE_URL=… REDIS_URL=… .venv/bin/python scripts/bench_observability.py [--requests N] [--rounds N]
"""

from __future__ import annotations

import argparse
import atexit
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATHS = ("/livez", "/order/demo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per path, app and round")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    # As gunicorn.conf.py sets it up: before prometheus_client is first imported.
    folder = tempfile.mkdtemp(prefix="dukaan-bench-metrics-")
    atexit.register(shutil.rmtree, folder, True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    os.environ.setdefault("LOG_FORMAT", "json")
    from config import from_environment
    from dukaan import create_app
    from dukaan.ops import logs

    def app_with(observe: bool):
        config = from_environment()
        config.OBSERVE_REQUESTS = observe
        config.STOREFRONT_PAGE_TRUST_SECONDS = 0.1
        return create_app(config)

    observed, bare = app_with(True), app_with(False)
    log_file = open(os.devnull, "w")  # noqa: SIM115 (kept open for the run)
    for handler in observed.logger.handlers:  # the "dukaan" logger's, shared by both apps
        if isinstance(handler, logs._Handler):
            handler.setStream(log_file)

    def environ(path: str) -> dict:
        return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1",
                "HTTP_ACCEPT_ENCODING": "gzip", "HTTP_X_REQUEST_ID": "0123456789abcdef0123456789abcdef"}

    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    def per_request(wsgi, path: str) -> float:
        """CPU time per request in µs: what other processes on the machine do counts less."""
        started = time.process_time()
        for _ in range(args.requests):
            body = wsgi(environ(path), start_response)
            for _chunk in body:
                pass
            getattr(body, "close", lambda: None)()
        return (time.process_time() - started) / args.requests * 1e6

    for path in PATHS:  # warm: templates compiled, the page in the process's memo
        per_request(observed, path)
        per_request(bare, path)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{args.rounds} rounds of {args.requests} requests per path and app, alternating; "
          "CPU time per request, median round (and the median of the rounds' differences):")
    for path in PATHS:
        on, off, added = [], [], []
        for _ in range(args.rounds):
            off.append(per_request(bare, path))
            on.append(per_request(observed, path))
            added.append(on[-1] - off[-1])
        without, difference = statistics.median(off), statistics.median(added)
        print(f"  {path:<14} without {without:7.1f} µs   with {statistics.median(on):7.1f} µs   "
              f"added {difference:5.1f} µs ({difference / without * 100:4.1f} %)")
    print(f"machine: load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
