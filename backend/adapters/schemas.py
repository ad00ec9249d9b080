from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.checkpoints.schemas import GenerateRequest
from backend.db import BodyId


class AdapterVersion(BaseModel):
    """One of a skill's adapter checkpoints on the track."""

    checkpoint_id: int
    job_id: int | None
    dataset_version_id: int | None
    created_at: datetime
    promotion: str | None = Field(
        default=None,
        description="the retention gate's verdict: pending, promoted, held or forced (None: no budget)",
    )
    promotion_message: str | None = Field(default=None, description="why, e.g. which skill broke the budget")


class SkillAdapter(BaseModel):
    skill_id: int
    skill_name: str
    active_checkpoint_id: int | None = Field(
        description="the adapter the track uses for this skill (None: off)"
    )
    versions: list[AdapterVersion] = Field(
        description="every adapter of this skill on the track, newest first"
    )


class TrackAdapters(BaseModel):
    track_id: int
    enabled: bool = Field(description="whether the track keeps one adapter per skill")
    skills: list[SkillAdapter]


class SetAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_id: BodyId | None = Field(
        description="an adapter checkpoint of this skill on the track; null turns the skill's adapter off"
    )
    force: bool = Field(
        default=False,
        description="activate an adapter the retention budget held (or that awaits its evaluation) anyway; "
        "recorded on the checkpoint and its training job as a forced promotion",
    )


class AdapterGenerateRequest(GenerateRequest):
    """A playground turn answered by the track's base model with exactly these adapters on."""

    adapters: list[BodyId] = Field(
        default_factory=list,
        max_length=64,
        description="adapter checkpoints of this track, at most one per skill",
    )
