from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow


class PreflightReport(Base):
    """What a pre-flight job found for one dataset version against one model; one row per job."""

    __tablename__ = "preflight_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_version.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), unique=True)
    model: Mapped[str] = mapped_column(String(500))
    # The track checkpoint that was checked (None when a model name was given).
    checkpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkpoint.id", ondelete="SET NULL"), nullable=True
    )
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    demonstrations: Mapped[list[Any]] = mapped_column(default=list)  # ranked, most useful first
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
