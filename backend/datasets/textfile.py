"""Shared pieces of reading an untrusted text file: limits, the memory map, line and text checks.

Pure: no database, no web framework. Every reader in this folder works on a read-only memory map,
so a line or row over the limit is measured by its offsets and refused without being copied.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from backend.datasets.rows import Example, RejectedRow, RowError, example_from_object

UTF8_BOM = b"\xef\xbb\xbf"
NON_BLANK = re.compile(rb"[^ \t\r\n]")

Data = mmap.mmap | bytes


@dataclass(frozen=True)
class ParseLimits:
    max_file_bytes: int
    max_line_bytes: int  # per physical line, and per row (a JSON element or a multi-line CSV record)
    max_json_depth: int
    max_examples: int


class DatasetFileError(Exception):
    """The file as a whole cannot be read; nothing in it is usable."""

    def __init__(self, error: RowError):
        super().__init__(error.message)
        self.error = error


class MappedFile:
    """The file memory-mapped read-only, after the checks that need no content."""

    def __init__(self, path: Path, limits: ParseLimits):
        self.path = path
        self.limits = limits

    def __enter__(self) -> Data:
        size = self.path.stat().st_size
        if size == 0:
            raise DatasetFileError(RowError(None, "file", "the file is empty"))
        if size > self.limits.max_file_bytes:
            raise DatasetFileError(
                RowError(
                    None,
                    "file",
                    f"the file is {size} bytes, over the {self.limits.max_file_bytes}-byte limit",
                )
            )
        self._file = self.path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def __exit__(self, *_exc: object) -> None:
        self._map.close()
        self._file.close()


def content_start(data: Data) -> int:
    return len(UTF8_BOM) if data[: len(UTF8_BOM)] == UTF8_BOM else 0


def physical_lines(data: Data) -> Iterator[tuple[int, int, int]]:
    """(line number, start, end) for each line; `end` excludes the newline and a CR before it."""
    size = len(data)
    position = content_start(data)
    line = 1
    while position < size:
        newline = data.find(b"\n", position)
        end = size if newline < 0 else newline
        next_position = end + 1
        if end > position and data[end - 1 : end] == b"\r":
            end -= 1
        yield line, position, end
        position = next_position
        line += 1


def text_problem(raw: bytes) -> str | None:
    """Why these bytes are not acceptable text: invalid UTF-8 or a NUL byte (None when fine)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    nul = raw.find(b"\x00")
    if nul >= 0:
        return f"contains a NUL byte at column {nul + 1}"
    return None


def too_long(size: int, limits: ParseLimits, what: str) -> str:
    return f"{what} is {size} bytes, over the {limits.max_line_bytes}-byte limit"


def parse_json_row(raw: bytes, line: int, limits: ParseLimits) -> Example | RejectedRow:
    """One JSON row already size-checked: text checks, orjson, depth check, then row validation."""
    problem = text_problem(raw) if b"\x00" in raw else None
    if problem is None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problem = text_problem(raw)
            if problem is not None:
                line += raw.count(b"\n", 0, _utf8_error_offset(raw))
            elif "depth" in str(exc) or "recursion" in str(exc).lower():
                problem = f"JSON nested deeper than {limits.max_json_depth} levels"
            else:
                line += exc.lineno - 1
                problem = f"invalid JSON: {exc.msg} (column {exc.colno})"
        else:
            # Nesting needs a bracket per level: most rows have too few to be worth walking.
            brackets = raw.count(b"[") + raw.count(b"{")
            if brackets > limits.max_json_depth and _depth(value) > limits.max_json_depth:
                problem = f"JSON nested deeper than {limits.max_json_depth} levels"
    if problem is not None:
        return RejectedRow(line, [RowError(line, None, problem)])
    return example_from_object(value, line=line)


def _utf8_error_offset(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, `{}` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in node if isinstance(child, dict | list))
    return deepest
