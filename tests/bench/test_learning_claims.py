"""The numbers the queue form quotes are the results files' numbers, and its wording's directions hold.

No model: the claims only read JSON.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.learning_claims import (
    CLAIMS,
    MEASURED_JSON,
    NOT_BELOW,
    RELATIONS,
    Claim,
    ClaimError,
    broken_relations,
    measure,
    measure_all,
    percent,
    render,
)


def test_the_committed_numbers_are_the_results_numbers() -> None:
    assert MEASURED_JSON.read_text(encoding="utf-8") == render(measure_all()), (
        "frontend/src/generated/measured.json is stale: run `python -m bench.learning_claims` and read the "
        "queue form's wording again"
    )


def test_every_direction_the_wording_states_holds() -> None:
    assert broken_relations(measure_all()["claims"]) == []


def test_relations_name_real_claims() -> None:
    names = {claim.name for claim in CLAIMS}
    assert len(names) == len(CLAIMS)
    for pair in [*RELATIONS, *((a, b) for a, b, _ in NOT_BELOW)]:
        assert set(pair) <= names


def test_percent_rounds_halves_up_through_float_noise() -> None:
    assert percent(0.375) == 38
    assert percent((1 / 6 + 7 / 12) / 2) == 38  # 0.37499999999999994 in binary
    assert percent(0.3149) == 31
    assert percent(1.0) == 100


def _comparison_run(
    tag_seed: int | None, accuracy: float, *, status: str = "ok", budget: str = "20x4@2e-05/32"
):
    return {
        "key": f"comparison|m|dates|sft|{tag_seed}|{budget}|tNonee50hNonep60",
        "phase": "comparison",
        "method": "sft",
        "seed": tag_seed,
        "status": status,
        "task_accuracy": accuracy,
        "general_score": 0.5,
        "kl_from_base": 0.1,
    }


def _files(*runs_by_file: tuple[str, float, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(tag, {"updated": updated, "runs": runs}) for tag, updated, runs in runs_by_file]


CLAIM = Claim("c", "comparison", "m", "dates", "20x4@2e-05/32", "tNonee50hNonep60", "sft", "task", (0, 1))


def test_a_claim_takes_each_seed_once_from_the_file_written_last() -> None:
    files = _files(
        ("old", 1.0, [_comparison_run(0, 0.10), _comparison_run(1, 0.20)]),
        ("new", 2.0, [_comparison_run(0, 0.30)]),
    )
    measured = measure(CLAIM, files)
    assert measured == {
        "percent": 25,
        "per_seed": [30, 20],
        "seeds": [0, 1],
        "files": ["learning-new.json", "learning-old.json"],
    }


def test_a_claim_ignores_other_budgets_failures_and_seeds() -> None:
    files = _files(
        (
            "a",
            1.0,
            [
                _comparison_run(0, 0.5),
                _comparison_run(1, 0.7),
                _comparison_run(1, 0.0, status="failed"),
                _comparison_run(2, 1.0),
                _comparison_run(0, 1.0, budget="8x4@2e-05/32"),
            ],
        )
    )
    assert measure(CLAIM, files)["per_seed"] == [50, 70]


def test_a_claim_missing_a_seed_names_itself_and_the_seed() -> None:
    files = _files(("a", 1.0, [_comparison_run(0, 0.5), _comparison_run(1, 0.0, status="failed")]))
    with pytest.raises(ClaimError, match=r"claim 'c'.*seed\(s\) \[1\]"):
        measure(CLAIM, files)


def test_a_sequential_claim_reads_the_last_skill_row() -> None:
    record = {
        "key": "sequential|m|sft|0|12x4@2e-05|a>b|tNonee50p60",
        "method": "sft",
        "seed": 0,
        "status": "ok",
        "rows": [
            {"checkpoint": 0, "accuracy": {"a": 0.0, "b": 0.0}, "general_score": 0.9},
            {"checkpoint": 1, "accuracy": {"a": 0.6, "b": 0.1}, "general_score": 0.7},
            {"checkpoint": 2, "accuracy": {"a": 0.4, "b": 0.8}, "general_score": 0.5},
        ],
        "summaries": [
            {"checkpoint_id": 0, "average_accuracy": None, "forgetting": None},
            {"checkpoint_id": 1, "average_accuracy": 0.6, "forgetting": 0.0},
            {"checkpoint_id": 2, "average_accuracy": 0.6, "forgetting": 0.2},
        ],
    }
    files = [("s", {"updated": 1.0, "sequential": [record]})]

    def claim(metric: str) -> Claim:
        return Claim("s", "sequential", "m", "a>b", "12x4@2e-05", "tNonee50p60", "sft", metric, (0,))

    assert [
        measure(claim(m), files)["percent"] for m in ("skill:a", "skill:b", "general", "acc", "forgetting")
    ] == [
        40,
        80,
        50,
        60,
        20,
    ]


def test_a_reversed_or_drifted_direction_is_reported() -> None:
    claims = {claim.name: {"percent": 50} for claim in CLAIMS}
    larger, smaller = RELATIONS[0]
    broken = broken_relations(claims)  # every strict relation is a tie here
    assert f"{larger} (50 %) is not above {smaller} (50 %)" in broken
    name, other, points = NOT_BELOW[0]
    claims[other] = {"percent": 50 + points + 1}
    assert (
        f"{name} (50 %) is more than {points} points below {other} ({50 + points + 1} %)"
        in broken_relations(claims)
    )
