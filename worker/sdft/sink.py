"""Where the training loop reports: metrics per step, per-token traces, step checkpoints, and whether to stop.

The worker's sink writes to the database (guarded by the job's attempt); tests and the CLI use
ListSink, which records everything in memory. A sink may also take `on_warning(step, warning)`:
monitor warnings (monitors.py) reach it before that step's `on_step`; and a sink with a
`total_steps` attribute is given the run's total once the model is loaded (an auto general_mix
changes it in an epochs-based run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Sink(Protocol):
    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        """After every optimizer step (1-based step number)."""
        ...

    def on_traces(self, step: int, traces: list[dict[str, Any]]) -> None:
        """Per-token rollout traces every `trace_every` steps."""
        ...

    def on_step_checkpoint(self, step: int, path: Path) -> None:
        """A resumable step checkpoint was written (and verifies) at `path`."""
        ...

    def should_stop(self) -> bool:
        """Checked before every step: cancellation or a lost lease."""
        ...


@dataclass
class ListSink:
    """Records everything; `stop_after` stops the run once that many steps are done (tests, CLI)."""

    stop_after: int | None = None
    steps: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    traces: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    warnings: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        self.steps.append((step, dict(metrics)))

    def on_traces(self, step: int, traces: list[dict[str, Any]]) -> None:
        self.traces.append((step, traces))

    def on_step_checkpoint(self, step: int, path: Path) -> None:
        self.checkpoints.append((step, path))

    def on_warning(self, step: int, warning: dict[str, Any]) -> None:
        self.warnings.append((step, dict(warning)))

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.steps) >= self.stop_after

    def metric(self, name: str) -> list[float]:
        return [metrics[name] for _, metrics in self.steps]
