"""The learning benchmark's time budget and run order: what FULL does on a slower machine.

FULL runs its most telling runs first and does not start one it expects to end past the budget;
the expectation comes from this invocation's own runs or the reference machine's, scaled.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench import learning
from bench.learning_phases import matches
from bench.learning_runner import Context

TEACHER = ("teacher", "*", "check")


def full_context(tmp_path: Path, *argv: str) -> Context:
    settings, _ = learning.parse_args(list(argv))
    return Context(settings=settings, results={"runs": []}, path=tmp_path / "r.json", work_dir=tmp_path)


def test_expected_time_is_the_same_runs_time_here_else_the_reference_scaled_by_this_machines_speed(
    tmp_path: Path,
) -> None:
    ctx = full_context(tmp_path)
    reference = learning.REFERENCE_MINUTES
    dates_sdft = ("comparison", "dates", "sdft-default")
    assert ctx.expected_s(dates_sdft, "sdft") == pytest.approx(
        60 * reference[("comparison", "dates", "sdft")]
    )

    # The teacher check took twice the reference machine's time: everything is expected twice as long.
    ctx.took(TEACHER, "check", 2 * 60 * reference[TEACHER])
    assert ctx.expected_s(dates_sdft, "sdft") == pytest.approx(
        2 * 60 * reference[("comparison", "dates", "sdft")]
    )

    # Once a run is measured, its next seed is expected to take as long; its family's other methods
    # follow the speed over everything measured that the reference knows.
    ctx.took(dates_sdft, "sdft", 100.0)
    assert ctx.expected_s(dates_sdft, "sdft") == 100.0
    speed = (2 * 60 * reference[TEACHER] + 100.0) / (
        60 * reference[TEACHER] + 60 * reference[("comparison", "dates", "sdft")]
    )
    frozen = ("comparison", "dates", "sdft-frozen")
    assert ctx.expected_s(frozen, "sdft") == pytest.approx(
        speed * 60 * reference[("comparison", "dates", "sdft")]
    )
    # Nothing known about a run: it is expected to take no time, so only a spent budget stops it.
    assert ctx.expected_s(("comparison", "tooluse", "sft"), "sft") == 0.0


def test_a_machine_that_became_busy_is_expected_to_stay_as_slow_as_its_latest_run(tmp_path: Path) -> None:
    # As in the 75-minute run: the teacher check ran 1.9x the reference, then a make test started
    # beside the benchmark and science's SFT run took 2.6x; science's SDFT took 3.2x after it.
    ctx = full_context(tmp_path)
    reference = learning.REFERENCE_MINUTES
    science = lambda family: ("comparison", "science", family)  # noqa: E731
    ctx.took(TEACHER, "check", 1.9 * 60 * reference[TEACHER])
    ctx.took(science("sft"), "sft", 2.6 * 60 * reference[science("sft")])
    assert ctx.expected_s(science("sdft-default"), "sdft") == pytest.approx(
        2.6 * 60 * reference[science("sdft")]
    )
    # When the load goes away the overall pace is the floor: a fast latest run does not promise more.
    ctx.took(("comparison", "dates", "sft"), "sft", 0.5 * 60 * reference[("comparison", "dates", "sft")])
    overall = ctx.measured_done_s / ctx.reference_done_s
    assert overall > 1.0
    assert ctx.expected_s(science("sdft-default"), "sdft") == pytest.approx(
        overall * 60 * reference[science("sdft")]
    )


def test_a_run_expected_to_end_past_the_budget_is_refused_with_the_reason(tmp_path: Path) -> None:
    ctx = full_context(tmp_path)
    assert ctx.settings.time_budget_s == 120 * 60
    science_sft = ("comparison", "science", "sft")
    ctx.took(science_sft, "sft", 600.0)
    ctx.started = time.perf_counter() - 100 * 60
    assert ctx.over_budget(science_sft, "sft") is None  # 100 + 10 min fits 120
    ctx.started = time.perf_counter() - 115 * 60
    reason = ctx.over_budget(science_sft, "sft")
    assert reason is not None and reason.startswith(
        "time budget: 115.0 min elapsed + about 10.0 min expected > 120 min"
    )

    unbounded = full_context(tmp_path, "--time-budget-min", "0")
    unbounded.started = time.perf_counter() - 10_000 * 60
    assert unbounded.settings.time_budget_s is None and unbounded.over_budget(science_sft, "sft") is None


def test_full_runs_dates_final_comparison_then_the_sequential_run_then_the_rest() -> None:
    settings, _ = learning.parse_args([])
    steps = [phase for phase, _ in settings.order]
    assert steps[:3] == ["teacher", "comparison", "sequential"]
    core = settings.order[1][1]
    assert matches(core, "dates", "sft", 1) and matches(core, "dates", "base", None)
    assert not matches(core, "science", "sft", 0) and not matches(core, "dates", "sdft-live", 0)
    # A later step catches what the earlier ones did not name; "base" has no seed and is in every one.
    assert settings.order[-4:] == [(phase, {}) for phase in learning.PHASES]
    assert matches({"seeds": [0]}, "dates", "base", None) and not matches({"seeds": [0]}, "dates", "sft", 1)


QUICK_ARGS = ["--quick", "--model", "tiny", "--skills", "dates", "--steps", "1", "--batch-size", "2"]
QUICK_ARGS += ["--train-limit", "4", "--eval-limit", "2", "--probe-items", "4", "--probe-max-new-tokens", "4"]
QUICK_ARGS += ["--eval-max-new-tokens", "4", "--max-new-tokens", "4", "--sequential-steps", "1"]


def test_runs_follow_the_order_seed_0_of_every_method_before_seed_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(learning.QUICK, "order", [("comparison", {"seeds": [0]})])
    argv = [*QUICK_ARGS, "--out", str(tmp_path), "--tag", "order", "--phases", "comparison"]
    argv += ["--methods", "base,sft,sdft-default", "--seeds", "0,1"]
    assert learning.main(argv) == 0
    runs = json.loads((tmp_path / "learning-order.json").read_text())["runs"]
    assert [(run["method"], run["seed"], run["status"]) for run in runs] == [
        ("base", None, "ok"),
        ("sft", 0, "ok"),
        ("sdft-default", 0, "ok"),
        ("sft", 1, "ok"),
        ("sdft-default", 1, "ok"),
    ]


def test_skipped_runs_are_recorded_with_the_reason_reported_and_run_on_resume(tmp_path: Path) -> None:
    # 0.001 min: every run the reference table knows is expected to end past it.
    argv = [*QUICK_ARGS, "--out", str(tmp_path), "--tag", "budget", "--phases", "comparison,sequential"]
    argv += ["--methods", "base,sft", "--seeds", "0", "--sequential-methods", "sft"]
    argv += ["--sequential-skills", "tooluse,science,dates"]
    assert learning.main([*argv, "--time-budget-min", "0.001"]) == 0
    results = json.loads((tmp_path / "learning-budget.json").read_text())
    assert [(run["method"], run["status"]) for run in results["runs"]] == [
        ("base", "skipped"),
        ("sft", "skipped"),
    ]
    (sequential,) = results["sequential"]
    for record in (*results["runs"], sequential):
        assert record["reason"].startswith("time budget: ") and "task_accuracy" not in record
    assert sequential["status"] == "skipped" and sequential["rows"] == []
    assert results["invocation"]["time_budget_s"] == pytest.approx(0.06)

    report = (tmp_path / "learning.md").read_text()
    assert "### dates on tiny" not in report  # skipped runs are not measurements
    assert "| skipped | time budget: " in report and "Skipped: time budget: " in report
    assert "| learning-budget.json |" in report and "| 0 | 0 | 3 |" in report  # ok, failed, skipped

    assert learning.main([*argv, "--time-budget-min", "0", "--resume"]) == 0
    results = json.loads((tmp_path / "learning-budget.json").read_text())
    assert {run["status"] for run in results["runs"]} == {"ok"}
    assert results["sequential"][0]["status"] == "ok" and results["invocation"]["time_budget_s"] is None
    (first,) = results["earlier_invocations"]  # the resumed file keeps the first invocation's record
    assert first["argv"][-2:] == ["--time-budget-min", "0.001"] and first["time_budget_s"] == pytest.approx(
        0.06
    )
