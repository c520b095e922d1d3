"""The jobs seam's in-process backend: after the commit, off the request, bounded, never silent."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from dukaan import jobs
from dukaan.jobs import JOBS, Retry
from dukaan.jobs.inprocess import InProcessJobs
from helpers import make_app

RAN: list[tuple[str, dict]] = []


@pytest.fixture
def recorded(monkeypatch):
    """Three test jobs: one that records its arguments, one that fails, one that retries twice."""
    RAN.clear()
    attempts = {"n": 0}

    def note(**args):
        RAN.append(("note", args))

    def broken(**args):
        raise ValueError("the job broke")

    def flaky(**args):
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise Retry(0.01, attempt=attempts["n"] + 1)
        RAN.append(("flaky", args))

    for name, function in (("test.note", note), ("test.broken", broken), ("test.flaky", flaky)):
        monkeypatch.setitem(JOBS, name, function)
    return RAN


@pytest.fixture
def backend(app):
    yield jobs.backend(app)
    jobs.backend(app).drop_waiting()


def test_enqueue_runs_the_job_in_the_background_with_an_app_context(app, backend, recorded):
    seen = []
    JOBS["test.where"] = lambda: seen.append((threading.current_thread().name, app.name))
    try:
        with app.app_context():
            jobs.enqueue("test.note", slug="ravi")
            jobs.enqueue("test.where")
        assert backend.join(5)
    finally:
        del JOBS["test.where"]
    assert recorded == [("note", {"slug": "ravi"})]
    assert seen and seen[0][0].startswith("dukaan-job")


def test_an_unknown_job_is_refused_at_once(app):
    with app.app_context(), pytest.raises(LookupError, match="no job is named 'test.nothing'"):
        jobs.enqueue("test.nothing")


def test_a_delayed_job_waits_its_time(app, backend, recorded):
    with app.app_context():
        jobs.enqueue("test.note", delay=1.0, n=1)
    assert backend.pending() == [("test.note", {"n": 1})]
    time.sleep(0.2)
    assert recorded == []
    assert backend.join(5)
    assert recorded == [("note", {"n": 1})]


def test_a_key_keeps_one_job_waiting(app, backend, recorded):
    with app.app_context():
        for n in range(3):
            jobs.enqueue("test.note", delay=60, key="same", n=n)
        jobs.enqueue("test.note", delay=60, key="other", n=3)
    assert backend.pending() == [("test.note", {"n": 0}), ("test.note", {"n": 3})]


def test_a_job_that_asks_to_retry_runs_again_with_its_changes(app, backend, recorded):
    with app.app_context():
        jobs.enqueue("test.flaky", slug="ravi")
    assert backend.join(5)
    assert recorded == [("flaky", {"slug": "ravi", "attempt": 3})]


def test_a_failed_job_is_logged_with_its_arguments(app, backend, recorded, caplog):
    with caplog.at_level(logging.ERROR, logger="dukaan.jobs"), app.app_context():
        jobs.enqueue("test.broken", slug="ravi")
        assert backend.join(5)
    assert any("job test.broken{'slug': 'ravi'} failed" in r.getMessage() for r in caplog.records)


def test_past_the_limit_a_job_is_refused_loudly(app, recorded, caplog):
    small = InProcessJobs(app, threads=1, limit=2)
    with caplog.at_level(logging.ERROR, logger="dukaan.jobs"):
        for n in range(3):
            small.enqueue("test.note", {"n": n}, delay=60)
    assert [args for _, args in small.pending()] == [{"n": 0}, {"n": 1}]
    assert any("job test.note{'n': 2} refused: 2 jobs are outstanding" in r.getMessage()
               for r in caplog.records)
    small.drop_waiting()
    small.shutdown()


def test_many_jobs_use_a_few_threads(app, backend, recorded):
    before = threading.active_count()
    with app.app_context():
        for n in range(200):
            jobs.enqueue("test.note", n=n)
    assert backend.join(10)
    assert len(recorded) == 200
    # The pool's workers and the scheduler: never a thread per job.
    assert threading.active_count() - before <= app.config["JOBS_THREADS"] + 1


def test_at_exit_waiting_jobs_run_and_what_cannot_is_logged(app, recorded, caplog):
    exiting = InProcessJobs(app, threads=1, limit=10)
    exiting.enqueue("test.note", {"n": 1}, delay=60)
    exiting.enqueue("test.flaky", {}, delay=60)
    with caplog.at_level(logging.ERROR, logger="dukaan.jobs"):
        exiting.shutdown()
    assert recorded == [("note", {"n": 1})]
    assert any("job test.flaky{} lost" in r.getMessage() for r in caplog.records)
    exiting.enqueue("test.note", {"n": 2})
    assert recorded == [("note", {"n": 1})]
    assert exiting.idle()


def test_each_app_has_its_own_backend(app):
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], None)
    assert jobs.backend(other) is not jobs.backend(app)
