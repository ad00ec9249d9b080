"""Send Celery tasks by name, only after the transaction that made them meaningful commits.

The backend never imports the worker: tasks are addressed by name. A message that is lost is
not a lost job: the worker's reconciler re-enqueues from the database.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session

from backend.settings import get_settings

log = logging.getLogger(__name__)

RUN_JOB = "apprentice.run_job"
_PENDING_KEY = "apprentice_pending_tasks"


@lru_cache
def celery_client() -> Celery:
    settings = get_settings()
    client = Celery("apprentice-client", broker=settings.resolved_broker_url)
    client.conf.broker_transport_options = settings.broker_transport_options
    client.conf.broker_connection_retry_on_startup = True
    return client


def send_now(task_name: str, args: list[Any], queue: str) -> None:
    try:
        celery_client().send_task(task_name, args=args, queue=queue)
    except Exception:  # noqa: BLE001 - the reconciler re-enqueues from the database
        log.exception("could not enqueue %s%s; the reconciler will retry", task_name, args)


def enqueue_after_commit(session: Session, task_name: str, args: list[Any], *, queue: str) -> None:
    """Queue a task to be sent when `session` commits (dropped on rollback)."""
    session.info.setdefault(_PENDING_KEY, []).append((task_name, args, queue))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    for task_name, args, queue in session.info.pop(_PENDING_KEY, []):
        send_now(task_name, args, queue)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
