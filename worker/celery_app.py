"""Celery configuration only. The database row, not the broker, is the job's source of truth."""

from __future__ import annotations

from celery import Celery

from backend.scrub import install_log_scrubbing
from backend.settings import get_settings

settings = get_settings()
install_log_scrubbing()  # every log line of the worker, tracebacks included, is scrubbed of secrets

app = Celery(
    "apprentice", broker=settings.resolved_broker_url, include=["worker.tasks.jobs", "worker.tasks.cleanup"]
)
app.conf.update(
    # A job's message is acknowledged only when the task returns, and given back if the worker dies.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # One task at a time: a training job owns the machine's cores (or its GPU).
    worker_concurrency=1,
    # Results live in the job row; no result backend.
    task_ignore_result=True,
    task_default_queue="cpu",
    task_routes={
        "apprentice.run_job": {"queue": "gpu"},
        "apprentice.run_evaluation": {"queue": "cpu"},
        "apprentice.reconcile": {"queue": "cpu"},
        "apprentice.cleanup_orphans": {"queue": "cpu"},
    },
    # Redis redelivers an unacknowledged message after this; it must exceed the longest job.
    broker_transport_options=settings.broker_transport_options,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)
