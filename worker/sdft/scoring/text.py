"""Scorers on plain text: `exact`, `contains` and `regex`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from worker.sdft.scoring.base import Scorer, Verdict


@dataclass(frozen=True)
class ExactScorer(Scorer):
    name: ClassVar[str] = "exact"
    case_sensitive: bool = True
    collapse_whitespace: bool = False

    def __post_init__(self) -> None:
        self._require_bool("case_sensitive", "collapse_whitespace")

    def _normalise(self, text: str) -> str:
        text = text.strip()
        if self.collapse_whitespace:
            text = " ".join(text.split())
        return text if self.case_sensitive else text.casefold()

    def judge(self, output: str, reference: str) -> Verdict:
        if self._normalise(output) == self._normalise(reference):
            return Verdict(True, "output equals the reference")
        return Verdict(False, "output differs from the reference")


@dataclass(frozen=True)
class ContainsScorer(Scorer):
    name: ClassVar[str] = "contains"
    case_sensitive: bool = True
    # The reference may not touch a letter, digit or underscore on either side ("5" is not in "15").
    word_boundary: bool = False

    def __post_init__(self) -> None:
        self._require_bool("case_sensitive", "word_boundary")

    def check_reference(self, reference: str) -> None:
        super().check_reference(reference)
        if not reference.strip():
            raise ValueError("contains: reference is empty, every output would contain it")

    def judge(self, output: str, reference: str) -> Verdict:
        needle = re.escape(reference.strip())
        if self.word_boundary:
            needle = rf"(?<!\w){needle}(?!\w)"
        flags = 0 if self.case_sensitive else re.IGNORECASE
        if re.search(needle, output, flags):
            return Verdict(True, "reference found in the output")
        return Verdict(False, "reference not found in the output")


_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _as_number(text: str) -> float | None:
    cleaned = text.strip().replace(",", "")
    return float(cleaned) if _NUMBER_TEXT.fullmatch(cleaned) else None


@dataclass(frozen=True)
class RegexScorer(Scorer):
    """Search `pattern` in the output.

    Without a capture group the output is correct when the pattern matches anywhere (the
    reference is not consulted: the pattern is the criterion). With a capture group, the first
    group of the `occurrence` match ("last" by default, because a final answer tends to come
    after the working) must equal the reference: as text after stripping (casefolded with
    `ignore_case`), or as numbers with `numeric` ("12.0" equals "12", "1,200" equals "1200").
    """

    name: ClassVar[str] = "regex"
    pattern: str = ""
    ignore_case: bool = False
    occurrence: Literal["first", "last"] = "last"
    numeric: bool = False

    def __post_init__(self) -> None:
        self._require_bool("ignore_case", "numeric")
        if not isinstance(self.pattern, str) or not self.pattern:
            raise ValueError("regex: config needs a non-empty `pattern`")
        if self.occurrence not in ("first", "last"):
            raise ValueError(f"regex: occurrence must be 'first' or 'last', got {self.occurrence!r}")
        try:
            re.compile(self.pattern)
        except re.error as error:
            raise ValueError(f"regex: pattern {self.pattern!r} does not compile: {error}") from None

    @property
    def _compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)

    def check_reference(self, reference: str) -> None:
        super().check_reference(reference)
        if self.numeric and self._compiled.groups and _as_number(reference) is None:
            raise ValueError(f"regex: numeric scoring needs a number as reference, got {reference!r}")

    def judge(self, output: str, reference: str) -> Verdict:
        compiled = self._compiled
        matches = list(compiled.finditer(output))
        if not matches:
            return Verdict(False, "pattern found no match")
        if not compiled.groups:
            return Verdict(True, "pattern matched")
        match = matches[0] if self.occurrence == "first" else matches[-1]
        captured = (match.group(1) or "").strip()
        if self.numeric:
            got, want = _as_number(captured), _as_number(reference)
            equal = (
                got is not None and want is not None and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
            )
        elif self.ignore_case:
            equal = captured.casefold() == reference.strip().casefold()
        else:
            equal = captured == reference.strip()
        if equal:
            return Verdict(True, f"captured {captured!r} equals the reference")
        return Verdict(False, f"captured {captured!r}, expected {reference.strip()!r}")
