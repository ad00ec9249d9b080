from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.db import BodyId


class TrackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f/\\]+$")
    base_model: str = Field(
        default="smollm2-135m",
        min_length=1,
        max_length=500,
        description="`tiny`, `smollm2-135m`, `qwen2.5-0.5b`, a Hugging Face id (org/name) or a folder under "
        "an allowed model root (a local folder needs the project's admin role).",
    )
    trust_remote_code: bool = Field(
        default=False,
        description="Run Python code shipped with the model (Hugging Face `trust_remote_code`): admins only.",
    )
    project_id: BodyId | None = Field(default=None, description="owning project; default: your first project")
    adapter_per_skill: bool = Field(
        default=False,
        description="Keep one LoRA adapter per skill over the base (each job trains its skill's adapter from "
        "the base; skills roll back one at a time) instead of one model stacking every skill.",
    )


class CheckpointNode(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    parent_id: int | None
    kind: str
    job_id: int | None
    skill_id: int | None
    dataset_version_id: int | None
    method: str | None
    metrics: dict[str, Any]
    created_at: datetime
    promotion: str | None = Field(
        default=None, description="retention gate: pending, promoted, held or forced (None: no budget)"
    )


class TrackRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    name: str
    base_model: str
    trust_remote_code: bool
    head_checkpoint_id: int | None
    created_at: datetime
    retention_budget: dict[str, Any] | None = Field(
        default=None, description="max_skill_drop / max_general_drop gating promotion to head"
    )
    skill_adapters: dict[str, int] | None = Field(
        default=None, description="one adapter per skill: each skill's active adapter checkpoint (None: off)"
    )


class TrackDetail(TrackRead):
    checkpoints: list[CheckpointNode]
    running_job_id: int | None
    queued_job_ids: list[int]


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_id: BodyId
    expected_head_id: BodyId | None = Field(
        default=None,
        description="When given, the rollback only happens if the head is still this checkpoint "
        "(two racing rollbacks: exactly one wins).",
    )


class ReorderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_ids: list[BodyId] = Field(description="The track's queued jobs in their new order.")
