from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow


class Skill(Base):
    __tablename__ = "skill"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names are unique within a project.
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # None means the engine's default template (the worker owns its text; migration 0007 made earlier
    # skills' None the paper's template explicitly).
    teacher_template: Mapped[str | None] = mapped_column(Text, nullable=True)
    scorer: Mapped[str] = mapped_column(String(32), default="exact")
    scorer_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
