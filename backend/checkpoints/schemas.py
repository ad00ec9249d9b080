from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


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
