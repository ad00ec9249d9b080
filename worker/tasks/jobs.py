"""Celery tasks: thin shells that take ids. The reconciler runs inside every worker."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutting_down

import backend.models  # noqa: F401 - every mapper registered before the reconciler's first query
from backend.db import get_sessionmaker
from backend.jobs import lifecycle
from backend.queue import RUN_JOB, send_now
from backend.settings import get_settings
from worker.celery_app import app

log = logging.getLogger(__name__)
_stop_reconciler = threading.Event()


@app.task(name=RUN_JOB)
def run_job(job_id: int) -> None:
    """Run one job (train or evaluate) if this worker can claim it; otherwise a no-op."""
    from worker.tasks.dispatch import run_any_job  # torch is imported inside the task, never before a fork

    run_any_job(job_id)


def reconcile_once() -> int:
    """Re-queue jobs whose worker vanished and re-send the "go" for silent queued jobs."""
    settings = get_settings()
    with get_sessionmaker().begin() as session:
        jobs = lifecycle.reconcile(session, resend_after_s=settings.reconcile_interval_s * 20)
        to_send = [(job.id, job.queue) for job in jobs]
    for job_id, queue in to_send:
        send_now(RUN_JOB, [job_id], queue)
    return len(to_send)


def _reconcile_forever() -> None:
    interval = get_settings().reconcile_interval_s
    while not _stop_reconciler.is_set():
        try:
            sent = reconcile_once()
            if sent:
                log.info("reconciler re-sent %d job(s)", sent)
        except Exception:  # noqa: BLE001 - a database hiccup must not kill the loop
            log.exception("reconciler pass failed")
        _stop_reconciler.wait(interval)


@worker_ready.connect
def _start_reconciler(**_kwargs: Any) -> None:
    threading.Thread(target=_reconcile_forever, name="apprentice-reconciler", daemon=True).start()


@worker_shutting_down.connect
def _stop(**_kwargs: Any) -> None:
    # Runs inside a signal handler on the main thread: a second Ctrl-C or SIGTERM arriving while
    # Event.set() holds its lock would re-enter it and hang the shutdown forever. Set it elsewhere.
    threading.Thread(target=_stop_reconciler.set, daemon=True).start()
