"""Demonstration datasets: immutable versions of a skill's uploaded rows.

An upload is read twice from its temporary file: once to validate and hash it (nothing stored),
then, if it is new, again to insert its rows in batches, so memory stays flat at any size. The
version row and all its demonstrations are written in the caller's one transaction: a failure
leaves nothing. Services never commit; the route does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from backend.datasets.errors import InvalidDataset
from backend.datasets.models import DatasetVersion, Demonstration
from backend.datasets.parsing import DatasetSummary, ParseLimits, iter_rows, summarise
from backend.datasets.rows import Example, RowError, canonical_row_bytes, row_digest
from backend.datasets.schemas import (
    DatasetDiff,
    DatasetPreview,
    DatasetVersionRead,
    ExampleRead,
    OnError,
    ReportFlag,
    RowErrorRead,
)
from backend.errors import Invalid, NotFound
from backend.settings import Settings
from backend.skills.models import Skill

INSERT_BATCH_ROWS = 1000
PREVIEW_ROWS = 5
_DEMONSTRATION_TABLE = cast(Table, Demonstration.__table__)


def parse_limits(settings: Settings) -> ParseLimits:
    return ParseLimits(
        max_file_bytes=settings.max_upload_bytes,
        max_line_bytes=settings.max_line_bytes,
        max_json_depth=settings.max_json_depth,
        max_examples=settings.max_examples,
    )


def require_skill(session: Session, skill_id: int) -> None:
    """404 unless the skill exists (checked before an upload's body is read)."""
    if session.get(Skill, skill_id) is None:
        raise NotFound("skill", skill_id)


def store_upload(
    session: Session, *, skill_id: int, path: Path, filename: str, on_error: OnError, limits: ParseLimits
) -> tuple[DatasetVersion, bool]:
    """Store the file as the skill's next version; (version, created). Identical content returns
    the existing version instead (created False)."""
    require_skill(session, skill_id)
    summary = summarise(path, limits)
    _refuse_unless_storable(summary, on_error)
    assert summary.sha256 is not None and summary.format is not None
    _lock_skill(session, skill_id)
    existing = _version_with_sha(session, skill_id, summary.sha256)
    if existing is not None:
        return existing, False
    latest = session.scalar(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.skill_id == skill_id)
    )
    version = DatasetVersion(
        skill_id=skill_id,
        version=(latest or 0) + 1,
        sha256=summary.sha256,
        filename=filename,
        format=summary.format,
        n_examples=summary.n_examples,
        n_train=summary.n_train,
        n_eval=summary.n_eval,
        n_rejected=summary.n_rejected,
        report={**summary.report(), "on_error": on_error},
    )
    session.add(version)
    session.flush()
    stored = _insert_rows(session, version.id, path, limits)
    if stored != summary.n_examples:  # the temp file is ours alone; this would be a parser bug
        raise RuntimeError(f"second pass read {stored} rows, the first {summary.n_examples}")
    return version, True


def preview_upload(session: Session, *, skill_id: int, path: Path, limits: ParseLimits) -> DatasetPreview:
    """Parse the file and say what an upload would store; stores nothing."""
    require_skill(session, skill_id)
    summary = summarise(path, limits, keep_rows=PREVIEW_ROWS)
    existing = _version_with_sha(session, skill_id, summary.sha256) if summary.sha256 else None
    storable = summary.fatal is None and summary.n_examples > 0
    return DatasetPreview(
        format=summary.format,
        n_examples=summary.n_examples,
        n_train=summary.n_train,
        n_eval=summary.n_eval,
        n_rejected=summary.n_rejected,
        errors=[RowErrorRead.model_validate(error.as_dict()) for error in summary.errors],
        error_count=summary.error_count,
        flags=[ReportFlag.model_validate(flag) for flag in summary.flags],
        flag_count=summary.flag_count,
        sha256=summary.sha256,
        accepted_as_is=storable and summary.error_count == 0,
        accepted_with_skip=storable,
        existing_version=DatasetVersionRead.model_validate(existing) if existing is not None else None,
        rows=[_example_read(index, row) for index, row in enumerate(summary.first_rows)],
    )


def list_versions(session: Session, skill_id: int) -> Sequence[DatasetVersion]:
    """A skill's versions, oldest first."""
    require_skill(session, skill_id)
    query = select(DatasetVersion).where(DatasetVersion.skill_id == skill_id).order_by(DatasetVersion.version)
    return session.scalars(query).all()


def get_version(session: Session, version_id: int) -> DatasetVersion:
    """One version or 404."""
    version = session.get(DatasetVersion, version_id)
    if version is None:
        raise NotFound("dataset version", version_id)
    return version


def list_examples(session: Session, version_id: int, *, offset: int, limit: int) -> Sequence[Demonstration]:
    """Rows `offset` to `offset + limit - 1` of a version (the index makes this a range scan)."""
    get_version(session, version_id)
    query = (
        select(Demonstration)
        .where(Demonstration.dataset_version_id == version_id, Demonstration.index >= offset)
        .order_by(Demonstration.index)
        .limit(limit)
    )
    return session.scalars(query).all()


def diff_versions(session: Session, from_id: int, to_id: int, *, limit: int) -> DatasetDiff:
    """Rows added and removed between two versions of one skill, as multisets of normalised rows."""
    before, after = get_version(session, from_id), get_version(session, to_id)
    if before.skill_id != after.skill_id:
        raise Invalid(f"versions {from_id} and {to_id} belong to different skills", field="version_id")
    remaining = Counter(digest for digest, _ in _hashed_rows(session, from_id))
    added: list[ExampleRead] = []
    n_added = n_unchanged = 0
    for digest, row in _hashed_rows(session, to_id):
        if remaining[digest] > 0:
            remaining[digest] -= 1
            n_unchanged += 1
            continue
        n_added += 1
        if len(added) < limit:
            added.append(ExampleRead.model_validate(row))
    removed: list[ExampleRead] = []
    n_removed = sum(remaining.values())
    if n_removed:
        for digest, row in _hashed_rows(session, from_id):
            # Read to the end rather than break, so the streaming cursor is never left open.
            if remaining[digest] > 0 and len(removed) < limit:
                remaining[digest] -= 1
                removed.append(ExampleRead.model_validate(row))
    return DatasetDiff(
        from_version=DatasetVersionRead.model_validate(before),
        to_version=DatasetVersionRead.model_validate(after),
        n_added=n_added,
        n_removed=n_removed,
        n_unchanged=n_unchanged,
        added=added,
        removed=removed,
    )


def _refuse_unless_storable(summary: DatasetSummary, on_error: OnError) -> None:
    if summary.fatal is not None:
        raise InvalidDataset(summary.fatal.message, summary.errors, summary.error_count)
    if summary.error_count and on_error == "reject":
        raise InvalidDataset(
            f"{summary.n_rejected} of {summary.n_rejected + summary.n_examples} rows are invalid "
            f"({_count(summary.error_count, 'error')}); nothing was stored. Fix them, or upload with "
            f"on_error=skip to store the {_count(summary.n_examples, 'valid row')}.",
            summary.errors,
            summary.error_count,
        )
    if summary.n_examples == 0:
        if summary.error_count:
            raise InvalidDataset("no valid rows; nothing was stored", summary.errors, summary.error_count)
        raise InvalidDataset("the file has no rows", [RowError(None, "file", "no rows")])


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _lock_skill(session: Session, skill_id: int) -> None:
    """Serialise uploads to one skill until commit, so the identical-content check and the next
    version number cannot race (without it, concurrent uploads collide on the unique keys)."""
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite opens its transaction at the first write and SQLite has no FOR UPDATE: a no-op
        # write first takes the database's write lock, so the reads that follow see the last commit.
        session.execute(update(Skill).where(Skill.id == skill_id).values(id=Skill.id))
    else:
        session.execute(select(Skill.id).where(Skill.id == skill_id).with_for_update())


def _version_with_sha(session: Session, skill_id: int, sha256: str) -> DatasetVersion | None:
    query = select(DatasetVersion).where(DatasetVersion.skill_id == skill_id, DatasetVersion.sha256 == sha256)
    return session.scalar(query)


def _insert_rows(session: Session, version_id: int, path: Path, limits: ParseLimits) -> int:
    """Second pass over the file: Core executemany in batches, no ORM objects, flat memory."""
    batch: list[dict[str, Any]] = []
    index = 0
    for row in iter_rows(path, limits):
        if not isinstance(row, Example):
            continue
        batch.append(
            {
                "dataset_version_id": version_id,
                "index": index,
                "line": row.line,
                "split": row.split,
                "prompt": row.prompt,
                "demonstration": row.demonstration,
                "context": row.context,
                "reference": row.reference,
                "flags": row.flags or None,
            }
        )
        index += 1
        if len(batch) == INSERT_BATCH_ROWS:
            session.execute(insert(_DEMONSTRATION_TABLE), batch)
            batch = []
    if batch:
        session.execute(insert(_DEMONSTRATION_TABLE), batch)
    return index


def _hashed_rows(session: Session, version_id: int) -> Iterator[tuple[bytes, Demonstration]]:
    query = (
        select(Demonstration)
        .where(Demonstration.dataset_version_id == version_id)
        .order_by(Demonstration.index)
        .execution_options(yield_per=INSERT_BATCH_ROWS)
    )
    for row in session.scalars(query):
        canonical = canonical_row_bytes(
            prompt=row.prompt,
            demonstration=row.demonstration,
            context=row.context,
            reference=row.reference,
            split=row.split,
        )
        yield row_digest(canonical), row


def _example_read(index: int, row: Example) -> ExampleRead:
    return ExampleRead.model_validate(
        {
            "index": index,
            "line": row.line,
            "split": row.split,
            "prompt": row.prompt,
            "demonstration": row.demonstration,
            "context": row.context,
            "reference": row.reference,
            "flags": row.flags or None,
        }
    )
