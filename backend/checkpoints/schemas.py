from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CheckpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    track_id: int
    parent_id: int | None
    kind: str
    job_id: int | None
    skill_id: int | None
    dataset_version_id: int | None
    method: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    created_at: datetime
    is_head: bool
    promotion: str | None = None  # retention gate: pending, promoted, held, forced (None: no budget)
    promotion_report: dict[str, Any] | None = None  # the gate's violations, or who forced it


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=100_000)


class GenerateRequest(BaseModel):
    """A chat turn for the playground: the checkpoint answers the conversation's last user message."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(min_length=1, max_length=64)
    max_new_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0, le=2, description="0 = greedy")

    @model_validator(mode="after")
    def _ends_with_user(self) -> GenerateRequest:
        if self.messages[-1].role != "user":
            raise ValueError("the last message must be the user's")
        return self
