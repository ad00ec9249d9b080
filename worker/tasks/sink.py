"""The engine's Sink, backed by the job row: every write is fenced by this attempt."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from backend.db import get_sessionmaker
from backend.jobs import lifecycle

log = logging.getLogger(__name__)


class DatabaseSink:
    """Records step metrics and traces, renews the lease, and tells the loop when to stop."""

    def __init__(self, job_id: int, attempt: int, *, lease_seconds: float):
        self.job_id = job_id
        self.attempt = attempt
        self.lease_seconds = lease_seconds
        self.total_steps: int | None = None
        self.cancel_requested = False
        self.lost = False
        self._pending_traces: list[dict[str, Any]] = []
        self._pending_warnings: list[dict[str, Any]] = []

    def _beat(self, **kwargs: Any) -> None:
        if self.lost:
            return
        with get_sessionmaker().begin() as session:
            status = lifecycle.heartbeat(
                session, self.job_id, self.attempt, lease_seconds=self.lease_seconds, **kwargs
            )
        if status == "lost":
            log.warning(
                "job %s attempt %s lost its lease; stopping without writing", self.job_id, self.attempt
            )
            self.lost = True
        elif status == "cancel":
            self.cancel_requested = True

    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        self._beat(
            step=step,
            total_steps=self.total_steps,
            metrics=dict(metrics),
            traces=self._pending_traces or None,
            warnings=self._pending_warnings or None,
        )
        self._pending_traces = []
        self._pending_warnings = []

    def on_traces(self, step: int, traces: list[dict[str, Any]]) -> None:
        # Traces are written with the step's metrics, in the same fenced transaction.
        self._pending_traces.extend(traces)

    def on_warning(self, step: int, warning: dict[str, Any]) -> None:
        # Stored with the next step's heartbeat; its own step goes with it (the memory warning is
        # raised before step 1, a monitor's before the step it is about).
        self._pending_warnings.append({**warning, "step": step})

    def on_step_checkpoint(self, step: int, path: Path) -> None:
        log.info("job %s: step checkpoint %s at step %s", self.job_id, path, step)

    def heartbeat(self) -> None:
        """Renew the lease between steps (model loading, checkpoint writing)."""
        self._beat(total_steps=self.total_steps)

    def should_stop(self) -> bool:
        return self.lost or self.cancel_requested

    def __enter__(self) -> DatabaseSink:
        """Keep the lease alive from a thread, so that a slow step or model load is not taken for a dead worker.

        The lease then expires only when the whole process stops (killed, frozen, cut off).
        """
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep_lease, name=f"lease-job-{self.job_id}", daemon=True)
        self._keeper.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._keeper.join(timeout=10)

    def _keep_lease(self) -> None:
        interval = max(self.lease_seconds / 3, 0.5)
        while not self._stop.wait(interval) and not self.lost:
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - a failed renewal is retried; expiry is the safety net
                log.exception("lease renewal for job %s failed", self.job_id)
