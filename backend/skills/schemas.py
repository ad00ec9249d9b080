from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.db import BodyId

ScorerName = Literal["exact", "contains", "regex", "json_match", "choice", "tool_calls"]


class SkillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f/\\]+$")
    description: str = Field(default="", max_length=10_000)
    teacher_template: str | None = Field(
        default=None,
        max_length=20_000,
        description="Teacher prompt template with {prompt} and {demonstration} (and optional {context}); "
        "empty means the default, which asks for an answer in the example's format (the paper's "
        "wording is a preset in the skill form).",
    )
    scorer: ScorerName = "exact"
    scorer_config: dict[str, Any] = Field(default_factory=dict)
    project_id: BodyId | None = Field(default=None, description="owning project; default: your first project")


class SkillRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    name: str
    description: str
    teacher_template: str | None
    scorer: str
    scorer_config: dict[str, Any]
    created_at: datetime
