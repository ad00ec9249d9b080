"""The learning report's sequential runs over seeds, from results files written the way bench/learning.py
writes them. No model: the report only reads JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.learning_report import write_report

SKILLS = ["tooluse", "dates"]
BUDGET = {"dtype": "float32", "steps": 12, "batch_size": 4, "lr": 2e-05, "max_new_tokens": None}


def sequential_record(
    method: str, seed: int, final: dict[str, float], probe: float, kl: float
) -> dict[str, Any]:
    """Base, after tooluse, after dates; tooluse forgotten by (after tooluse - final tooluse)."""
    after_first = {"tooluse": 0.5, "dates": 0.0}
    rows = [
        {
            "checkpoint": 0,
            "learned": None,
            "accuracy": {"tooluse": 0.0, "dates": 0.0},
            "general_score": 0.5,
            "kl_from_base": 0.0,
        },
        {
            "checkpoint": 1,
            "learned": "tooluse",
            "max_new_tokens": 64,
            "accuracy": after_first,
            "general_score": 0.5,
            "kl_from_base": kl / 2,
        },
        {
            "checkpoint": 2,
            "learned": "dates",
            "max_new_tokens": 32,
            "accuracy": final,
            "general_score": probe,
            "kl_from_base": kl,
        },
    ]
    summaries = [
        {"checkpoint_id": 0, "average_accuracy": None, "backward_transfer": None, "forgetting": None},
        {"checkpoint_id": 1, "average_accuracy": 0.5, "backward_transfer": None, "forgetting": None},
        {
            "checkpoint_id": 2,
            "average_accuracy": (final["tooluse"] + final["dates"]) / 2,
            "backward_transfer": final["tooluse"] - 0.5,
            "forgetting": 0.5 - final["tooluse"],
        },
    ]
    key = f"sequential|tiny|{method}|{seed}|12x4@2e-05|tooluse>dates|tNonee20p30"
    return {
        "key": key,
        "method": method,
        "seed": seed,
        "budget": BUDGET,
        "skills": SKILLS,
        "status": "ok",
        "rows": rows,
        "summaries": summaries,
    }


def write_results(path: Path, records: list[dict[str, Any]], updated: float) -> None:
    invocation = {"argv": [], "settings": {"model": "tiny"}, "wall_s": 60.0}
    path.write_text(
        json.dumps({"runs": [], "sequential": records, "invocation": invocation, "updated": updated})
    )


def test_sequential_runs_of_two_seeds_are_summarised_with_mean_and_spread(tmp_path: Path) -> None:
    write_results(
        tmp_path / "learning-seed0.json",
        [
            sequential_record("sft", 0, {"tooluse": 0.5, "dates": 0.9}, 0.6, 0.10),
            # Rerun below in a later file: the same measurement, counted once from the later file.
            sequential_record("sdft-default", 0, {"tooluse": 0.0, "dates": 0.0}, 0.1, 0.90),
        ],
        updated=1.0,
    )
    write_results(
        tmp_path / "learning-seed1.json",
        [
            sequential_record("sft", 1, {"tooluse": 0.3, "dates": 0.7}, 0.6, 0.20),
            sequential_record("sdft-default", 0, {"tooluse": 0.5, "dates": 0.6}, 0.5, 0.05),
            sequential_record("sdft-default", 1, {"tooluse": 0.5, "dates": 0.4}, 0.4, 0.05),
        ],
        updated=2.0,
    )
    report = write_report(tmp_path)

    heading = (
        "### Over seeds: tiny, tooluse → dates (12 steps × 4 prompts, lr 2e-05, rollouts ≤64/32 tokens per skill; "
        "eval ≤20 rows per skill, probe 30 items; files learning-seed0.json, learning-seed1.json)"
    )
    assert heading in report
    # tooluse 0.5 and 0.3 -> 40 ± 14.1; dates 90 / 70 -> 80 ± 14.1; forgetting 0 and 20 pts -> 10 ± 14.1.
    assert (
        "| sft | 0,1 | 40.0 ± 14.1 | 80.0 ± 14.1 | 60.0 ± 0.0 | 0.1500 ± 0.0707 | 60.0 ± 14.1 | 10.0 ± 14.1 |"
        in report
    )
    assert (
        "| sdft-default | 0,1 | 50.0 ± 0.0 | 50.0 ± 14.1 | 45.0 ± 7.1 | 0.0500 ± 0.0000 | 50.0 ± 7.1 | 0.0 ± 0.0 |"
        in report
    )
    # Each record still has its own regression table.
    assert report.count("### sft on tiny, tooluse → dates, seed") == 2


def test_a_single_seed_gets_no_summary_over_seeds(tmp_path: Path) -> None:
    write_results(
        tmp_path / "learning-one.json",
        [sequential_record("sft", 0, {"tooluse": 0.5, "dates": 0.9}, 0.6, 0.1)],
        1.0,
    )
    report = write_report(tmp_path)
    assert "### Over seeds" not in report
    assert "### sft on tiny, tooluse → dates, seed 0" in report
