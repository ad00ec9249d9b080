"""The retention gate's decision, pure: which earlier skill (or the general probe) broke a budget, by how much.

A budget bounds what a new checkpoint may cost, in fractions of accuracy (0.03 = 3 points):
- max_skill_drop: no earlier skill may sit more than this below its accuracy just after it was
  learned (the regression matrix's "change since learned", so drops add up along the track);
- max_general_drop: the general probe may not sit more than this below the base model's score.
A measurement that is missing is not a breach (there is nothing to compare).

On a track of one adapter per skill the other skills are not on a new adapter's lineage; its evaluation
measures them with their active adapters on as well, so max_skill_drop also bounds each other skill's
drop from its active adapter's own evaluation (adapter_breaches).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from backend.evaluations.matrix import CheckpointSummary

# Accuracies are fractions k / n: 0.80 - 0.77 is 0.030000000000000027, which must not break a 0.03 budget.
EPSILON = 1e-9


@dataclass(frozen=True)
class Budget:
    max_skill_drop: float | None = None
    max_general_drop: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Budget | None:
        if data is None:
            return None
        return cls(data.get("max_skill_drop"), data.get("max_general_drop"))


@dataclass(frozen=True)
class Breach:
    """One broken bound: `change` is negative (a drop), `allowed` the bound it went past."""

    kind: str  # "skill" | "general"
    skill_id: int | None
    before: float  # the accuracy when the skill was learned, or the base model's general score
    after: float
    change: float
    allowed: float
    learned_at: int | None = None  # the checkpoint that learned the skill

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def skill_tolerance(budget: Budget) -> float | None:
    """The regression matrix's retention_tolerance that flags exactly the skills breaking the budget."""
    return None if budget.max_skill_drop is None else min(budget.max_skill_drop + EPSILON, 1.0)


def breaches(summary: CheckpointSummary, budget: Budget) -> list[Breach]:
    """What `summary` (computed with retention_tolerance = skill_tolerance(budget)) breaks; [] if nothing."""
    found: list[Breach] = []
    if budget.max_skill_drop is not None:
        for violation in summary.retention_violations:
            found.append(
                Breach(
                    kind="skill",
                    skill_id=violation.skill_id,
                    before=violation.accuracy_when_learned,
                    after=violation.accuracy,
                    change=violation.change,
                    allowed=budget.max_skill_drop,
                    learned_at=violation.learned_at,
                )
            )
    change = summary.general_change_from_root
    if (
        budget.max_general_drop is not None
        and change is not None
        and change < -budget.max_general_drop - EPSILON
    ):
        assert summary.general_accuracy is not None
        found.append(
            Breach(
                kind="general",
                skill_id=None,
                before=summary.general_accuracy - change,
                after=summary.general_accuracy,
                change=change,
                allowed=budget.max_general_drop,
            )
        )
    return found


def adapter_breaches(
    learned: dict[int, tuple[int, float]], measured: dict[int, float], budget: Budget
) -> list[Breach]:
    """Other skills on a track of adapters: `learned` maps each to (its active adapter, that adapter's
    accuracy on it), `measured` to its accuracy with the new adapter on beside it."""
    if budget.max_skill_drop is None:
        return []
    found = []
    for skill_id, (adapter_id, before) in sorted(learned.items()):
        after = measured.get(skill_id)
        if after is not None and after - before < -budget.max_skill_drop - EPSILON:
            found.append(
                Breach("skill", skill_id, before, after, after - before, budget.max_skill_drop, adapter_id)
            )
    return found


def describe(breach: Breach, skill_names: dict[int, str]) -> str:
    """One line for the run page, in points: "skill 'greeting' dropped 5.0 points (budget 3.0)"."""
    if breach.kind == "general":
        what = "the general probe"
    else:
        what = f"skill {skill_names.get(breach.skill_id or 0, breach.skill_id)!r}"
    return f"{what} dropped {-breach.change * 100:.1f} points (budget {breach.allowed * 100:.1f})"
