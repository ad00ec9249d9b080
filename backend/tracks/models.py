from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow


class Track(Base):
    """A base model and a head pointer into its checkpoint tree (the root checkpoint is the base model)."""

    __tablename__ = "track"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names are unique within a project.
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    base_model: Mapped[str] = mapped_column(String(500))
    # Lets transformers run Python shipped with the model: set only by a project admin.
    trust_remote_code: Mapped[bool] = mapped_column(default=False)
    head_checkpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkpoint.id", use_alter=True, ondelete="SET NULL"), nullable=True
    )
    # {"max_skill_drop": 0.03, "max_general_drop": 0.02} (fractions of accuracy); None: no gate.
    # With a budget, a new checkpoint becomes head only once its evaluation shows it kept the budget.
    retention_budget: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    # One LoRA adapter per skill (backend/adapters): None for a track of one stacked model; else the
    # active adapter checkpoint of each skill, {"<skill_id>": checkpoint_id}, each trained from the base.
    skill_adapters: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
