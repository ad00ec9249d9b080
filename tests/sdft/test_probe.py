"""The general probe: every row loads and is scoreable, categories are balanced, the committed
file is what the builder writes, and it ships as package data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from setuptools import find_packages

from worker.sdft.probe import (
    PROBE_CATEGORIES,
    available_versions,
    load_general_probe,
    score_general_probe,
)
from worker.sdft.probe.build_general_v1 import OUTPUT, build_rows

REPO_ROOT = Path(__file__).resolve().parents[2]


def _correct_output(scorer: str, reference: str) -> str:
    # A choice reference is the letter; the answer the prompt asks for wraps it in tags.
    return f"<answer>\n{reference}\n</answer>" if scorer == "choice" else reference


@pytest.fixture(scope="module")
def items():  # type: ignore[no-untyped-def]
    return load_general_probe("v1")


def test_every_row_loads_with_a_known_scorer_and_a_valid_reference(items) -> None:  # type: ignore[no-untyped-def]
    assert len(items) == 300
    assert len({item.id for item in items}) == 300
    for item in items:
        assert item.prompt and item.prompt[-1]["role"] == "user" and item.prompt[-1]["content"].strip()
        item.make_scorer().check_reference(item.reference)


def test_categories_are_balanced(items) -> None:  # type: ignore[no-untyped-def]
    assert Counter(item.category for item in items) == {category: 75 for category in PROBE_CATEGORIES}


def test_every_reference_scores_as_correct(items) -> None:  # type: ignore[no-untyped-def]
    wrong = [
        item.id for item in items if not item.judge(_correct_output(item.scorer, item.reference)).correct
    ]
    assert wrong == []


def test_echoing_the_prompt_never_scores(items) -> None:  # type: ignore[no-untyped-def]
    echoed = [item.id for item in items if item.judge(item.prompt[-1]["content"]).correct]
    assert echoed == []
    assert not any(item.judge("").correct for item in items)


def test_plausible_model_answers_are_scored_as_a_reader_would(items) -> None:  # type: ignore[no-untyped-def]
    by_id = {item.id: item for item in items}
    first_sum = by_id["arithmetic-001"]  # What is 68 + 24?
    assert first_sum.judge("68 + 24 = 92").correct
    assert first_sum.judge("The answer is 92.").correct
    assert not first_sum.judge("93").correct
    capital = next(
        item
        for item in items
        if "capital of France" in item.prompt[-1]["content"] and item.category == "facts"
    )
    assert capital.judge("The capital of France is Paris.").correct
    assert not capital.judge("The capital of France is Lyon.").correct
    bullets = next(item for item in items if "exactly 3 bullet points" in item.prompt[-1]["content"])
    assert bullets.judge("Here you go:\n- one\n- two\n- three\n").correct
    assert not bullets.judge("- one\n- two\n- three\n- four").correct
    assert not bullets.judge("1. one\n2. two\n3. three").correct
    alice = by_id["formatting-001"]
    assert alice.judge('```json\n{"age": 30, "name": "Alice"}\n```').correct
    assert not alice.judge('{"name": "Alice", "age": "30"}').correct


def test_committed_file_is_what_the_builder_writes() -> None:
    committed = [json.loads(line) for line in OUTPUT.read_text(encoding="utf-8").splitlines()]
    assert committed == build_rows()


def test_score_general_probe_reports_overall_and_per_category(items) -> None:  # type: ignore[no-untyped-def]
    outputs = [
        _correct_output(item.scorer, item.reference) if item.category == "arithmetic" else "no idea"
        for item in items
    ]
    report = score_general_probe(items, outputs)
    assert report.accuracy == pytest.approx(0.25)
    assert report.per_category == {"arithmetic": 1.0, "facts": 0.0, "instructions": 0.0, "formatting": 0.0}
    assert len(report.verdicts) == 300
    with pytest.raises(ValueError, match="300 items but 2 outputs"):
        score_general_probe(items, ["a", "b"])


def test_unknown_version_is_named() -> None:
    assert available_versions() == ["v1"]
    with pytest.raises(ValueError, match=r"unknown general probe version 'v9'; available: v1"):
        load_general_probe("v9")
    with pytest.raises(ValueError, match="unknown general probe version"):
        load_general_probe("../v1")


def test_probe_ships_as_package_data() -> None:
    # setuptools only ships data from packages, and pyproject adds *.jsonl to every package.
    packages = find_packages(where=str(REPO_ROOT), include=["backend*", "worker*"])
    assert "worker.sdft.probe" in packages and "worker.sdft.scoring" in packages
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"*" = ["*.json", "*.jsonl", "*.txt"]' in pyproject
