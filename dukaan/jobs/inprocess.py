"""The embedded jobs backend: a bounded pool of threads in this process.

One scheduler thread holds the jobs that wait (a delay or a retry) and hands
them to a pool of ``JOBS_THREADS`` workers when they are due; both are made
on first use, never one thread per job. At most ``JOBS_QUEUE_LIMIT`` jobs are
outstanding: past that a job is refused with an error in the log. When the
process exits, jobs still waiting run at once in the exiting thread (for a
few seconds at most); what cannot run is logged by name and arguments.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from ..ops.logs import REQUEST_ID
from . import JOBS, Retry

log = logging.getLogger(__name__)

# At exit, how long waiting jobs may take in all before the rest are given up.
EXIT_SECONDS = 5.0


@dataclass(order=True)
class Waiting:
    due: float
    seq: int
    name: str = field(compare=False)
    args: dict[str, Any] = field(compare=False)
    key: str | None = field(compare=False)
    # The request that asked for it: the job's log lines carry its id.
    request_id: str | None = field(compare=False, default=None)


class InProcessJobs:
    def __init__(self, app: Flask, threads: int, limit: int) -> None:
        self.app = app
        self.threads = threads
        self.limit = limit
        self.lock = threading.Condition()
        self.waiting: list[Waiting] = []  # a heap by due time
        self.keys: set[str] = set()  # of jobs waiting to start
        self.outstanding = 0  # waiting, queued or running
        self.seq = itertools.count()
        self.pool: ThreadPoolExecutor | None = None
        self.scheduler: threading.Thread | None = None
        self.closed = False
        _BACKENDS.add(self)

    # --- what the seam calls --------------------------------------------------

    def enqueue(self, name: str, args: dict[str, Any], delay: float = 0, key: str | None = None,
                request_id: str | None = None) -> bool:
        """Take the job; False if it was refused (logged), True if taken or already waiting under ``key``.
        It logs under ``request_id``, or the id of the request running now."""
        with self.lock:
            if key is not None and key in self.keys:
                return True
            if self.closed or self.outstanding >= self.limit:
                why = "the process is exiting" if self.closed else f"{self.outstanding} jobs are outstanding"
                log.error("job %s%r refused: %s", name, args, why)
                return False
            self.outstanding += 1
            if key is not None:
                self.keys.add(key)
            heapq.heappush(self.waiting, Waiting(time.monotonic() + delay, next(self.seq), name, args, key,
                                                 request_id or REQUEST_ID.get()))
            self._start()
            self.lock.notify()
        return True

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        """The jobs not finished yet that wait for their time (not those queued or running)."""
        with self.lock:
            return [(w.name, w.args) for w in sorted(self.waiting)]

    def idle(self) -> bool:
        """True when no job waits, is queued or runs."""
        with self.lock:
            return self.outstanding == 0

    def join(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for every job to finish; True if they did."""
        deadline = time.monotonic() + seconds
        while not self.idle():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def drop_waiting(self) -> None:
        """Forget the jobs that wait (a test's way to stop retries that cannot succeed)."""
        with self.lock:
            self.outstanding -= len(self.waiting)
            self.waiting.clear()
            self.keys.clear()

    def shutdown(self, seconds: float = EXIT_SECONDS) -> None:
        """Run what waits now, within ``seconds``; log what could not run."""
        with self.lock:
            self.closed = True
            due, self.waiting = sorted(self.waiting), []
            self.keys.clear()
            self.lock.notify_all()
        deadline = time.monotonic() + seconds
        for item in due:
            if time.monotonic() < deadline:
                self._run(item, final=True)
            else:
                log.error("job %s%r lost: the process exited before it ran", item.name, item.args)
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=False)

    # --- inside ---------------------------------------------------------------

    def _start(self) -> None:
        if self.scheduler is None:
            self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="dukaan-job")
            self.scheduler = threading.Thread(target=self._schedule, name="dukaan-jobs", daemon=True)
            self.scheduler.start()

    def _schedule(self) -> None:
        while True:
            with self.lock:
                while not self.closed and (not self.waiting or self.waiting[0].due > time.monotonic()):
                    timeout = self.waiting[0].due - time.monotonic() if self.waiting else None
                    self.lock.wait(timeout)
                if self.closed:
                    return
                item = heapq.heappop(self.waiting)
                if item.key is not None:
                    self.keys.discard(item.key)
            try:
                self.pool.submit(self._run, item)
            except RuntimeError:  # the interpreter is exiting: leave it to shutdown()
                with self.lock:
                    heapq.heappush(self.waiting, item)
                return

    def _run(self, item: Waiting, final: bool = False) -> None:
        retry = None
        asked_by = REQUEST_ID.set(item.request_id)
        try:
            with self.app.app_context():
                JOBS[item.name](**item.args)
        except Retry as wanted:
            retry = wanted
        except Exception:
            log.exception("job %s%r failed", item.name, item.args)
        finally:
            REQUEST_ID.reset(asked_by)
        with self.lock:
            self.outstanding -= 1
        if retry is not None:
            if final:
                log.error("job %s%r lost: it wanted a retry as the process exited", item.name, item.args)
            else:
                asked_by = REQUEST_ID.set(item.request_id)  # the retry is the same request's
                try:
                    self.enqueue(item.name, dict(item.args, **retry.changes), delay=retry.after, key=item.key)
                finally:
                    REQUEST_ID.reset(asked_by)


_BACKENDS: weakref.WeakSet[InProcessJobs] = weakref.WeakSet()


@atexit.register
def _exit() -> None:
    for backend in list(_BACKENDS):
        if not backend.closed and not backend.idle():
            backend.shutdown()
