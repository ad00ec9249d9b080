"""Smoke test of the learning benchmark's plumbing on the tiny model: train, evaluate, record, report.

The tiny model is random, so every accuracy is 0 here: this checks that each phase runs end to end
and writes what the report promises, not that anything learns (bench/results/learning.md does that).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil
import pytest
import torch

from bench import learning
from bench.learning_runner import memory_gib, reset_resident_peak
from bench.learning_skills import load_skill
from bench.skills.iso_dates import SKILL_FILE, build_rows
from worker.sdft.config import FORMAT_TEACHER_TEMPLATE

MACHINE_GIB = psutil.virtual_memory().total / 2**30  # no process holds more than the machine has


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak is reset through /proc")
def test_a_runs_peak_is_its_own_not_the_largest_run_before_it() -> None:
    earlier_run = torch.ones(128 * 2**20)  # 512 MiB, written, so resident
    earlier_peak = memory_gib()["peak_resident_gib"]
    del earlier_run
    assert reset_resident_peak() == {"peak_resident_since": "run start"}
    now = memory_gib()
    assert now["resident_gib"] <= now["peak_resident_gib"] < earlier_peak - 0.4


def test_own_skill_file_is_what_the_generator_writes() -> None:
    lines = SKILL_FILE.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == build_rows()
    skill = load_skill("dates")
    assert not set(skill.split.train) & set(skill.split.eval)
    assert skill.scorer().score("Date: 2021-03-05", "2021-03-05")
    assert not skill.scorer().score("March 5, 2021", "2021-03-05")


def test_quick_run_writes_runs_matrix_table_and_plot(tmp_path: Path) -> None:
    argv = ["--quick", "--model", "tiny", "--out", str(tmp_path), "--tag", "smoke"]
    argv += [
        "--phases",
        "teacher,comparison,sequential",
        "--skills",
        "dates",
        "--methods",
        "base,sft,sdft-paper,sdft-default,trl-sdft",
    ]
    argv += ["--sequential-methods", "sdft-paper,sdft-paper-replay25", "--sequential-skills", "science,dates"]
    argv += [
        "--steps",
        "1",
        "--sequential-steps",
        "1",
        "--batch-size",
        "4",
    ]  # 4: one replayed prompt per step
    argv += ["--train-limit", "4", "--eval-limit", "2", "--probe-items", "4", "--probe-max-new-tokens", "4"]
    argv += ["--eval-max-new-tokens", "6", "--max-new-tokens", "4", "--teacher-rows", "2"]
    assert learning.main(argv) == 0

    results = json.loads((tmp_path / "learning-smoke.json").read_text())
    runs = {run["method"]: run for run in results["runs"]}
    assert set(runs) == {"base", "sft", "sdft-paper", "sdft-default", "trl-sdft"}
    for run in runs.values():
        assert run["status"] == "ok", run.get("traceback")
        assert run["task_n"] == 2 and 0.0 <= run["task_accuracy"] <= 1.0
        assert 0.0 <= run["general_score"] <= 1.0 and run["kl_from_base"] >= 0.0
        assert 0.05 < run["resident_gib"] <= run["peak_resident_gib"] < MACHINE_GIB  # held, and the most
        assert run["peak_resident_since"] == "run start"
    assert runs["base"]["kl_from_base"] == 0.0 and runs["base"]["train_wall_s"] == 0.0
    assert runs["sft"]["steps_done"] == 1 and runs["sft"]["settings"]["method"] == "sft"
    # The paper's setup whatever the product's defaults are: its template (not named when it is the
    # paper's) and 3 skipped tokens.
    paper = runs["sdft-paper"]["settings"]
    assert (paper["teacher"], paper["skip_first_tokens"], "teacher_template" in paper) == ("ema", 3, False)
    default = runs["sdft-default"]["settings"]
    assert (default["skip_first_tokens"], default["teacher_template"]) == (0, FORMAT_TEACHER_TEMPLATE)
    assert runs["trl-sdft"]["steps_done"] == 1  # TRL's own SDFT trainer, the outside reference

    checks = {check["prompt"]: check for check in results["teacher_checks"]}
    assert set(checks) == {"student", "paper", "plain", "format"}
    assert all(check["n"] == 2 and 0.0 <= check["accuracy"] <= 1.0 for check in checks.values())

    sequential, replayed = results["sequential"]
    for record in (sequential, replayed):
        assert record["status"] == "ok", record.get("traceback")
        assert [row["learned"] for row in record["rows"]] == [None, "science", "dates"]
        assert [row["max_new_tokens"] for row in record["rows"][1:]] == [4, 4]
        assert all(
            0.05 < row["resident_gib"] <= row["peak_resident_gib"] < MACHINE_GIB for row in record["rows"][1:]
        )
        assert all(row["peak_resident_since"] == "run start" for row in record["rows"][1:])
        last = record["summaries"][-1]
        assert last["skills_learned"] == [1, 2] and last["average_accuracy"] is not None
        assert last["backward_transfer"] is not None and last["forgetting"] >= 0.0
        # The probe per item, so that a rise or a fall between checkpoints can be traced to its items.
        for row in record["rows"]:
            assert len(row["general_correct"]) == round(row["general_score"] * 4)
            assert set(row["general_per_category"]) and all(
                0 <= v <= 1 for v in row["general_per_category"].values()
            )
    assert (sequential["replay_fraction"], replayed["replay_fraction"]) == (0.0, 0.25)

    report = (tmp_path / "learning.md").read_text()
    assert "### dates on tiny" in report and "| sdft-paper |" in report
    assert (
        "regression matrix" in report and "Teacher check" in report and "42.9" in report
    )  # the paper's Table 1 beside ours
    assert (tmp_path / "learning.png").stat().st_size > 10_000


def test_a_trl_run_that_trains_fewer_steps_than_asked_is_recorded_as_failed(tmp_path: Path) -> None:
    # TRL's sampler keeps only full batches: 2 examples in batches of 4 give it nothing to train on.
    argv = ["--quick", "--model", "tiny", "--out", str(tmp_path), "--tag", "short", "--phases", "comparison"]
    argv += ["--skills", "dates", "--methods", "trl-sdft", "--steps", "1", "--batch-size", "4"]
    argv += ["--train-limit", "2", "--eval-limit", "2", "--probe-items", "4", "--max-new-tokens", "4"]
    assert learning.main(argv) == 0

    (run,) = json.loads((tmp_path / "learning-short.json").read_text())["runs"]
    assert run["status"] == "failed"
    assert "ran 0 of 1 steps on 2 examples" in run["error"]
    assert "task_accuracy" not in run  # nothing evaluated as if it had trained


def test_the_full_run_fits_two_hours_and_tuning_chooses_best_itself() -> None:
    settings, _ = learning.parse_args([])
    assert (settings.model, settings.skills, settings.seeds) == ("smollm2-135m", ["dates", "science"], [0, 1])
    assert settings.phases == ["teacher", "comparison", "sequential"]
    # The sequential run compares SFT with SDFT as the product ships it.
    assert settings.best == "sdft-format-skip0-lr5e-5" and settings.sequential_methods == [
        "sft",
        "sdft-default",
    ]
    every = {"sft", "sdft-paper", "sdft-default", "sdft-frozen", "sdft-live", "trl-sdft", "best"}
    assert every <= set(settings.methods_for("dates"))
    # Science compares the product's defaults with SFT; the paper's settings there (0 % on both
    # seeds, twice) were cut to fit 2 hours and are run with --skills science --methods sdft-paper.
    assert settings.methods_for("science") == ["base", "sft", "sdft-default"]
    # Rollouts as long as each skill needs, unless one length is asked for.
    assert settings.budget.max_new_tokens is None
    assert settings.budget.for_skill(64).max_new_tokens == 64
    assert settings.budget.for_skill(32).max_new_tokens == 32
    asked, _ = learning.parse_args(["--max-new-tokens", "16", "--methods", "base,sft"])
    assert asked.budget.for_skill(64).max_new_tokens == 16
    assert asked.methods_for("science") == asked.methods_for("dates") == ["base", "sft"]
    tuned, _ = learning.parse_args(["--phases", "tuning,comparison"])
    assert tuned.best is None
    chosen, _ = learning.parse_args(["--phases", "tuning,comparison", "--best", "sdft-format"])
    assert chosen.best == "sdft-format"


def test_the_tagged_science_variant_runs_by_name_only_on_graded_demonstrations() -> None:
    from bench.learning_methods import find_method
    from bench.learning_skills import load_skill

    settings, _ = learning.parse_args(["--methods", "sdft-format-skip0-mix25-tagged"])
    assert settings.methods_for("science") == ["sdft-format-skip0-mix25-tagged"]
    assert "sdft-format-skip0-mix25-tagged" not in learning.parse_args([])[0].tune_variants
    tagged, defaults = find_method("sdft-format-skip0-mix25-tagged"), find_method("sdft-format-skip0-mix25")
    assert tagged.overrides == defaults.overrides  # the demonstrations are the only difference
    science = load_skill("science")
    (graded,) = science.train_examples(tagged=tagged.science_tagged, limit=1)
    (sentence,) = science.train_examples(tagged=defaults.science_tagged, limit=1)
    assert "<answer>" in graded.demonstration and "<answer>" not in sentence.demonstration


def test_a_seed_recorded_in_two_files_counts_once_from_the_newer_file() -> None:
    from bench.learning_report import comparison_groups

    budget = {"steps": 20, "batch_size": 4, "lr": 2e-5, "max_new_tokens": 32}

    def run(method: str, seed: int | None, train_s: float) -> dict:
        identity = {"phase": "comparison", "model": "m", "skill": "dates", "method": method, "seed": seed}
        return {
            **identity,
            "budget": budget,
            "task_n": 50,
            "train_wall_s": train_s,
            "key": f"{method}{train_s}",
        }

    older = {"updated": 1.0, "runs": [run("base", None, 0), run("sft", 0, 105), run("sft", 1, 109)]}
    newer = {"updated": 2.0, "runs": [run("base", None, 0), run("sft", 0, 30), run("sdft-paper", 0, 97)]}
    [(key, runs)] = comparison_groups([("old", older), ("new", newer)], "comparison").items()
    assert key[0] == "learning-new.json, learning-old.json"
    kept = {(r["method"], r["seed"]): r["train_wall_s"] for r in runs}
    assert kept == {("base", None): 0, ("sft", 0): 30, ("sft", 1): 109, ("sdft-paper", 0): 97}
