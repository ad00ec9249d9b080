from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class Job(Base):
    """The database, not the broker, decides whether a job exists and who runs it.

    A worker claims a job by bumping `attempt` in one compare-and-set (the fencing token) and
    renews `lease_until` every step; every later write of that attempt is guarded by
    `WHERE attempt = :mine`.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_track_state", "track_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="train")
    track_id: Mapped[int | None] = mapped_column(ForeignKey("track.id", ondelete="CASCADE"), nullable=True)
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skill.id"), nullable=True)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_version.id"), nullable=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoint.id"), nullable=True)
    method: Mapped[str] = mapped_column(String(16), default="sdft")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queue: Mapped[str] = mapped_column(String(16), default="gpu")
    position: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_step: Mapped[int] = mapped_column(default=0)
    total_steps: Mapped[int] = mapped_column(default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoint.id"), nullable=True)
    result_checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoint.id"), nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # When a "go" message was last sent; the reconciler re-sends only long-silent queued jobs.
    enqueued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class JobEvent(Base):
    """Append-only log behind the SSE stream: state changes and one row per training step."""

    __tablename__ = "job_event"
    __table_args__ = (Index("ix_job_event_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # "state" | "step" | "warning" | "log"
    step: Mapped[int | None] = mapped_column(nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RolloutTrace(Base):
    """A sampled rollout with per-token student/teacher log-probs and top alternatives."""

    __tablename__ = "rollout_trace"
    __table_args__ = (UniqueConstraint("job_id", "step", "sample_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    step: Mapped[int]
    sample_index: Mapped[int]
    trace: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
