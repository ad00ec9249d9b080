"""Demonstrations: the rows a skill is trained on, read from JSONL, a JSON array or CSV.

No torch here. A row is one of
  {"prompt": "text" | [chat messages], "demonstration": "text", "context"?: "text", "reference"?: "text"}
  {"messages": [..., {"role": "assistant", "content": demonstration}], "context"?, "reference"?}
and a CSV has the columns prompt, demonstration and optionally context, reference. Errors name the
line (1-based; for a JSON array, the element's index + 1) and the field.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


class DataError(ValueError):
    """A row of a demonstration file cannot be used; names the line and the field."""

    def __init__(self, line: int | None, field: str, message: str, *, path: str | None = None) -> None:
        where = f"{path}:" if path else ""
        where += f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{field}: {message}")
        self.line = line
        self.field = field
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Example:
    """One demonstration: the student's prompt (chat messages ending with a user turn) and its answer."""

    prompt: list[dict[str, str]]
    demonstration: str
    context: str | None = None  # privileged information only the teacher sees
    reference: str | None = None  # what a scorer compares against (evaluation only)
    line: int | None = None  # where it came from, for error messages


def parse_messages(value: Any, *, line: int | None, field: str = "prompt") -> list[dict[str, str]]:
    """A prompt as chat messages: a plain string becomes one user message."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(line, field, "is empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise DataError(line, field, "must be a string or a non-empty list of chat messages")
    messages: list[dict[str, str]] = []
    for index, message in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            raise DataError(line, where, "must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise DataError(line, f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise DataError(line, f"{where}.content", "must be a string")
        messages.append({"role": role, "content": content})
    return messages


def example_from_row(row: Any, *, line: int | None) -> Example:
    """Validate one parsed row (a dict) into an Example."""
    if not isinstance(row, dict):
        raise DataError(line, "row", f"must be an object, got {type(row).__name__}")
    if "messages" in row and "prompt" not in row:
        messages = parse_messages(row["messages"], line=line, field="messages")
        if messages[-1]["role"] != "assistant":
            raise DataError(line, "messages", "the last message must be the assistant's demonstration")
        prompt, demonstration = messages[:-1], messages[-1]["content"]
        if not prompt:
            raise DataError(line, "messages", "needs at least one message before the demonstration")
    else:
        if "prompt" not in row:
            raise DataError(line, "prompt", "is missing")
        prompt = parse_messages(row["prompt"], line=line)
        # The same row shapes the upload API accepts: response | completion | demonstration.
        demonstration = next(
            (row[key] for key in ("demonstration", "response", "completion") if row.get(key) is not None),
            None,
        )
        if demonstration is None:
            raise DataError(line, "demonstration", "is missing (also accepted: response, completion)")
    if not isinstance(demonstration, str) or not demonstration.strip():
        raise DataError(line, "demonstration", "must be a non-empty string")
    if prompt[-1]["role"] != "user":
        raise DataError(line, "prompt", "must end with a user message")
    optional: dict[str, str | None] = {}
    for name in ("context", "reference"):
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise DataError(line, name, "must be a string")
        optional[name] = value or None
    return Example(prompt=prompt, demonstration=demonstration, line=line, **optional)


def parse_examples(text: str, *, fmt: str) -> list[Example]:
    """Parse a whole file's text; fmt is "jsonl", "json" or "csv"."""
    if fmt == "jsonl":
        examples = []
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as error:
                raise DataError(number, "row", f"is not valid JSON ({error.msg})") from None
            examples.append(example_from_row(row, line=number))
        return examples
    if fmt == "json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(error.lineno, "file", f"is not valid JSON ({error.msg})") from None
        if not isinstance(rows, list):
            raise DataError(None, "file", "a .json file must hold an array of rows")
        return [example_from_row(row, line=index + 1) for index, row in enumerate(rows)]
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or not {"prompt", "demonstration"} <= set(reader.fieldnames):
            raise DataError(1, "header", "a CSV file needs the columns prompt and demonstration")
        # line_num counts physical lines, so quoted multi-line cells still name the right line.
        examples = []
        for row in reader:
            cleaned = {key: value for key, value in row.items() if key is not None and value != ""}
            examples.append(example_from_row(cleaned, line=reader.line_num))
        return examples
    raise DataError(None, "format", f"unknown format {fmt!r} (jsonl, json, csv)")


def read_examples(path: str | Path) -> list[Example]:
    """Read a demonstration file; the format comes from the suffix (.jsonl, .json, .csv)."""
    path = Path(path)
    fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            None, "file", f"{path}: unknown file type {path.suffix!r} (use .jsonl, .json or .csv)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(None, "file", f"{path} does not exist") from None
    except UnicodeDecodeError:
        raise DataError(None, "file", f"{path} is not UTF-8 text") from None
    try:
        examples = parse_examples(text, fmt=fmt)
    except DataError as error:
        raise DataError(error.line, error.field, error.message, path=str(path)) from None
    if not examples:
        raise DataError(None, "file", f"{path} holds no rows")
    return examples


def examples_hash(examples: list[Example]) -> str:
    """A stable content hash of a training set, recorded in checkpoint manifests."""
    import hashlib

    digest = hashlib.sha256()
    for example in examples:
        row = {"prompt": example.prompt, "demonstration": example.demonstration, "context": example.context}
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()
