from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.datasets.schemas import ChatMessage, DatasetVersionDetail


class NewDemonstration(BaseModel):
    """A demonstration to add, e.g. a rollout from the token inspector edited into a better answer."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | list[ChatMessage] = Field(description="the student's prompt: text or chat messages")
    demonstration: str = Field(min_length=1)
    context: str | None = None
    reference: str | None = None
    split: Literal["train", "eval"] = "train"


class RevisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[NewDemonstration] = Field(default_factory=list, max_length=10_000)
    remove_indices: list[int] = Field(
        default_factory=list,
        max_length=100_000,
        description="0-based indices of rows of the version to leave out",
    )
    source: str | None = Field(
        default=None,
        max_length=200,
        description="where the change came from, e.g. 'job 12, step 40, rollout 1'",
    )


class RevisionRead(BaseModel):
    created: bool = Field(
        description="False when the revised rows equal an existing version (that one is returned)"
    )
    revised_from: int
    added: int
    removed: int
    version: DatasetVersionDetail
