"""Scorers on structured output: `json_match`, and the paper's `choice` and `tool_calls`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from worker.sdft.scoring.base import Scorer, Verdict


def json_equal(left: Any, right: Any) -> bool:
    """Structural equality of parsed JSON: key order ignored, list order kept.

    Unlike Python's `==`, a boolean never equals a number (`True == 1` in Python). Integers and
    floats compare by value (`1 == 1.0`), as JSON does not tell them apart.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


_FENCED_BLOCK = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
# Bounds the work on pathological outputs ("[[[[..."): each start position costs one decode attempt.
_MAX_DECODE_STARTS = 200
_NOTHING = object()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return _NOTHING


def extract_json_value(output: str, *, allow_surrounding_text: bool = True) -> tuple[bool, Any]:
    """Find the JSON value a model meant to output. Returns (found, value).

    Tries, in order: the whole output; the inside of each ``` code fence (an unclosed fence
    runs to the end, as generation often stops there); and, when `allow_surrounding_text`, the
    first object or array that decodes starting at a `{` or `[` anywhere in the output.
    """
    candidates = [output.strip()] + [block.strip() for block in _FENCED_BLOCK.findall(output)]
    for candidate in candidates:
        value = _loads(candidate)
        if value is not _NOTHING:
            return True, value
    if allow_surrounding_text:
        decoder = json.JSONDecoder()
        starts = [index for index, char in enumerate(output) if char in "{["][:_MAX_DECODE_STARTS]
        for start in starts:
            try:
                value, _ = decoder.raw_decode(output, start)
            except (json.JSONDecodeError, RecursionError):
                continue
            return True, value
    return False, None


@dataclass(frozen=True)
class JsonMatchScorer(Scorer):
    name: ClassVar[str] = "json_match"
    allow_surrounding_text: bool = True

    def __post_init__(self) -> None:
        self._require_bool("allow_surrounding_text")

    def check_reference(self, reference: str) -> None:
        super().check_reference(reference)
        if _loads(reference.strip()) is _NOTHING:
            raise ValueError(f"json_match: reference is not valid JSON: {reference[:80]!r}")

    def judge(self, output: str, reference: str) -> Verdict:
        expected = _loads(reference.strip())
        if expected is _NOTHING:
            raise ValueError(f"json_match: reference is not valid JSON: {reference[:80]!r}")
        found, value = extract_json_value(output, allow_surrounding_text=self.allow_surrounding_text)
        if not found:
            return Verdict(False, "no JSON value in the output")
        if json_equal(value, expected):
            return Verdict(True, "JSON equals the reference")
        return Verdict(False, "JSON differs from the reference")


# --------------------------------------------------------------------------- the paper's scorers

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class ChoiceScorer(Scorer):
    """The paper's science scoring: the last `<answer>...</answer>` pair holds the letter.

    Its system prompt asks for exactly `<answer>\\nA\\n</answer>`, so the content is compared
    after stripping whitespace and nothing else: "<answer>A: CCO...</answer>", a bare "A" and
    an unclosed tag are all wrong.
    """

    name: ClassVar[str] = "choice"
    case_sensitive: bool = True

    def __post_init__(self) -> None:
        self._require_bool("case_sensitive")

    def check_reference(self, reference: str) -> None:
        super().check_reference(reference)
        if not reference.strip():
            raise ValueError("choice: reference is empty, expected an option letter such as 'A'")

    def judge(self, output: str, reference: str) -> Verdict:
        answers = _ANSWER_TAG.findall(output)
        if not answers:
            return Verdict(False, "no <answer>...</answer> in the output")
        answer, expected = answers[-1].strip(), reference.strip()
        if not self.case_sensitive:
            answer, expected = answer.casefold(), expected.casefold()
        if answer == expected:
            return Verdict(True, f"answered {answers[-1].strip()!r}")
        return Verdict(False, f"answered {answers[-1].strip()!r}, expected {reference.strip()!r}")


@dataclass(frozen=True)
class ToolCall:
    """One `Action:` / `Action Input:` pair; `arguments` is parsed JSON, or the raw text if not JSON."""

    name: str
    arguments: Any


# The paper's evaluation regex, verbatim. Its lazy `\{.*?\}` stops at the first `}`, so nested
# objects are cut short and never parse; `\w+` rejects names such as "[Optional]update".
_PAPER_ACTION = re.compile(r"Action:\s*(\w+)\s*\n\s*Action[_ ]?Input:\s*(\{.*?\}|\S+)", re.DOTALL)
# The "balanced" parser: any name without spaces, and the input decoded as one whole JSON value.
_BALANCED_ACTION = re.compile(r"Action:[ \t]*(\S+)[ \t]*\r?\n\s*Action[_ ]?Input:[ \t]*")


def _parsed_or_text(text: str) -> Any:
    value = _loads(text)
    return text.strip() if value is _NOTHING else value


def _normalise_arguments(arguments: Any) -> Any:
    # The paper re-parses string inputs, so '"{\"a\": 1}"' and {"a": 1} compare equal.
    if isinstance(arguments, str):
        value = _loads(arguments)
        return arguments if value is _NOTHING else _normalise_arguments(value)
    return arguments


def parse_tool_calls(text: str, *, parser: Literal["paper", "balanced"] = "paper") -> list[ToolCall]:
    """Every `Action: <name>` line followed by an `Action Input: <json>` line, in order.

    parser="paper" is the paper's evaluation regex, kept so our numbers compare with its
    Table 1. parser="balanced" fixes its two blind spots (nested JSON inputs, names with
    punctuation); two of the 97 tool-use rows need it for their own golden answer to parse.
    """
    if parser == "paper":
        return [ToolCall(name.strip(), _parsed_or_text(raw)) for name, raw in _PAPER_ACTION.findall(text)]
    if parser != "balanced":
        raise ValueError(f"tool_calls: parser must be 'paper' or 'balanced', got {parser!r}")
    decoder = json.JSONDecoder()
    calls = []
    for match in _BALANCED_ACTION.finditer(text):
        start = match.end()
        try:
            arguments, _ = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            token = re.match(r"\S*", text[start:])
            arguments = token.group(0) if token else ""
        calls.append(ToolCall(match.group(1).strip(), arguments))
    return calls


def parse_golden_tool_calls(
    reference: str, *, parser: Literal["paper", "balanced"] = "paper"
) -> list[ToolCall]:
    """The expected calls: a JSON list of {"Action", "Action_Input"} (the paper's `golden_answer`),
    or demonstration text in the `Action:` / `Action Input:` format."""
    value = _loads(reference.strip())
    if isinstance(value, list):
        calls = []
        for index, item in enumerate(value):
            if not isinstance(item, dict) or "Action" not in item or "Action_Input" not in item:
                raise ValueError(
                    f"tool_calls: reference item {index} needs the keys 'Action' and 'Action_Input'"
                )
            calls.append(ToolCall(str(item["Action"]).strip(), item["Action_Input"]))
        return calls
    calls = parse_tool_calls(reference, parser=parser)
    if not calls:
        raise ValueError(
            "tool_calls: reference is neither a JSON list of {Action, Action_Input} nor text with "
            f"'Action:' / 'Action Input:' lines: {reference[:80]!r}"
        )
    return calls


@dataclass(frozen=True)
class ToolCallsScorer(Scorer):
    """The paper's tool-use scoring: the list of calls equals the golden list, in order.

    Names must be equal; inputs equal after JSON parsing, with key order ignored. One
    deliberate difference: a JSON `true` never equals `1` (the paper compares with Python's
    `==`, where it does).
    """

    name: ClassVar[str] = "tool_calls"
    parser: Literal["paper", "balanced"] = "paper"

    def __post_init__(self) -> None:
        if self.parser not in ("paper", "balanced"):
            raise ValueError(f"tool_calls: parser must be 'paper' or 'balanced', got {self.parser!r}")

    def check_reference(self, reference: str) -> None:
        super().check_reference(reference)
        parse_golden_tool_calls(reference, parser=self.parser)

    def judge(self, output: str, reference: str) -> Verdict:
        golden = parse_golden_tool_calls(reference, parser=self.parser)
        predicted = parse_tool_calls(output, parser=self.parser)
        if len(predicted) != len(golden):
            return Verdict(False, f"{len(predicted)} action(s), expected {len(golden)}")
        for index, (got, want) in enumerate(zip(predicted, golden, strict=True)):
            if got.name != want.name:
                return Verdict(False, f"action {index + 1} is {got.name!r}, expected {want.name!r}")
            if not json_equal(_normalise_arguments(got.arguments), _normalise_arguments(want.arguments)):
                return Verdict(False, f"action {index + 1} ({got.name}) has different inputs")
        return Verdict(True, f"{len(golden)} action(s) match")
