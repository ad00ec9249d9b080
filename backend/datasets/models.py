from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow


class DatasetVersion(Base):
    """One immutable upload of a skill's demonstrations; no endpoint edits it."""

    __tablename__ = "dataset_version"
    __table_args__ = (
        UniqueConstraint("skill_id", "version"),
        UniqueConstraint("skill_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skill.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[str] = mapped_column(String(32))
    n_examples: Mapped[int]
    n_train: Mapped[int]
    n_eval: Mapped[int]
    n_rejected: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Demonstration(Base):
    __tablename__ = "demonstration"
    __table_args__ = (Index("ix_demonstration_version_index", "dataset_version_id", "index", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_version.id", ondelete="CASCADE"))
    index: Mapped[int]
    line: Mapped[int]
    split: Mapped[str] = mapped_column(String(8))
    prompt: Mapped[list[Any]]
    demonstration: Mapped[str] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(Text, nullable=True)
    flags: Mapped[list[Any] | None] = mapped_column(nullable=True)
