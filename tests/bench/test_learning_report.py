"""The learning report's sequential runs over seeds, from results files written the way bench/learning.py
writes them. No model: the report only reads JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.learning_report import comparison_groups, load_results, plotted_groups, render_report, write_report

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"

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
        "| sft | 0,1 | 2e-05 | 40.0 ± 14.1 | 80.0 ± 14.1 | 60.0 ± 0.0 | 0.1500 ± 0.0707 | 60.0 ± 14.1 | 10.0 ± 14.1 |"
        in report
    )
    assert (
        "| sdft-default | 0,1 | 2e-05 | 50.0 ± 0.0 | 50.0 ± 14.1 | 45.0 ± 7.1 | 0.0500 ± 0.0000 | 50.0 ± 7.1 | 0.0 ± 0.0 |"
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


def comparison_run(method: str, seed: int | None, accuracy: float, *, device: str | None) -> dict[str, Any]:
    budget = {**BUDGET, "steps": 20, "max_new_tokens": 32, "dtype": "bfloat16" if device else "float32"}
    run = {
        "key": f"comparison|tiny|dates|{method}|{seed}",
        "phase": "comparison",
        "model": "tiny",
        "skill": "dates",
        "method": method,
        "seed": seed,
        "budget": budget,
        "status": "ok",
        "task_accuracy": accuracy,
        "task_n": 50,
        "general_score": 0.5,
        "kl_from_base": 0.1,
        "train_wall_s": 10.0,
        "eval_wall_s": 5.0,
    }
    return run if device is None else {**run, "device": device}


def test_gpu_runs_are_reported_apart_with_their_device_and_precision(tmp_path: Path) -> None:
    # Records written before devices were recorded are CPU runs; the same seed on a GPU is another run.
    (tmp_path / "learning-cpu.json").write_text(
        json.dumps(
            {
                "runs": [comparison_run("sft", 0, 0.8, device=None)],
                "invocation": {"argv": [], "settings": {"model": "tiny"}, "wall_s": 60.0},
                "updated": 1.0,
            }
        )
    )
    sequential = []
    for seed in (0, 1):
        record = sequential_record("sft", seed, {"tooluse": 0.5, "dates": 0.9}, 0.6, 0.1)
        record["key"] = f"sequential|tiny@cuda/bfloat16|sft|{seed}|12x4@2e-05|tooluse>dates|tNonee50p60"
        record["budget"] = {**BUDGET, "dtype": "bfloat16"}
        record["limits"] = {"train": None, "eval": 50, "probe": 60}
        sequential.append(record)
    (tmp_path / "learning-gpu.json").write_text(
        json.dumps(
            {
                "runs": [comparison_run("sft", 0, 1.0, device="cuda")],
                "sequential": sequential,
                "invocation": {"argv": [], "settings": {"model": "tiny", "device": "cuda"}, "wall_s": 60.0},
                "updated": 2.0,
            }
        )
    )
    report = write_report(tmp_path)
    assert (
        "### dates on tiny (20 steps × 4 prompts, lr 2e-05, rollouts ≤32 tokens; eval n=50; file learning-cpu.json)"
        in report
    )
    assert (
        "### dates on tiny on cuda (20 steps × 4 prompts, lr 2e-05, rollouts ≤32 tokens, bf16 autocast; eval n=50; "
        "file learning-gpu.json)" in report
    )
    assert "| sft | 0 | 2e-05 | 80.0 |" in report and "| sft | 0 | 2e-05 | 100.0 |" in report
    assert "### sft on tiny on cuda, tooluse → dates, seed 1 (" in report
    assert "### Over seeds: tiny on cuda, tooluse → dates (" in report
    assert (
        "bf16 autocast per skill; eval ≤50 rows per skill, probe 60 items; files learning-gpu.json)" in report
    )


def test_each_row_names_the_learning_rate_its_method_trained_at(tmp_path: Path) -> None:
    # The heading gives the budget's lr; sft-lr5e-6 and the lr-5e-5 SDFT variant train at their own.
    runs = [comparison_run("base", None, 0.0, device=None), comparison_run("sft", 0, 0.9, device=None)]
    runs += [{**comparison_run("sft-lr5e-6", 0, 1.0, device=None), "settings": {"method": "sft", "lr": 5e-6}}]
    runs += [{**comparison_run("trl-sdft", 0, 0.1, device=None), "settings": {"beta": 0.0}}]  # no lr recorded
    sequential = [sequential_record("sdft-format-skip0-lr5e-5", 0, {"tooluse": 0.5, "dates": 0.9}, 0.6, 0.1)]
    (tmp_path / "learning-lr.json").write_text(
        json.dumps(
            {
                "runs": runs,
                "sequential": sequential,
                "invocation": {"argv": [], "settings": {"model": "tiny"}, "wall_s": 60.0},
                "updated": 1.0,
            }
        )
    )
    report = write_report(tmp_path)
    assert "| base | – | – | 0.0 |" in report and "| sft | 0 | 2e-05 | 90.0 |" in report
    assert "| sft-lr5e-6 | 0 | 5e-06 | 100.0 |" in report and "| trl-sdft | 0 | 2e-05 | 10.0 |" in report
    assert (
        "### sdft-format-skip0-lr5e-5 on tiny, tooluse → dates, seed 0 (12 steps × 4 prompts, lr 5e-05,"
        in report
    )


def test_the_plot_leaves_out_runs_evaluated_on_a_few_rows_and_says_so(tmp_path: Path) -> None:
    def run(method: str, task_n: int) -> dict[str, Any]:
        return {**comparison_run(method, 0, 0.5, device=None), "model": "smollm2-135m", "task_n": task_n}

    invocation = {"argv": [], "settings": {"model": "smollm2-135m"}, "wall_s": 60.0}
    for tag, runs in (("full", [run("sft", 50)]), ("memory", [run("sdft-default", 2)])):
        results = {"runs": runs, "invocation": invocation, "updated": 1.0}
        (tmp_path / f"learning-{tag}.json").write_text(json.dumps(results))
    files = load_results(tmp_path)
    assert [key[0] for key in plotted_groups(comparison_groups(files, "comparison"))] == [
        "learning-full.json"
    ]
    report = write_report(tmp_path)
    assert "The plot leaves out runs evaluated on fewer than 10 rows; their tables are below." in report
    assert "| sdft-default | 0 | 2e-05 | 50.0 |" in report  # its table is there

    (tmp_path / "learning-memory.json").unlink()  # every group plotted: no such sentence
    assert "The plot leaves out" not in write_report(tmp_path)
    # the tiny model's runs are left out beside a real model's, but not for their rows: no such sentence
    tiny = {"runs": [comparison_run("sft", 0, 0.5, device=None)], "invocation": invocation, "updated": 1.0}
    (tmp_path / "learning-tiny.json").write_text(json.dumps(tiny))
    assert "The plot leaves out" not in write_report(tmp_path)


def rendered(out: Path) -> str:
    """The report `out`'s results and notes make now, with the plot line when a plot is there."""
    return render_report(out, load_results(out), with_plot=(out / "learning.png").exists())


def test_the_committed_report_is_the_results_and_notes_report() -> None:
    # learning.md is what users and the README cite: a results file or a note committed without
    # regenerating it leaves them reading old numbers.
    committed = (RESULTS / "learning.md").read_text(encoding="utf-8")
    assert committed == rendered(RESULTS), "bench/results/learning.md is stale: run `make measured`"


def test_a_changed_note_makes_the_report_stale(tmp_path: Path) -> None:
    (tmp_path / "learning-notes.md").write_text("Seed 0 only.\n", encoding="utf-8")
    written = write_report(tmp_path)
    assert "Seed 0 only." in written
    assert rendered(tmp_path) == written
    (tmp_path / "learning-notes.md").write_text("Seeds 0 and 1.\n", encoding="utf-8")
    assert rendered(tmp_path) != written
