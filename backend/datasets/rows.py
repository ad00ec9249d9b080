"""One demonstration row: validation, normalisation to chat messages, canonical hashing, flags.

Pure: no database, no web framework. The file readers in `parsing.py` turn each line, array
element or CSV record into a Python object and hand it here; this module decides whether it is a
demonstration and what its normalised form is.

Normalised form: the prompt is always a list of chat messages `{role, content}` (a string prompt
becomes one user turn), line endings are `\n`, empty optional fields are `None`, `split` is set.
The canonical serialisation of that form (sorted keys, orjson) is what the dataset's sha256 and
the per-row diff hash cover, so the same rows hash the same whether they came as JSONL, a JSON
array or CSV.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

ROLES = ("system", "user", "assistant")
SPLITS = ("train", "eval")
RESPONSE_KEYS = ("response", "completion", "demonstration")
DEFAULT_SPLIT = "train"

Message = dict[str, str]
# Collects (field, message) for the row being validated; every problem is reported, not just the first.
ErrorSink = Callable[[str | None, str], None]


@dataclass(frozen=True)
class RowError:
    """Why a row (or the file) was refused; `line` is 1-based, `field` names the offending key."""

    line: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Example:
    """A valid, normalised demonstration row."""

    line: int
    prompt: list[Message]
    demonstration: str
    context: str | None
    reference: str | None
    split: str
    # Not errors: things a human should look at (see `find_flags`).
    flags: list[dict[str, str]] = field(default_factory=list)

    def canonical_bytes(self) -> bytes:
        return canonical_row_bytes(
            prompt=self.prompt,
            demonstration=self.demonstration,
            context=self.context,
            reference=self.reference,
            split=self.split,
        )


@dataclass(frozen=True)
class RejectedRow:
    """A row that is not a valid demonstration, with every reason found."""

    line: int
    errors: list[RowError]


def canonical_row_bytes(
    *, prompt: list[Message], demonstration: str, context: str | None, reference: str | None, split: str
) -> bytes:
    """The serialisation hashes are taken over; flags and line numbers are not content."""
    row = {
        "prompt": [{"role": message["role"], "content": message["content"]} for message in prompt],
        "demonstration": demonstration,
        "context": context,
        "reference": reference,
        "split": split,
    }
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


def row_digest(canonical: bytes) -> bytes:
    return hashlib.sha256(canonical).digest()


# Demonstrations are pasted verbatim into the teacher prompt: text that talks to the model there
# becomes what the student learns. These are flagged for a human, not refused: a tutorial on
# prompt injection is a legitimate demonstration. Each rule is (kind, trigger words, pattern):
# the pattern only runs when a trigger occurs in the lower-cased text (five regex scans of every
# row cost more than parsing it). ASCII case-folding keeps the triggers a necessary condition.
_FLAGS = re.IGNORECASE | re.ASCII
_FLAG_RULES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    (
        "instruction_override",
        ("ignore", "disregard", "forget", "override", "bypass"),
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?"
            r"\b(?:previous|prior|above|earlier|preceding|all|any|your|the|system)\b[^.\n]{0,20}?"
            r"\b(?:instructions?|prompts?|rules|directions|guidelines|context)\b",
            _FLAGS,
        ),
    ),
    (
        "role_override",
        (
            "you are now",
            "from now on",
            "new instruction",
            "developer mode",
            "jailbreak",
            "do anything now",
            "pretend",
        ),
        re.compile(
            r"\byou are now\b|\bfrom now on,? you\b|\bnew instructions?\s*:|\bdeveloper mode\b"
            r"|\bjailbreak|\bdo anything now\b|\bpretend (?:to be|you are)\b",
            _FLAGS,
        ),
    ),
    (
        "prompt_extraction",
        ("system prompt", "instructions"),
        re.compile(
            r"\b(?:reveal|print|show|repeat|output|leak)\b[^.\n]{0,30}?"
            r"\b(?:system prompt|your (?:hidden )?instructions|hidden instructions)\b",
            _FLAGS,
        ),
    ),
    (
        "chat_markup",
        ("<|", "inst]", "<<sys>>", "<</sys>>"),
        re.compile(
            r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\|>"
            r"|\[/?INST\]|<</?SYS>>",
            _FLAGS,
        ),
    ),
    (
        # A teacher template (the paper's, or the default) inside a demonstration leaks its framing
        # into the student.
        "teacher_template",
        (
            "this is an example for a response",
            "now answer with a response of your own",
            "answer in exactly the same format as this example",
        ),
        re.compile(
            r"this is an example for a response|now answer with a response of your own"
            r"|answer in exactly the same format as this example",
            _FLAGS,
        ),
    ),
)
MAX_FLAG_MATCH_CHARS = 80
# Every rule's triggers in one tuple: nearly all text has none, and one `any` over them all costs
# about half of five per-rule ones. (One regex alternation of the five patterns, or of the
# triggers, was measured at 5x and 1.2x the cost of this: Python's re has no multi-literal search.)
_ALL_TRIGGERS = tuple(dict.fromkeys(trigger for _, triggers, _ in _FLAG_RULES for trigger in triggers))


def find_flags(texts: dict[str, str | None]) -> list[dict[str, str]]:
    """Passages that address the model rather than answer the prompt, one per kind and field."""
    flags: list[dict[str, str]] = []
    for field_name, text in texts.items():
        if not text:
            continue
        lowered = text.lower()
        if not any(trigger in lowered for trigger in _ALL_TRIGGERS):
            continue
        for kind, triggers, pattern in _FLAG_RULES:
            if not any(trigger in lowered for trigger in triggers):
                continue
            match = pattern.search(text)
            if match is not None:
                flags.append(
                    {"field": field_name, "kind": kind, "match": match.group(0)[:MAX_FLAG_MATCH_CHARS]}
                )
    return flags


def example_from_object(obj: Any, *, line: int) -> Example | RejectedRow:
    """Validate and normalise one JSON row (a JSONL line or a JSON array element)."""
    errors: list[RowError] = []

    def error(field_name: str | None, message: str) -> None:
        errors.append(RowError(line, field_name, message))

    if not isinstance(obj, dict):
        return RejectedRow(
            line, [RowError(line, None, f"a row must be a JSON object, got {_json_type(obj)}")]
        )

    response_keys = [key for key in RESPONSE_KEYS if key in obj]
    prompt: list[Message] | None = None
    demonstration: str | None = None
    if "messages" in obj:
        if "prompt" in obj or response_keys:
            error("messages", "give either messages or prompt with a response, not both")
        else:
            prompt, demonstration = _split_messages(obj["messages"], error)
    elif "prompt" in obj:
        prompt = _prompt_messages(obj["prompt"], error)
        if len(response_keys) > 1:
            error(response_keys[1], f"give only one of {', '.join(response_keys)}")
        elif not response_keys:
            error("response", "missing: a prompt needs a response (or completion, or demonstration)")
        else:
            demonstration = _text(obj[response_keys[0]], response_keys[0], error, required=True)
    else:
        error("prompt", "missing: give messages, or prompt with response")

    context = _text(obj.get("context"), "context", error, required=False)
    reference = _reference(obj.get("reference"), error)
    split = _split(obj.get("split"), error)
    if errors or prompt is None or demonstration is None:
        return RejectedRow(line, errors)
    return _example(line, prompt, demonstration, context, reference, split)


def example_from_csv_record(
    record: dict[str, str], *, line: int, response_column: str
) -> Example | RejectedRow:
    """Validate and normalise one CSV record (header names lower-cased); CSV has no null, so '' is absent."""
    errors: list[RowError] = []

    def error(field_name: str | None, message: str) -> None:
        errors.append(RowError(line, field_name, message))

    prompt_text = _text(record.get("prompt", ""), "prompt", error, required=True)
    demonstration = _text(record.get(response_column, ""), response_column, error, required=True)
    context = _text(record.get("context") or None, "context", error, required=False)
    reference = _text(record.get("reference") or None, "reference", error, required=False)
    split = _split(record.get("split") or None, error)
    if errors or prompt_text is None or demonstration is None:
        return RejectedRow(line, errors)
    return _example(
        line, [{"role": "user", "content": prompt_text}], demonstration, context, reference, split
    )


def _example(
    line: int,
    prompt: list[Message],
    demonstration: str,
    context: str | None,
    reference: str | None,
    split: str,
) -> Example:
    flags = find_flags({"demonstration": demonstration, "context": context})
    return Example(line, prompt, demonstration, context, reference, split, flags)


def _split_messages(value: Any, error: ErrorSink) -> tuple[list[Message] | None, str | None]:
    """`messages` row: the last assistant turn is the demonstration, the turns before it the prompt."""
    messages = _messages(value, "messages", error)
    if messages is None:
        return None, None
    last = len(messages) - 1
    if messages[last]["role"] != "assistant":
        error(
            f"messages[{last}].role",
            f"the last message must be the assistant's demonstration, got role {messages[last]['role']!r}",
        )
        return None, None
    prompt = messages[:last]
    if not prompt:
        error("messages", "no prompt: the demonstration needs at least one user message before it")
        return None, None
    if prompt[-1]["role"] != "user":
        error(f"messages[{last - 1}].role", "the message before the demonstration must be a user turn")
        return None, None
    return prompt, messages[last]["content"]


def _prompt_messages(value: Any, error: ErrorSink) -> list[Message] | None:
    if isinstance(value, str) or value is None:
        content = _text(value, "prompt", error, required=True)
        return None if content is None else [{"role": "user", "content": content}]
    if not isinstance(value, list):
        error("prompt", f"must be a string or a list of messages, got {_json_type(value)}")
        return None
    messages = _messages(value, "prompt", error)
    if messages is None:
        return None
    if messages[-1]["role"] != "user":
        error(f"prompt[{len(messages) - 1}].role", "a prompt must end with a user turn")
        return None
    return messages


def _messages(value: Any, field_name: str, error: ErrorSink) -> list[Message] | None:
    if not isinstance(value, list):
        error(field_name, f"must be a list of messages, got {_json_type(value)}")
        return None
    if not value:
        error(field_name, "is empty")
        return None
    messages: list[Message] = []
    for position, message in enumerate(value):
        where = f"{field_name}[{position}]"
        if not isinstance(message, dict):
            error(where, f"a message must be an object with role and content, got {_json_type(message)}")
            continue
        role = message.get("role")
        if role not in ROLES:
            shown = role if isinstance(role, str) else _json_type(role)
            error(f"{where}.role", f"role {shown!r} is not one of {', '.join(ROLES)}")
        content = _text(message.get("content"), f"{where}.content", error, required=True)
        if role in ROLES and content is not None:
            messages.append({"role": str(role), "content": content})
    return messages if len(messages) == len(value) else None


def _text(value: Any, field_name: str, error: ErrorSink, *, required: bool) -> str | None:
    if value is None:
        if required:
            error(field_name, "missing")
        return None
    if not isinstance(value, str):
        error(field_name, f"must be a string, got {_json_type(value)}")
        return None
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; a JSON "\u0000" escape gets here past the byte check.
        error(field_name, "contains a NUL character")
        return None
    if not value.strip():
        if required:
            error(field_name, "is empty")
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _reference(value: Any, error: ErrorSink) -> str | None:
    """Scorers read references as text; a JSON value (a number, a list of tool calls) is kept as JSON."""
    if value is None or isinstance(value, str):
        return _text(value, "reference", error, required=False)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _split(value: Any, error: ErrorSink) -> str:
    if value is None:
        return DEFAULT_SPLIT
    if value not in SPLITS:
        shown = value if isinstance(value, str) else _json_type(value)
        error("split", f"must be one of {', '.join(SPLITS)}, got {shown!r}")
        return DEFAULT_SPLIT
    return str(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
