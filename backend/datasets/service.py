"""Demonstration datasets: immutable versions of a skill's uploaded rows.

An upload is read once from its temporary file: each row is validated, hashed, counted and
stored as it is read (COPY on PostgreSQL, batched executemany on SQLite), so memory stays flat at
any size. The version row and all its demonstrations are written in the caller's one transaction,
under a savepoint that a refused file or identical content rolls back: a failure leaves nothing.
Services never commit; the route does.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.datasets.errors import InvalidDataset
from backend.datasets.models import DatasetVersion, Demonstration
from backend.datasets.parsing import DatasetSummary, ParseLimits, summarise
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

# SQLite executemany batch: 1000 to 20000 rows measured the same rows/s (sqlite3 loops in C), and
# the batch is what an upload holds in memory (~1.3 KB a row), so a modest one.
INSERT_BATCH_ROWS = 2000
PREVIEW_ROWS = 5
_COLUMN_NAMES = (
    "dataset_version_id",
    "index",
    "line",
    "split",
    "prompt",
    "demonstration",
    "context",
    "reference",
    "flags",
)
_COLUMNS = ", ".join(f'"{name}"' for name in _COLUMN_NAMES)  # "index" is a keyword


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
    the existing version instead (created False).

    One pass over the file validates, hashes, counts and stores each row as it is read, under a
    savepoint: a refused file or identical content rolls the savepoint back, leaving nothing."""
    require_skill(session, skill_id)
    _lock_skill(session, skill_id)
    latest = session.scalar(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.skill_id == skill_id)
    )
    savepoint = session.begin_nested()
    try:
        # Placeholders until the pass is done; nobody sees them before the commit.
        version = DatasetVersion(
            skill_id=skill_id,
            version=(latest or 0) + 1,
            sha256=f"pending-{uuid.uuid4().hex}",
            filename=filename,
            format="",
            n_examples=0,
            n_train=0,
            n_eval=0,
        )
        session.add(version)
        session.flush()
        with _row_writer(session, version.id) as write_row:
            summary = summarise(path, limits, on_example=write_row, stop_at_first_error=on_error == "reject")
        _refuse_unless_storable(summary, on_error)
        assert summary.sha256 is not None and summary.format is not None
        existing = _version_with_sha(session, skill_id, summary.sha256)
        if existing is not None:
            savepoint.rollback()
            return existing, False
        version.sha256 = summary.sha256
        version.format = summary.format
        version.n_examples = summary.n_examples
        version.n_train = summary.n_train
        version.n_eval = summary.n_eval
        version.n_rejected = summary.n_rejected
        version.report = {**summary.report(), "on_error": on_error}
        savepoint.commit()
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
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


@contextmanager
def _row_writer(session: Session, version_id: int) -> Iterator[Callable[[Example], None]]:
    """A callable that stores one row of the version, in the session's transaction.

    PostgreSQL: one COPY streams every row (a round trip per buffer, no per-row statement).
    SQLite: executemany of a prepared INSERT in batches of INSERT_BATCH_ROWS. Both bypass the ORM
    and SQLAlchemy's per-value bind processing; JSON columns get orjson text."""
    connection = session.connection()
    index = itertools.count()
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(f"COPY demonstration ({_COLUMNS}) FROM STDIN") as copy:
            yield lambda row: copy.write_row(_row_values(version_id, next(index), row))
        return
    batch: list[tuple[Any, ...]] = []
    statement = f"INSERT INTO demonstration ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMN_NAMES))})"

    def write(row: Example) -> None:
        batch.append(_row_values(version_id, next(index), row))
        if len(batch) >= INSERT_BATCH_ROWS:
            connection.exec_driver_sql(statement, batch)
            batch.clear()

    yield write
    if batch:
        connection.exec_driver_sql(statement, batch)


def _row_values(version_id: int, index: int, row: Example) -> tuple[Any, ...]:
    """One demonstration row in _COLUMN_NAMES order."""
    return (
        version_id,
        index,
        row.line,
        row.split,
        orjson.dumps(row.prompt).decode(),
        row.demonstration,
        row.context,
        row.reference,
        orjson.dumps(row.flags).decode() if row.flags else None,
    )


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
