"""A dataset version as CSV, safe to open in a spreadsheet.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets, and demonstrations come from uploads: such a cell is prefixed with
a single quote (OWASP's advice), which spreadsheets show as text. Rows are read in pages by
index, so memory stays flat for any size; the generator has its own session because the
request's session is closed before a streamed body is sent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from backend.datasets.models import Demonstration
from backend.db import get_sessionmaker

COLUMNS = ("prompt", "response", "context", "reference", "split")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PAGE_ROWS = 1000


def neutralise_formula(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def prompt_cell(prompt: list[dict[str, Any]]) -> str:
    """A single user turn as its text (the CSV upload format); a conversation as its JSON messages."""
    if len(prompt) == 1 and prompt[0].get("role") == "user":
        return str(prompt[0].get("content", ""))
    return json.dumps(prompt, ensure_ascii=False)


def csv_lines(version_id: int) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield _drain(buffer)
    next_index = 0
    while True:
        with get_sessionmaker()() as session:
            rows = session.scalars(
                select(Demonstration)
                .where(Demonstration.dataset_version_id == version_id, Demonstration.index >= next_index)
                .order_by(Demonstration.index)
                .limit(PAGE_ROWS)
            ).all()
        if not rows:
            return
        for row in rows:
            cells = (
                prompt_cell(row.prompt),
                row.demonstration,
                row.context or "",
                row.reference or "",
                row.split,
            )
            writer.writerow([neutralise_formula(cell) for cell in cells])
        next_index = rows[-1].index + 1
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data
