"""The outbox relay: jobs recorded in a change's transaction reach the workers after its commit.

After a commit that recorded a job, the relay (``outbox.relay``) runs on this
process's job threads, never in the request: it claims the entries nobody
else is handing over (``FOR UPDATE SKIP LOCKED``, so web processes and the
sweep never take the same one), hands them to the carrier and deletes them
in the same transaction. If the carrier fails, the transaction rolls back
and the entries wait. The sweep (``outbox.sweep``, run on a worker every
``OUTBOX_SWEEP_SECONDS`` by beat) hands over whatever waited longer than
``OUTBOX_SWEEP_AGE``: the jobs of a commit made while the broker was down.

An entry is handed over at least once: if the process dies between the
broker taking it and the delete committing, it is handed over again, which
idempotent jobs absorb.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import OutboxEntry, aware, utcnow
from . import EXTENSION, RECORDED, job
from .celery import REQUEST_HEADER

if TYPE_CHECKING:
    from celery import Celery

    from .inprocess import InProcessJobs

log = logging.getLogger(__name__)

CARRIER = "dukaan.jobs.carrier"
RELAY = "outbox.relay"


class CarrierDown(RuntimeError):
    """The broker (or the in-process queue) did not take the jobs."""


class InProcessCarrier:
    """No broker: outbox jobs run on this process's job threads, as ``enqueue``'s do."""

    def __init__(self, local: InProcessJobs) -> None:
        self.local = local
        self.lock = threading.Lock()

    def send(self, entries: list[OutboxEntry]) -> None:
        """Queue every entry here; raises ``CarrierDown`` if the queue is full."""
        for entry in entries:
            if not self.local.enqueue(entry.name, entry.args, request_id=entry.request_id):
                raise CarrierDown("the in-process job queue is full")

    def resting(self) -> bool:
        return False

    def rest(self) -> None:
        pass


class CeleryCarrier:
    """RabbitMQ through Celery. Every publish is confirmed by the broker, and its connection
    and confirmation are bounded (``OUTBOX_PUBLISH_TIMEOUT``); after a failure the relay
    leaves the outbox to the sweep for ``OUTBOX_BROKER_REST_SECONDS``, so an outage costs
    one timeout, not one per commit."""

    def __init__(self, celery_app: Celery) -> None:
        self.celery = celery_app
        self.lock = threading.Lock()
        self.rest_until = 0.0

    def send(self, entries: list[OutboxEntry]) -> None:
        """Publish every entry; raises ``CarrierDown`` when the broker does not confirm them all."""
        from kombu.exceptions import OperationalError

        seconds = current_app.config["OUTBOX_PUBLISH_TIMEOUT"]
        try:
            with self.celery.producer_or_acquire() as producer:
                for entry in entries:
                    # A confirmation that times out leaves the entry here, to be sent again: a
                    # duplicate at worst, which idempotent jobs absorb.
                    self.celery.send_task(entry.name, kwargs=entry.args, producer=producer, retry=False,
                                          timeout=seconds, confirm_timeout=seconds,
                                          headers={REQUEST_HEADER: entry.request_id})
        except (OperationalError, OSError) as error:
            raise CarrierDown(f"the broker did not take the jobs: {error}") from error

    def resting(self) -> bool:
        return time.monotonic() < self.rest_until

    def rest(self) -> None:
        self.rest_until = time.monotonic() + current_app.config["OUTBOX_BROKER_REST_SECONDS"]

    def depth(self) -> int:
        """Messages waiting in the default queue. Raises ``CarrierDown`` if the broker does not answer."""
        from kombu.exceptions import OperationalError

        try:
            with self.celery.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1)
                declared = connection.default_channel.queue_declare(
                    queue=self.celery.conf.task_default_queue, passive=True
                )
                return declared.message_count
        except (OperationalError, OSError) as error:
            raise CarrierDown(f"the broker does not answer: {error}") from error


def carrier():
    return current_app.extensions[CARRIER]


def hand_over(older_than: float = 0) -> int:
    """Hand the outbox's entries (those at least ``older_than`` seconds old) to the carrier.

    Returns how many were handed over. A carrier that fails leaves the rest
    where they are, logs a warning and rests; nothing is raised.
    """
    config = current_app.config
    batch = config["OUTBOX_BATCH"]
    taken = 0
    mine = carrier()
    # One relay at a time in a process: SQLite ignores SKIP LOCKED.
    with mine.lock:
        while True:
            query = select(OutboxEntry).order_by(OutboxEntry.id).limit(batch).with_for_update(skip_locked=True)
            if older_than:
                query = query.where(OutboxEntry.created_at <= utcnow() - timedelta(seconds=older_than))
            entries = list(db.session.scalars(query))
            if not entries:
                db.session.rollback()
                return taken
            try:
                mine.send(entries)
            except CarrierDown as error:
                db.session.rollback()
                mine.rest()
                log.warning("outbox: %s; %d jobs wait in the outbox", error, len(entries))
                return taken
            db.session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_([e.id for e in entries])))
            db.session.commit()
            taken += len(entries)
            if len(entries) < batch:
                return taken


@job(RELAY)
def relay() -> None:
    """After a commit that recorded jobs: hand them over now, unless the broker just failed."""
    if not carrier().resting():
        hand_over()


@job("outbox.sweep")
def sweep() -> None:
    """Hand over what the relays left (the broker was down at the commit, or a process died)."""
    count = hand_over(older_than=current_app.config["OUTBOX_SWEEP_AGE"])
    if count:
        log.info("outbox sweep: %d jobs handed over", count)


def backlog() -> tuple[int, float | None]:
    """How many entries wait in the outbox, and the age in seconds of the oldest (None if empty)."""
    count, oldest = db.session.execute(select(func.count(), func.min(OutboxEntry.created_at))).one()
    if oldest is None:
        return count, None
    return count, (utcnow() - aware(oldest)).total_seconds()


def _after_commit(session: Session) -> None:
    if session.info.pop(RECORDED, False):
        # The commits of the next few milliseconds join this relay (the key): on a sale day one
        # transaction and one broker round trip carry several jobs instead of one each.
        current_app.extensions[EXTENSION].enqueue(
            RELAY, {}, key=RELAY, delay=current_app.config["OUTBOX_RELAY_DELAY"]
        )


def _after_rollback(session: Session) -> None:
    session.info.pop(RECORDED, None)


def listen() -> None:
    """Run the relay after each commit of ``db.session`` that recorded a job (idempotent:
    every app of the process shares that session factory)."""
    from ..extensions import db

    for name, listener in (("after_commit", _after_commit), ("after_rollback", _after_rollback)):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)
