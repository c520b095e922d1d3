"""Celery on RabbitMQ, plugged into the jobs seam (Flask's ``celery_init_app`` pattern).

Every registered job is a Celery task of the same name, run inside an app
context. Messages are acknowledged after the job, not before
(``task_acks_late``), and a worker killed mid-job hands its message back
(``task_reject_on_worker_lost``): the job runs again elsewhere, which
idempotent jobs allow. Beat runs the outbox sweep, the clean-up of lapsed carts and
the daily summaries.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

from ..ops.logs import REQUEST_ID
from . import JOBS, Retry

# The message header that carries the id of the request that recorded a job.
REQUEST_HEADER = "dukaan_request_id"


def settings(config) -> dict[str, Any]:
    """Celery's settings from the app's ``config``."""
    sweep = config["OUTBOX_SWEEP_SECONDS"]
    return {
        "broker_url": config["CELERY_BROKER_URL"] or None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time per worker process: a long job does not hold
        # others back behind it, and a killed worker hands back one job only.
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": config["CELERY_WORKER_CONCURRENCY"],
        "task_ignore_result": True,
        # A publish waits for the broker's confirmation (it is on disk) and
        # at most OUTBOX_PUBLISH_TIMEOUT for a connection: the outbox keeps
        # what the broker did not take.
        "broker_transport_options": {"confirm_publish": True},
        "broker_connection_timeout": config["OUTBOX_PUBLISH_TIMEOUT"],
        "broker_connection_retry_on_startup": True,
        "beat_schedule": {
            "outbox-sweep": {
                "task": "outbox.sweep",
                "schedule": sweep,
                # Sweeps that piled up while no worker ran are worth one.
                "options": {"expires": sweep * 2},
            },
            "carts-delete-lapsed": {
                "task": "carts.delete_lapsed",
                "schedule": config["CART_CLEANUP_SECONDS"],
                "options": {"expires": config["CART_CLEANUP_SECONDS"]},
            },
            # Yesterday's summaries, each vendor's once: the first run after the merchants'
            # midnight sends them, a later one catches up after an outage.
            "mail-daily-summaries": {
                "task": "mail.daily_summaries",
                "schedule": config["DAILY_SUMMARY_CHECK_SECONDS"],
                "options": {"expires": config["DAILY_SUMMARY_CHECK_SECONDS"]},
            },
        },
    }


def celery_init_app(app: Flask) -> Celery:
    """A Celery app whose tasks are the app's jobs; kept in ``app.extensions["celery"]``."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            # The request that recorded the job (a message header): the job logs under its id.
            asked_by = REQUEST_ID.set(getattr(self.request, REQUEST_HEADER, None))
            try:
                with app.app_context():
                    return self.run(*args, **kwargs)
            finally:
                REQUEST_ID.reset(asked_by)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(settings(app.config))
    for name in JOBS:
        _register(celery_app, name)
    app.extensions["celery"] = celery_app
    return celery_app


def _register(celery_app: Celery, name: str) -> None:
    def run(task: Task, **args: Any) -> None:
        try:
            JOBS[name](**args)
        except Retry as wanted:
            raise task.retry(countdown=wanted.after, kwargs={**args, **wanted.changes}) from None

    # Retries are the job's to bound (mail backs off and keeps trying).
    celery_app.task(name=name, bind=True, max_retries=None)(run)
