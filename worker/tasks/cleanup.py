"""The orphan cleanup as a Celery task, and a loop in every worker that runs it now and then."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutting_down

from backend.checkpoints.cleanup import find_orphans, remove_orphans
from backend.db import get_sessionmaker
from backend.settings import get_settings
from worker.celery_app import app

log = logging.getLogger(__name__)
CLEANUP_ORPHANS = "apprentice.cleanup_orphans"
_stop = threading.Event()


@app.task(name=CLEANUP_ORPHANS)
def cleanup_orphans(min_age_s: float | None = None) -> int:
    """Remove unreferenced checkpoint folders, finished jobs' work folders and stale upload parts."""
    settings = get_settings()
    with get_sessionmaker()() as session:
        orphans = find_orphans(
            session, settings, min_age_s=settings.orphan_min_age_s if min_age_s is None else min_age_s
        )
    removed = remove_orphans(orphans)
    if removed:
        log.info("removed %d orphaned artifact(s): %s", removed, [str(p) for p in orphans.all()][:20])
    return removed


def _loop() -> None:
    interval = get_settings().orphan_cleanup_interval_s
    while not _stop.wait(interval):
        try:
            cleanup_orphans()
        except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
            log.exception("orphan cleanup failed")


@worker_ready.connect
def _start(**_kwargs: Any) -> None:
    if get_settings().orphan_cleanup_interval_s > 0:
        threading.Thread(target=_loop, name="apprentice-orphan-cleanup", daemon=True).start()


@worker_shutting_down.connect
def _stop_loop(**_kwargs: Any) -> None:
    # This runs inside a signal handler on the main thread; a second signal arriving while
    # Event.set() holds its lock would re-enter it and deadlock the shutdown. Set it elsewhere.
    threading.Thread(target=_stop.set, daemon=True).start()
