"""The regression matrix of a track and its continual-learning summary (pure Python, no database).

A track's checkpoints form a tree: each training job adds a child of the head, and a rollback
moves the head back so the next job starts a branch. "So far" therefore always means along the
path from the root (the base model) to a checkpoint, never in creation order: a skill learned
on another branch is not one this checkpoint has learned.

Definitions (R[c][s] is the accuracy, in [0, 1], of checkpoint c on skill s's evaluation set):

- Path(c): the checkpoints from the root down to c, both included.
- Learned(c): the skills learned by a checkpoint on Path(c). If a skill was trained more than
  once on the path, L(s, c), "where s was learned", is the latest such checkpoint.
- Earlier(c): the skills of Learned(c) with L(s, c) != c, i.e. learned strictly before c.
- Change since learned, per cell: R[c][s] - R[L(s, c)][s] (0 at the checkpoint that learned s;
  undefined for a skill not in Learned(c)).
- Average accuracy, ACC(c): the mean of R[c][s] over Learned(c), c's own skill included.
- Backward transfer, BWT(c): the mean over Earlier(c) of R[c][s] - R[L(s, c)][s]. Negative means
  later skills cost earlier ones; positive means they helped (Lopez-Paz & Ranzato, 2017).
- Forgetting, F(c): the mean over Earlier(c) of max R[c'][s] - R[c][s], the max taken over the
  checkpoints c' on Path(c) from L(s, c) to c, both included: how far each earlier skill now sits
  below its best since it was learned (Chaudhry et al., 2018, measured from the learning point).
  Never negative, and per skill at least -(its change since learned).
- General change: the general-probe accuracy of c minus that of the root of Path(c) (the base).

A measurement that is missing leaves its skill out of a mean (a partly evaluated checkpoint
still gets a summary); a mean over no skills is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "CheckpointNode",
    "CheckpointSummary",
    "GeneralResult",
    "MatrixCell",
    "RegressionMatrix",
    "RetentionViolation",
    "SkillResult",
    "compute_regression_matrix",
]


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CheckpointNode:
    """A checkpoint of the track: its parent (None for the root) and the skill it learned, if any."""

    checkpoint_id: int
    parent_id: int | None
    learned_skill_id: int | None = None


@dataclass(frozen=True)
class SkillResult:
    """Accuracy (a fraction in [0, 1]) of one checkpoint on one skill's evaluation set."""

    checkpoint_id: int
    skill_id: int
    accuracy: float


@dataclass(frozen=True)
class GeneralResult:
    """General-probe accuracy of one checkpoint, and its mean per-token KL from the base model."""

    checkpoint_id: int
    accuracy: float
    kl_from_base: float | None = None


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class MatrixCell:
    checkpoint_id: int
    skill_id: int
    accuracy: float | None
    learned_at: int | None  # L(s, c): the checkpoint on Path(c) that learned s, if any
    change_since_learned: float | None


@dataclass(frozen=True)
class RetentionViolation:
    """An earlier skill that dropped more than the tolerance since it was learned."""

    skill_id: int
    learned_at: int
    accuracy_when_learned: float
    accuracy: float
    change: float


@dataclass(frozen=True)
class CheckpointSummary:
    checkpoint_id: int
    parent_id: int | None
    learned_skill_id: int | None
    depth: int  # 0 for a root
    path: tuple[int, ...]  # root ... this checkpoint
    skills_learned: tuple[int, ...]  # Learned(c), in the order of their (latest) learning
    average_accuracy: float | None
    backward_transfer: float | None
    forgetting: float | None
    general_accuracy: float | None
    general_change_from_root: float | None
    kl_from_base: float | None
    retention_violations: tuple[RetentionViolation, ...]


@dataclass(frozen=True)
class RegressionMatrix:
    """Rows in depth-first order (children by id, so a branch sits under its fork point);
    columns in the order skills were first learned, then skills never learned, by id."""

    checkpoint_order: tuple[int, ...]
    skill_order: tuple[int, ...]
    cells: tuple[MatrixCell, ...]  # one per (checkpoint, skill), row by row
    summaries: tuple[CheckpointSummary, ...]  # one per checkpoint, in checkpoint_order

    def cell(self, checkpoint_id: int, skill_id: int) -> MatrixCell:
        for cell in self.cells:
            if cell.checkpoint_id == checkpoint_id and cell.skill_id == skill_id:
                return cell
        raise KeyError((checkpoint_id, skill_id))

    def summary(self, checkpoint_id: int) -> CheckpointSummary:
        for summary in self.summaries:
            if summary.checkpoint_id == checkpoint_id:
                return summary
        raise KeyError(checkpoint_id)


# --------------------------------------------------------------------------- computation


def _check_accuracy(value: float, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: accuracy must be a finite number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{where}: accuracy must be a fraction in [0, 1], got {value!r}")


def _mean(values: Iterable[float]) -> float | None:
    collected = list(values)
    return sum(collected) / len(collected) if collected else None


def _depth_first_order(nodes: dict[int, CheckpointNode]) -> list[int]:
    children: dict[int | None, list[int]] = {}
    for node in nodes.values():
        if node.parent_id is not None and node.parent_id not in nodes:
            raise ValueError(
                f"checkpoint {node.checkpoint_id}: parent {node.parent_id} is not among the checkpoints"
            )
        children.setdefault(node.parent_id, []).append(node.checkpoint_id)
    order: list[int] = []
    stack = sorted(children.get(None, []), reverse=True)
    while stack:  # iterative: a long track must not hit the recursion limit
        checkpoint_id = stack.pop()
        order.append(checkpoint_id)
        stack.extend(sorted(children.get(checkpoint_id, []), reverse=True))
    if len(order) != len(nodes):
        cyclic = sorted(set(nodes) - set(order))
        raise ValueError(f"checkpoints {cyclic} form a cycle: no path leads to them from a root")
    return order


def _learned_along(path: tuple[int, ...], nodes: dict[int, CheckpointNode]) -> dict[int, int]:
    """Skill -> L(s, c), the latest checkpoint on the path that learned it, in learning order."""
    learned_at: dict[int, int] = {}
    for step in path:
        skill_id = nodes[step].learned_skill_id
        if skill_id is not None:
            learned_at.pop(skill_id, None)  # a skill trained again moves to its latest training
            learned_at[skill_id] = step
    return learned_at


def _change(
    accuracy: dict[tuple[int, int], float], checkpoint_id: int, skill_id: int, learned_at: int
) -> float | None:
    now, then = accuracy.get((checkpoint_id, skill_id)), accuracy.get((learned_at, skill_id))
    return None if now is None or then is None else now - then


def _summarise(
    node: CheckpointNode,
    path: tuple[int, ...],
    learned_at: dict[int, int],
    accuracy: dict[tuple[int, int], float],
    own_general: GeneralResult | None,
    root_general: GeneralResult | None,
    retention_tolerance: float | None,
) -> CheckpointSummary:
    checkpoint_id = node.checkpoint_id
    earlier = [skill_id for skill_id, step in learned_at.items() if step != checkpoint_id]
    changes = {
        skill_id: _change(accuracy, checkpoint_id, skill_id, learned_at[skill_id]) for skill_id in earlier
    }
    drops = []
    for skill_id in earlier:
        now = accuracy.get((checkpoint_id, skill_id))
        if now is None:
            continue
        since_learned = path[path.index(learned_at[skill_id]) :]
        best = max(accuracy[(step, skill_id)] for step in since_learned if (step, skill_id) in accuracy)
        drops.append(best - now)
    violations = []
    if retention_tolerance is not None:
        for skill_id, change in changes.items():
            if change is not None and change < -retention_tolerance:
                violations.append(
                    RetentionViolation(
                        skill_id=skill_id,
                        learned_at=learned_at[skill_id],
                        accuracy_when_learned=accuracy[(learned_at[skill_id], skill_id)],
                        accuracy=accuracy[(checkpoint_id, skill_id)],
                        change=change,
                    )
                )
    return CheckpointSummary(
        checkpoint_id=checkpoint_id,
        parent_id=node.parent_id,
        learned_skill_id=node.learned_skill_id,
        depth=len(path) - 1,
        path=path,
        skills_learned=tuple(learned_at),
        average_accuracy=_mean(
            accuracy[(checkpoint_id, skill_id)]
            for skill_id in learned_at
            if (checkpoint_id, skill_id) in accuracy
        ),
        backward_transfer=_mean(change for change in changes.values() if change is not None),
        forgetting=_mean(drops),
        general_accuracy=own_general.accuracy if own_general else None,
        general_change_from_root=(
            own_general.accuracy - root_general.accuracy if own_general and root_general else None
        ),
        kl_from_base=own_general.kl_from_base if own_general else None,
        retention_violations=tuple(violations),
    )


def compute_regression_matrix(
    checkpoints: Sequence[CheckpointNode],
    skill_results: Sequence[SkillResult],
    general_results: Sequence[GeneralResult] = (),
    *,
    retention_tolerance: float | None = None,
) -> RegressionMatrix:
    """R[checkpoint][skill], each cell's change since learned, and each checkpoint's summary.

    retention_tolerance: when given, a summary lists every earlier skill whose change since it
    was learned is below -retention_tolerance. ValueError names the checkpoint or result that is
    inconsistent (unknown parent, cycle, duplicate, accuracy outside [0, 1]).
    """
    nodes: dict[int, CheckpointNode] = {}
    for node in checkpoints:
        if node.checkpoint_id in nodes:
            raise ValueError(f"checkpoint {node.checkpoint_id} is listed twice")
        nodes[node.checkpoint_id] = node
    order = _depth_first_order(nodes)

    accuracy: dict[tuple[int, int], float] = {}
    for result in skill_results:
        where = f"result of checkpoint {result.checkpoint_id} on skill {result.skill_id}"
        if result.checkpoint_id not in nodes:
            raise ValueError(f"{where}: unknown checkpoint")
        if (result.checkpoint_id, result.skill_id) in accuracy:
            raise ValueError(f"{where}: listed twice")
        _check_accuracy(result.accuracy, where)
        accuracy[(result.checkpoint_id, result.skill_id)] = float(result.accuracy)
    general: dict[int, GeneralResult] = {}
    for general_result in general_results:
        where = f"general result of checkpoint {general_result.checkpoint_id}"
        if general_result.checkpoint_id not in nodes:
            raise ValueError(f"{where}: unknown checkpoint")
        if general_result.checkpoint_id in general:
            raise ValueError(f"{where}: listed twice")
        _check_accuracy(general_result.accuracy, where)
        general[general_result.checkpoint_id] = general_result
    if retention_tolerance is not None and not (
        math.isfinite(retention_tolerance) and 0.0 <= retention_tolerance <= 1.0
    ):
        raise ValueError(f"retention_tolerance must be in [0, 1], got {retention_tolerance!r}")

    # Paths come out of the depth-first order: a parent is always placed before its children.
    paths: dict[int, tuple[int, ...]] = {}
    for checkpoint_id in order:
        parent_id = nodes[checkpoint_id].parent_id
        paths[checkpoint_id] = (paths[parent_id] if parent_id is not None else ()) + (checkpoint_id,)

    first_learned: list[int] = []
    for checkpoint_id in order:
        skill_id = nodes[checkpoint_id].learned_skill_id
        if skill_id is not None and skill_id not in first_learned:
            first_learned.append(skill_id)
    measured = {skill_id for _, skill_id in accuracy}
    skill_order = tuple(first_learned + sorted(measured - set(first_learned)))

    cells: list[MatrixCell] = []
    summaries: list[CheckpointSummary] = []
    for checkpoint_id in order:
        path = paths[checkpoint_id]
        learned_at = _learned_along(path, nodes)
        for skill_id in skill_order:
            step = learned_at.get(skill_id)
            cells.append(
                MatrixCell(
                    checkpoint_id=checkpoint_id,
                    skill_id=skill_id,
                    accuracy=accuracy.get((checkpoint_id, skill_id)),
                    learned_at=step,
                    change_since_learned=None
                    if step is None
                    else _change(accuracy, checkpoint_id, skill_id, step),
                )
            )
        summaries.append(
            _summarise(
                nodes[checkpoint_id],
                path,
                learned_at,
                accuracy,
                general.get(checkpoint_id),
                general.get(path[0]),
                retention_tolerance,
            )
        )
    return RegressionMatrix(
        checkpoint_order=tuple(order),
        skill_order=skill_order,
        cells=tuple(cells),
        summaries=tuple(summaries),
    )
