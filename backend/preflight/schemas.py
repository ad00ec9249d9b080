from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.db import BodyId
from backend.jobs.schemas import JobRead


class PreflightRequest(BaseModel):
    """Which model to check the demonstrations against: a model name, or a track's current head."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None, min_length=1, max_length=500, description="a built-in name, Hugging Face id or folder"
    )
    track_id: BodyId | None = Field(default=None, description="check against this track's head checkpoint")
    max_prompt_tokens: int | None = Field(
        default=None, ge=16, le=131_072, description="the training limit to warn about (engine default)"
    )
    max_new_tokens: int | None = Field(
        default=None, ge=1, le=16_384, description="rollout length the context must leave room for"
    )
    teacher_answers: bool = Field(
        default=True, description="generate the teacher's greedy answer and score it against the reference"
    )
    answer_max_new_tokens: int = Field(default=128, ge=1, le=8192)
    max_examples: int | None = Field(
        default=None, ge=1, le=100_000, description="check at most this many train rows"
    )
    queue: Literal["cpu", "gpu"] = "cpu"

    @model_validator(mode="after")
    def _one_model(self) -> PreflightRequest:
        if (self.model is None) == (self.track_id is None):
            raise ValueError("give either model or track_id")
        return self


class PreflightReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    dataset_version_id: int
    job_id: int
    model: str
    checkpoint_id: int | None
    summary: dict[str, Any] = Field(
        description="counts, mean/median gap (nats/token), teacher accuracy and a one-line verdict"
    )
    demonstrations: list[dict[str, Any]] = Field(
        description="per demonstration, most useful first: student_logprob, teacher_logprob, gap, "
        "teacher_answer, teacher_correct, token counts, flags and warnings"
    )
    created_at: datetime


class PreflightStatus(BaseModel):
    dataset_version_id: int
    job: JobRead | None = Field(description="the latest pre-flight job of this version (its state, error)")
    report: PreflightReportRead | None = Field(description="the latest finished report")
