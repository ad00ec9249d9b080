"""The general-capability probe: a fixed, versioned set of short prompts shipped with the product.

Each checkpoint answers the probe after every skill, so a drop in the probe score (and the KL
from the base model on the same prompts) shows what a new skill cost in general ability.
Rows are scored by the same scorers as skills (worker.sdft.scoring). Versions never change
once published; general_v1.jsonl is written by build_general_v1.py in this folder.

    items = load_general_probe()                        # 300 ProbeItem, 75 per category
    report = score_general_probe(items, outputs)        # outputs[i] answers items[i]
    report.accuracy, report.per_category["arithmetic"]
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from worker.sdft.scoring import Scorer, Verdict, get_scorer

__all__ = [
    "PROBE_CATEGORIES",
    "ProbeItem",
    "ProbeReport",
    "available_versions",
    "load_general_probe",
    "score_general_probe",
]

PROBE_CATEGORIES: tuple[str, ...] = ("arithmetic", "facts", "instructions", "formatting")
_VERSION = re.compile(r"v[0-9]+")


@dataclass(frozen=True)
class ProbeItem:
    id: str
    category: str
    prompt: list[dict[str, str]]  # chat messages
    reference: str
    scorer: str
    scorer_config: dict[str, Any]

    def make_scorer(self) -> Scorer:
        return get_scorer(self.scorer, **self.scorer_config)

    def judge(self, output: str) -> Verdict:
        return self.make_scorer().judge(output, self.reference)


@dataclass(frozen=True)
class ProbeReport:
    accuracy: float
    per_category: dict[str, float]
    verdicts: tuple[Verdict, ...]  # one per item, in order


def available_versions() -> list[str]:
    """The probe versions shipped in this package, oldest first."""
    names = [entry.name for entry in resources.files(__package__).iterdir()]
    found = [
        name[len("general_") : -len(".jsonl")]
        for name in names
        if re.fullmatch(r"general_v[0-9]+\.jsonl", name)
    ]
    return sorted(found, key=lambda version: int(version[1:]))


def _parse_row(source: str, line_number: int, line: str) -> ProbeItem:
    where = f"{source}:{line_number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
    for field in ("id", "category", "prompt", "reference", "scorer", "scorer_config"):
        if field not in row:
            raise ValueError(f"{where}: missing field {field!r}")
    if row["category"] not in PROBE_CATEGORIES:
        raise ValueError(f"{where}: unknown category {row['category']!r}")
    prompt = row["prompt"]
    if not isinstance(prompt, list) or not all(
        isinstance(message, dict) and isinstance(message.get("content"), str) and "role" in message
        for message in prompt
    ):
        raise ValueError(f"{where}: field 'prompt' must be a list of {{role, content}} messages")
    item = ProbeItem(
        id=row["id"],
        category=row["category"],
        prompt=prompt,
        reference=row["reference"],
        scorer=row["scorer"],
        scorer_config=row["scorer_config"],
    )
    try:
        item.make_scorer().check_reference(item.reference)
    except ValueError as error:
        raise ValueError(f"{where} ({item.id}): {error}") from None
    return item


def load_general_probe(version: str = "v1") -> list[ProbeItem]:
    """The probe's items, in file order; ValueError names an unknown version or a bad row."""
    if not _VERSION.fullmatch(version) or version not in available_versions():
        raise ValueError(
            f"unknown general probe version {version!r}; available: {', '.join(available_versions())}"
        )
    source = f"general_{version}.jsonl"
    text = resources.files(__package__).joinpath(source).read_text(encoding="utf-8")
    items = [
        _parse_row(source, number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    duplicates = sorted(item_id for item_id, count in Counter(item.id for item in items).items() if count > 1)
    if duplicates:
        raise ValueError(f"{source}: duplicate ids {duplicates}")
    return items


def score_general_probe(items: Sequence[ProbeItem], outputs: Sequence[str]) -> ProbeReport:
    """Score `outputs[i]` against `items[i]`: overall accuracy, per category, and each verdict."""
    if len(items) != len(outputs):
        raise ValueError(f"score_general_probe: {len(items)} items but {len(outputs)} outputs")
    if not items:
        raise ValueError("score_general_probe: no items")
    verdicts = tuple(item.judge(output) for item, output in zip(items, outputs, strict=True))
    per_category: dict[str, float] = {}
    for category in PROBE_CATEGORIES:
        scored = [
            verdict.correct
            for item, verdict in zip(items, verdicts, strict=True)
            if item.category == category
        ]
        if scored:
            per_category[category] = sum(scored) / len(scored)
    return ProbeReport(
        accuracy=sum(verdict.correct for verdict in verdicts) / len(verdicts),
        per_category=per_category,
        verdicts=verdicts,
    )
