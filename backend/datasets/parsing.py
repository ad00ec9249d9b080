"""Read a demonstration file from disk, row by row, without trusting it.

Pure: no database, no web framework. The upload is already on disk (streamed there with its size
capped); the file is memory-mapped and walked line by line or element by element, so a 10 MB line
is measured and refused without ever being copied, and memory stays flat whatever the file size.

Formats are detected by content, not file name:
- JSON array: the first non-blank byte is `[`; elements are found by a byte scanner that tracks
  strings and nesting (so each element gets its own line number, depth check and size check)
  and are parsed one at a time with orjson;
- JSONL: the first non-blank byte is `{`; one object per line, blank lines ignored;
- CSV: anything else whose header names `prompt` and `response` (or `completion` /
  `demonstration`); optional `context`, `split`, `reference` columns.

Every row is yielded in file order as an `Example` or a `RejectedRow`. A problem that makes the
rest of the file unreadable (empty file, unknown format, an unclosed JSON array, too many rows)
raises `DatasetFileError` instead. `summarise` runs the whole file once and computes the counts,
the capped error and flag lists and the sha256 of the normalised rows, handing each valid row to
an optional callback as it goes (the upload stores rows in that same pass).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.datasets.csv_rows import csv_rows
from backend.datasets.json_array import json_array_rows
from backend.datasets.rows import Example, RejectedRow, RowError
from backend.datasets.textfile import (
    NON_BLANK,
    Data,
    DatasetFileError,
    MappedFile,
    ParseLimits,
    content_start,
    parse_json_row,
    physical_lines,
    too_long,
)

__all__ = ["DatasetFileError", "DatasetSummary", "ParseLimits", "detect_format", "iter_rows", "summarise"]

FORMAT_JSONL = "jsonl"
FORMAT_JSON_ARRAY = "json_array"
FORMAT_CSV = "csv"
MAX_LISTED = 100  # errors and flags listed in a report; the totals count all of them


@dataclass
class DatasetSummary:
    """Everything known about a file after one pass: what the version row and its report hold."""

    format: str | None = None
    n_examples: int = 0
    n_train: int = 0
    n_eval: int = 0
    n_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    flags: list[dict[str, Any]] = field(default_factory=list)
    flag_count: int = 0
    sha256: str | None = None  # of the valid rows' canonical form; None when there are none
    fatal: RowError | None = None
    first_rows: list[Example] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "errors": [error.as_dict() for error in self.errors],
            "error_count": self.error_count,
            "flags": self.flags,
            "flag_count": self.flag_count,
        }


def summarise(
    path: Path,
    limits: ParseLimits,
    *,
    keep_rows: int = 0,
    on_example: Callable[[Example], None] | None = None,
    stop_at_first_error: bool = False,
) -> DatasetSummary:
    """Read the whole file once: counts, capped errors and flags, sha256; keeps the first rows.

    `on_example` gets every valid row in file order (while no row was refused, when
    `stop_at_first_error`: the caller will refuse the file then, so storing more is wasted)."""
    summary = DatasetSummary()
    digest = hashlib.sha256()

    def add_error(error: RowError) -> None:
        summary.error_count += 1
        if len(summary.errors) < MAX_LISTED:
            summary.errors.append(error)

    try:
        summary.format = detect_format(path, limits)
        for row in iter_rows(path, limits, data_format=summary.format):
            if isinstance(row, RejectedRow):
                summary.n_rejected += 1
                for error in row.errors:
                    add_error(error)
                continue
            summary.n_examples += 1
            if row.split == "eval":
                summary.n_eval += 1
            else:
                summary.n_train += 1
            digest.update(row.canonical_bytes())
            digest.update(b"\n")
            for flag in row.flags:
                summary.flag_count += 1
                if len(summary.flags) < MAX_LISTED:
                    summary.flags.append({"line": row.line, **flag})
            if len(summary.first_rows) < keep_rows:
                summary.first_rows.append(row)
            if on_example is not None and not (stop_at_first_error and summary.error_count):
                on_example(row)
    except DatasetFileError as exc:
        summary.fatal = exc.error
        add_error(exc.error)
    if summary.n_examples and summary.fatal is None:
        summary.sha256 = digest.hexdigest()
    return summary


def detect_format(path: Path, limits: ParseLimits) -> str:
    """JSON array, JSONL or CSV, from the first non-blank byte (CSV's header is checked when read)."""
    with MappedFile(path, limits) as data:
        first = NON_BLANK.search(data, content_start(data))
        if first is None:
            raise DatasetFileError(RowError(None, "file", "the file is empty (only blank lines)"))
        byte = data[first.start() : first.start() + 1]
    if byte == b"[":
        return FORMAT_JSON_ARRAY
    if byte == b"{":
        return FORMAT_JSONL
    return FORMAT_CSV


def iter_rows(
    path: Path, limits: ParseLimits, *, data_format: str | None = None
) -> Iterator[Example | RejectedRow]:
    """Every row in file order; raises DatasetFileError when the file cannot be read further."""
    data_format = data_format or detect_format(path, limits)
    readers = {FORMAT_JSONL: _jsonl_rows, FORMAT_JSON_ARRAY: json_array_rows, FORMAT_CSV: csv_rows}
    with MappedFile(path, limits) as data:
        for count, row in enumerate(readers[data_format](data, limits), start=1):
            if count > limits.max_examples:
                raise DatasetFileError(
                    RowError(row.line, None, f"more than {limits.max_examples} rows: split the file")
                )
            yield row


def _jsonl_rows(data: Data, limits: ParseLimits) -> Iterator[Example | RejectedRow]:
    for line, start, end in physical_lines(data):
        if end - start > limits.max_line_bytes:
            yield RejectedRow(line, [RowError(line, None, too_long(end - start, limits, "the line"))])
            continue
        raw = data[start:end]
        if not raw.strip():
            continue
        if line == 1 and raw.strip() == b"{":
            raise DatasetFileError(
                RowError(
                    1,
                    None,
                    "this looks like one pretty-printed JSON object: upload JSONL "
                    "(one object per line) or a JSON array of objects",
                )
            )
        yield parse_json_row(raw, line, limits)
