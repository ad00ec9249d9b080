from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RetentionBudget(BaseModel):
    """What a new skill may cost earlier ones before its checkpoint is held back (fractions: 0.03 = 3 points)."""

    model_config = ConfigDict(extra="forbid")

    max_skill_drop: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="largest drop of any earlier skill below its accuracy just after it was learned",
    )
    max_general_drop: float | None = Field(
        default=None, ge=0, le=1, description="largest drop of the general probe below the base model"
    )


class RetentionBudgetRead(BaseModel):
    track_id: int
    budget: RetentionBudget | None = Field(description="None: checkpoints become head without a gate")


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        default=False,
        description="promote a checkpoint the retention budget held (or that awaits evaluation)",
    )


class PromotionRead(BaseModel):
    checkpoint_id: int
    track_id: int
    head_checkpoint_id: int | None
    promotion: str | None
    promotion_report: dict[str, Any] | None
