"""Two processes' relays (and the sweep) hand the same outbox over at once: each job goes once."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from dukaan import jobs
from dukaan.extensions import db
from dukaan.jobs import outbox
from dukaan.models import OutboxEntry
from helpers import join_all, make_app

pytestmark = pytest.mark.postgres


class Recording:
    """A carrier that notes what it was handed, slowly, so the relays overlap."""

    def __init__(self, taken: list[int]) -> None:
        self.lock = threading.Lock()
        self.taken = taken

    def send(self, entries) -> None:
        time.sleep(0.01)
        self.taken.extend(entry.args["n"] for entry in entries)

    def resting(self) -> bool:
        return False

    def rest(self) -> None:
        pass


def test_concurrent_relays_hand_each_entry_over_once(app, monkeypatch):
    monkeypatch.setitem(jobs.JOBS, "test.note", lambda **args: None)
    with app.app_context():
        for n in range(300):
            jobs.record("test.note", n=n)
        db.session.info.pop(jobs.RECORDED)  # no relay of this process's own: the three below race
        db.session.commit()
    taken: list[int] = []
    relays = []
    for _ in range(3):
        other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], None, OUTBOX_BATCH=20)
        other.extensions[outbox.CARRIER] = Recording(taken)
        relays.append(other)

    def relay(other):
        with other.app_context():
            outbox.hand_over()

    threads = [threading.Thread(target=relay, args=(other,), daemon=True) for other in relays]
    for thread in threads:
        thread.start()
    join_all(threads, 60)
    assert sorted(taken) == list(range(300))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 0
    for other in relays:
        jobs.backend(other).shutdown()
        with other.app_context():
            db.engine.dispose()
