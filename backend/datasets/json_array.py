"""JSON array files: each element's bytes are found by a scanner, then parsed alone with orjson.

One `orjson.loads` of the whole file would need it all in memory and could not say which line a
bad row is on; the scanner gives each element its line, its size and its depth before parsing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from backend.datasets.rows import Example, RejectedRow, RowError
from backend.datasets.textfile import (
    NON_BLANK,
    Data,
    DatasetFileError,
    ParseLimits,
    content_start,
    parse_json_row,
    too_long,
)

_BLANK = re.compile(rb"[ \t\r\n]*")
# Inside a JSON value, outside strings: what changes nesting, starts a string, or ends a line.
# Runs of openers or closers are one match, so `[[[[...` a million deep is a handful of matches.
_STRUCTURE = re.compile(rb'[\[{]+|[\]}]+|"|\n')
# Inside a JSON string: its end, an escape, or a (stray) newline.
_IN_STRING = re.compile(rb'["\\\n]')
# The rest of a string up to its closing quote, escapes included, in one call; possessive, so a
# string that never closes fails in linear time. Strings with raw newlines (invalid JSON, but the
# line count must stay right) take the slow path.
_STRING_REST = re.compile(rb'(?:[^"\\\n]++|\\[^\n])*+"')
# A bare scalar element ends at a separator or whitespace.
_SCALAR_END = re.compile(rb"[,\]\s]")


def json_array_rows(data: Data, limits: ParseLimits) -> Iterator[Example | RejectedRow]:
    scanner = _ArrayScanner(data)
    opening = NON_BLANK.search(data, content_start(data))
    assert opening is not None  # detect_format saw the `[`
    scanner.advance_to(opening.start() + 1)
    expect_value = True  # after `[` (where `]` may follow) or after `,`
    first = True
    while True:
        scanner.skip_blank()
        byte = scanner.peek()
        if byte == b"":
            scanner.fail("the JSON array is not closed (is the file truncated?)")
        if byte == b"]":
            if not first and expect_value:
                scanner.fail("a ',' is followed by ']': remove the trailing comma")
            scanner.advance_to(scanner.position + 1)
            break
        if not expect_value:
            scanner.fail(f"expected ',' or ']' after the row that starts at line {scanner.last_row_line}")
        start, line = scanner.position, scanner.line
        depth = scanner.skip_value()
        scanner.last_row_line = line
        size = scanner.position - start
        if size > limits.max_line_bytes:
            yield RejectedRow(line, [RowError(line, None, too_long(size, limits, "the row"))])
        elif depth > limits.max_json_depth:
            message = f"JSON nested deeper than {limits.max_json_depth} levels"
            yield RejectedRow(line, [RowError(line, None, message)])
        else:
            yield parse_json_row(data[start : scanner.position], line, limits)
        first = False
        scanner.skip_blank()
        if scanner.peek() == b",":
            scanner.advance_to(scanner.position + 1)
            expect_value = True
        else:
            expect_value = False
    scanner.skip_blank()
    if scanner.peek() != b"":
        scanner.fail("unexpected content after the end of the JSON array")


class _ArrayScanner:
    """Finds the bytes of each JSON array element without parsing them, tracking the line number.

    It only tracks strings (so brackets inside them do not count) and bracket depth; whether an
    element is valid JSON is orjson's job once its bytes are known. Depth is just a counter, so
    `[[[[...` a million deep costs nothing but the scan.
    """

    def __init__(self, data: Data):
        self.data = data
        self.position = 0
        self.line = 1
        self.last_row_line = 1

    def advance_to(self, position: int) -> None:
        self.line += self.data[self.position : position].count(b"\n")
        self.position = position

    def peek(self) -> bytes:
        return self.data[self.position : self.position + 1]

    def skip_blank(self) -> None:
        match = _BLANK.match(self.data, self.position)
        if match is not None:
            self.advance_to(match.end())

    def fail(self, message: str) -> None:
        raise DatasetFileError(RowError(self.line, None, message))

    def skip_value(self) -> int:
        """Move past one value (object, array, string or bare scalar); returns its nesting depth."""
        data, start_line = self.data, self.line
        opening = self.peek()
        if opening == b'"':
            self._skip_string(start_line)
            return 0
        if opening not in (b"{", b"["):
            end = _SCALAR_END.search(data, self.position)
            self.advance_to(len(data) if end is None else end.start())
            return 0
        depth = deepest = 0
        while True:
            match = _STRUCTURE.search(data, self.position)
            if match is None:
                self.line = start_line
                self.fail("the row that starts here is not closed (is the file truncated?)")
            assert match is not None
            byte = match.group(0)
            if byte == b'"':
                self.position = match.start()
                self._skip_string(start_line)
                continue
            self.position = match.end()
            if byte == b"\n":
                self.line += 1
            elif byte[:1] in (b"{", b"["):
                depth += len(byte)
                deepest = max(deepest, depth)
            elif len(byte) >= depth:  # the value closes inside this run of closers
                self.position = match.start() + depth
                return deepest
            else:
                depth -= len(byte)

    def _skip_string(self, row_line: int) -> None:
        data = self.data
        position = self.position + 1  # past the opening quote
        fast = _STRING_REST.match(data, position)
        if fast is not None:
            self.position = fast.end()
            return
        while True:
            match = _IN_STRING.search(data, position)
            if match is None:
                self.line = row_line
                self.fail("a string in the row that starts here is not closed (is the file truncated?)")
            assert match is not None
            byte = match.group(0)
            if byte == b'"':
                self.position = match.end()
                return
            if byte == b"\n":
                self.line += 1
                position = match.end()
            else:  # a backslash escapes the next byte, whatever it is
                if data[match.end() : match.end() + 1] == b"\n":
                    self.line += 1
                position = match.end() + 1
