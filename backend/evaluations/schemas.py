from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EvaluationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: Literal["cpu", "gpu"] = "cpu"
    max_new_tokens: int = Field(default=128, ge=1, le=8192)
    samples: int = Field(default=1, ge=1, le=64, description="k > 1 also samples k completions for pass@k")
    max_examples: int | None = Field(
        default=None, ge=1, le=100_000, description="evaluate at most this many eval rows"
    )
    general_probe: bool = True
    general_probe_items: int | None = Field(
        default=100, ge=4, le=10_000, description="probe prompts used (evenly across categories); None = all"
    )


class EvaluationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    checkpoint_id: int
    skill_id: int | None
    kind: str
    job_id: int | None
    scorer: str
    accuracy: float
    n: int
    pass_at_k: dict[str, Any]
    kl_from_base: float | None
    created_at: datetime


class EvaluationDetail(EvaluationRead):
    samples: list[Any]


class MatrixCell(BaseModel):
    checkpoint_id: int
    skill_id: int
    accuracy: float | None
    learned_at: int | None = Field(description="the checkpoint on this one's path that learned the skill")
    change_since_learned: float | None
    evaluation_id: int | None


class CheckpointRow(BaseModel):
    checkpoint_id: int
    parent_id: int | None
    depth: int
    job_id: int | None
    skill_id: int | None = Field(description="the skill this checkpoint learned (None for the base)")
    method: str | None
    is_head: bool
    general_accuracy: float | None
    general_change_from_root: float | None
    general_evaluation_id: int | None
    kl_from_base: float | None
    average_accuracy: float | None
    backward_transfer: float | None
    forgetting: float | None
    retention_violations: list[dict[str, Any]] = Field(default_factory=list)
    promotion: str | None = Field(
        default=None, description="retention gate: pending, promoted, held or forced (None: no budget)"
    )
    promotion_report: dict[str, Any] | None = Field(
        default=None,
        description="the gate's decision: the budget, each violation with its drop, who forced it",
    )


class RegressionMatrix(BaseModel):
    track_id: int
    skills: list[dict[str, Any]]
    checkpoints: list[CheckpointRow]
    cells: list[MatrixCell]
