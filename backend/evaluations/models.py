from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow


class Evaluation(Base):
    """One checkpoint measured on one skill's eval split (or on the general probe, skill_id NULL)."""

    __tablename__ = "evaluation"
    __table_args__ = (UniqueConstraint("checkpoint_id", "skill_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoint.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skill.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="skill")  # "skill" | "general"
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"), nullable=True)
    scorer: Mapped[str] = mapped_column(String(32))
    accuracy: Mapped[float] = mapped_column(Float)
    n: Mapped[int]
    pass_at_k: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kl_from_base: Mapped[float | None] = mapped_column(Float, nullable=True)
    samples: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
