"""CSV files: a header naming prompt and a response column; records may span lines (quoted newlines)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from backend.datasets.rows import RESPONSE_KEYS, Example, RejectedRow, RowError, example_from_csv_record
from backend.datasets.textfile import (
    Data,
    DatasetFileError,
    ParseLimits,
    physical_lines,
    text_problem,
    too_long,
)


def csv_rows(data: Data, limits: ParseLimits) -> Iterator[Example | RejectedRow]:
    """CSV records may span lines (quoted newlines); each physical line is checked before csv sees it."""
    # Raised once, process-wide, so a long multi-line field reaches our own size check instead of
    # csv's 128 KiB default; our check (max_line_bytes per record) is the one that refuses.
    if csv.field_size_limit() < limits.max_line_bytes:
        csv.field_size_limit(limits.max_line_bytes)
    lines = _CsvLines(data, limits)
    reader = csv.reader(lines, strict=True)
    header_errors = lines.bad_lines
    header: list[str] = []
    while not header:  # blank lines before the header are skipped, as between rows
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetFileError(RowError(None, "file", "the file has no CSV header")) from None
        except csv.Error as exc:
            message = f"the CSV header cannot be read: {exc}"
            raise DatasetFileError(RowError(reader.line_num, None, message)) from None
        if header_errors:
            raise DatasetFileError(next(iter(header_errors.values())))
    header_line = reader.line_num
    columns = [name.strip().lower() for name in header]
    response_columns = [name for name in RESPONSE_KEYS if name in columns]
    if "prompt" not in columns or not response_columns:
        shown = ", ".join(repr(name) for name in columns[:8]) or "none"
        raise DatasetFileError(
            RowError(
                header_line,
                None,
                "unrecognised format: expected JSONL (one object per line), a JSON array of objects, or CSV "
                f"whose header names prompt and response; the first line's columns are {shown}",
            )
        )
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise DatasetFileError(RowError(header_line, None, f"the CSV header repeats {', '.join(duplicates)}"))
    if len(response_columns) > 1:
        raise DatasetFileError(
            RowError(
                header_line,
                response_columns[1],
                f"give only one of the columns {', '.join(response_columns)}",
            )
        )
    while True:
        first_line = reader.line_num + 1
        offset_before = lines.offset
        try:
            record = next(reader)
            problem = None
        except StopIteration:
            return
        except csv.Error as exc:
            record, problem = [], f"malformed CSV: {exc}"
        last_line = reader.line_num
        errors = [
            lines.bad_lines.pop(number)
            for number in range(first_line, last_line + 1)
            if number in lines.bad_lines
        ]
        if problem is not None:
            errors.append(RowError(first_line, None, problem))
        if not errors and not record:
            continue  # a blank line
        if not errors and lines.offset - offset_before > limits.max_line_bytes:
            errors.append(
                RowError(first_line, None, too_long(lines.offset - offset_before, limits, "the row"))
            )
        if not errors and len(record) != len(columns):
            message = f"the row has {len(record)} fields, the header has {len(columns)}"
            errors.append(RowError(first_line, None, message))
        if errors:
            yield RejectedRow(first_line, errors)
            continue
        values = dict(zip(columns, record, strict=True))
        yield example_from_csv_record(values, line=first_line, response_column=response_columns[0])


class _CsvLines:
    """Decoded physical lines for csv.reader. A bad line (too long, not UTF-8, NUL) is recorded
    and replaced by an empty line, so the record that contains it is refused and the rest of the
    file still reads."""

    def __init__(self, data: Data, limits: ParseLimits):
        self._lines = physical_lines(data)
        self._data = data
        self._limits = limits
        self.bad_lines: dict[int, RowError] = {}
        self.offset = 0  # end of the last line handed to csv, newline included

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line, start, end = next(self._lines)
        newline = self._data.find(b"\n", end)
        self.offset = len(self._data) if newline < 0 else newline + 1
        if end - start > self._limits.max_line_bytes:
            self.bad_lines[line] = RowError(line, None, too_long(end - start, self._limits, "the line"))
            return "\n"
        raw = self._data[start:end]
        problem = text_problem(raw) if b"\x00" in raw or not raw.isascii() else None
        if problem is not None:
            self.bad_lines[line] = RowError(line, None, problem)
            return "\n"
        # The CR that _physical_lines cut is put back: csv keeps CRLF inside quoted fields, rows.py
        # normalises line endings.
        return self._data[start : self.offset].decode("utf-8")
