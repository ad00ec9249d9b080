"""Programmatic scorers for evaluation sets, and the unbiased pass@k estimator.

Every scorer answers one question: is this model output correct for this reference? Scoring
stays programmatic on purpose: demonstrations are pasted verbatim into the teacher prompt, so a
model judge could be steered by the very data it grades (see DESIGN.md).

    scorer = get_scorer("regex", pattern=r"(-?\\d+)", numeric=True)
    scorer.score("7 + 5 = 12", "12")          # True
    scorer.judge("no number", "12").reason    # 'pattern found no match'

Scorers (names are what a skill stores in `skill.scorer`, the keyword arguments its `scorer_config`):
- `exact`      output equals the reference after stripping; `case_sensitive`, `collapse_whitespace`.
- `contains`   the reference occurs in the output; `case_sensitive`, `word_boundary`.
- `regex`      `pattern` is searched in the output; with a capture group, the group of the
               `occurrence` ("last" by default) match must equal the reference (`numeric` compares
               numbers); `ignore_case`.
- `json_match` the first JSON value in the output (code fences tolerated, surrounding prose too
               unless `allow_surrounding_text=False`) equals the reference's JSON; key order is
               ignored, list order is not, `true` never equals `1`.
- `choice`     the paper's science scoring: the text inside the last `<answer>...</answer>` pair,
               stripped, equals the reference letter; no tags means wrong.
- `tool_calls` the paper's tool-use scoring; see `parse_tool_calls`.

No torch anywhere in this package: the CLI and the benchmark import it cheaply.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from worker.sdft.scoring.base import Scorer, Verdict
from worker.sdft.scoring.estimators import mean_pass_at_k, pass_at_k
from worker.sdft.scoring.structured import (
    ChoiceScorer,
    JsonMatchScorer,
    ToolCall,
    ToolCallsScorer,
    extract_json_value,
    json_equal,
    parse_golden_tool_calls,
    parse_tool_calls,
)
from worker.sdft.scoring.text import ContainsScorer, ExactScorer, RegexScorer

__all__ = [
    "SCORER_NAMES",
    "ChoiceScorer",
    "ContainsScorer",
    "ExactScorer",
    "JsonMatchScorer",
    "RegexScorer",
    "Scorer",
    "ToolCall",
    "ToolCallsScorer",
    "Verdict",
    "extract_json_value",
    "get_scorer",
    "json_equal",
    "mean_pass_at_k",
    "parse_golden_tool_calls",
    "parse_tool_calls",
    "pass_at_k",
]

_REGISTRY: dict[str, type[Scorer]] = {
    scorer.name: scorer
    for scorer in (ExactScorer, ContainsScorer, RegexScorer, JsonMatchScorer, ChoiceScorer, ToolCallsScorer)
}
SCORER_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_scorer(name: str, **config: Any) -> Scorer:
    """Build the scorer `name` with its configuration; ValueError names what is wrong."""
    scorer_class = _REGISTRY.get(name)
    if scorer_class is None:
        raise ValueError(f"unknown scorer {name!r}; choose one of: {', '.join(SCORER_NAMES)}")
    accepted = [field.name for field in fields(scorer_class)]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        raise ValueError(f"scorer {name!r} has no option(s) {', '.join(unknown)}; it accepts: {allowed}")
    return scorer_class(**config)
