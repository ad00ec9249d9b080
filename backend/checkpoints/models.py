from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow


class Checkpoint(Base):
    """A node of a track's tree. kind "base" is the root (the base model itself, no files)."""

    __tablename__ = "checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("track.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoint.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="skill")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", use_alter=True), nullable=True)
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skill.id"), nullable=True)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_version.id"), nullable=True)
    method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Relative to the artifact store; None for the base root.
    path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The retention gate (backend/retention): None when the track had no budget; "pending" until the
    # evaluation decides, then "promoted" or "held"; "forced" when a user promoted a held one anyway.
    promotion: Mapped[str | None] = mapped_column(String(16), nullable=True)
    promotion_report: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
