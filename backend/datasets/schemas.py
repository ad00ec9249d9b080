from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OnError = Literal["reject", "skip"]
Split = Literal["train", "eval"]


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class RowErrorRead(BaseModel):
    line: int | None = Field(description="1-based line in the uploaded file; null for the file as a whole")
    field: str | None = Field(
        description="the offending key, e.g. `messages[2].role`; null for the whole line"
    )
    message: str


class RowFlag(BaseModel):
    field: str = Field(description="`demonstration` or `context`")
    kind: str = Field(
        description="instruction_override, role_override, prompt_extraction, chat_markup or teacher_template"
    )
    match: str = Field(description="the flagged passage (at most 80 characters)")


class ReportFlag(RowFlag):
    line: int


class DatasetReport(BaseModel):
    """What the upload refused (with ?on_error=skip) and what a human should look at."""

    # Defaults, so a version written by another path (a test factory, a future import) still reads.
    errors: list[RowErrorRead] = Field(default_factory=list, description="the first 100 errors")
    error_count: int = 0
    flags: list[ReportFlag] = Field(
        default_factory=list, description="the first 100 flags: text that addresses the model"
    )
    flag_count: int = 0
    on_error: OnError = "reject"


class DatasetVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    skill_id: int
    version: int = Field(description="1, 2, ... per skill")
    sha256: str = Field(description="of the normalised rows: identical content in any format hashes the same")
    filename: str
    format: str = Field(description="jsonl, json_array or csv (detected from the content)")
    n_examples: int
    n_train: int
    n_eval: int
    n_rejected: int
    created_at: datetime


class DatasetVersionDetail(DatasetVersionRead):
    report: DatasetReport


class ExampleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    index: int = Field(description="0-based position among the version's rows")
    line: int = Field(description="line in the uploaded file where the row starts")
    split: Split
    prompt: list[ChatMessage]
    demonstration: str
    context: str | None
    reference: str | None
    flags: list[RowFlag] | None


class ExamplePage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[ExampleRead]


class DatasetPreview(BaseModel):
    """What an upload of this file would store; nothing is stored."""

    format: str | None = Field(description="null when the format could not be recognised")
    n_examples: int = Field(description="valid rows")
    n_train: int
    n_eval: int
    n_rejected: int
    errors: list[RowErrorRead]
    error_count: int
    flags: list[ReportFlag]
    flag_count: int
    sha256: str | None
    accepted_as_is: bool = Field(description="an upload with on_error=reject would succeed")
    accepted_with_skip: bool = Field(description="an upload with on_error=skip would store the valid rows")
    existing_version: DatasetVersionRead | None = Field(
        description="a version of this skill with identical content, which an upload would return"
    )
    rows: list[ExampleRead] = Field(description="the first valid rows, normalised")


class DatasetDiff(BaseModel):
    """Rows added and removed from one version to another, compared by their normalised content."""

    from_version: DatasetVersionRead
    to_version: DatasetVersionRead
    n_added: int
    n_removed: int
    n_unchanged: int
    added: list[ExampleRead] = Field(description="the first added rows (of to_version)")
    removed: list[ExampleRead] = Field(description="the first removed rows (of from_version)")
