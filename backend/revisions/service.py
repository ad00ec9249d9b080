"""Revisions: a new dataset version made from an existing one plus added (and minus removed) rows.

The way a bad rollout becomes a better demonstration: the user edits it in the token inspector and
saves; the rows go through the same parser, validation, flags and content hash as an upload, and
become the skill's next immutable version (the old one stays). Identical content returns the
existing version, as an upload would.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.datasets.errors import InvalidDataset
from backend.datasets.models import DatasetVersion, Demonstration
from backend.datasets.service import get_version, parse_limits, store_upload
from backend.errors import Invalid
from backend.revisions.schemas import RevisionRequest
from backend.settings import Settings


def _row(demonstration: Demonstration) -> dict[str, Any]:
    row: dict[str, Any] = {
        "prompt": demonstration.prompt,
        "demonstration": demonstration.demonstration,
        "split": demonstration.split,
    }
    for name in ("context", "reference"):
        if getattr(demonstration, name) is not None:
            row[name] = getattr(demonstration, name)
    return row


def revise(
    session: Session, version_id: int, request: RevisionRequest, *, settings: Settings
) -> tuple[DatasetVersion, DatasetVersion, bool]:
    """(old version, new or identical existing version, created). Invalid added rows: 422, nothing stored."""
    old = get_version(session, version_id)
    if not request.add and not request.remove_indices:
        raise Invalid("nothing to change: give rows to add or indices to remove", field="add")
    rows = session.scalars(
        select(Demonstration).where(Demonstration.dataset_version_id == old.id).order_by(Demonstration.index)
    ).all()
    removed = set(request.remove_indices)
    unknown = sorted(removed - {row.index for row in rows})
    if unknown:
        raise Invalid(f"version {old.id} has no row {unknown[0]}", field="remove_indices")
    kept = [row for row in rows if row.index not in removed]
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=uploads, prefix="revision-", suffix=".jsonl")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for row in kept:
                out.write(json.dumps(_row(row), ensure_ascii=False) + "\n")
            for added in request.add:
                out.write(json.dumps(added.model_dump(exclude_none=True), ensure_ascii=False) + "\n")
        source = f"; {request.source}" if request.source else ""
        try:
            new, created = store_upload(
                session,
                skill_id=old.skill_id,
                path=Path(name),
                filename=f"revision of v{old.version}{source}"[:255],
                on_error="reject",
                limits=parse_limits(settings),
            )
        except InvalidDataset as error:
            # Line numbers are those of the combined rows: say where the added ones start.
            error.details["added_rows_start_at_line"] = len(kept) + 1
            raise
    finally:
        os.unlink(name)
    return old, new, created
