"""Smoke test of bench/monitors.py on the tiny model: one step per variant, everything it reports."""

from __future__ import annotations

from bench.monitors import TRACKED, VARIANTS, run_variant


def test_each_variant_reports_every_tracked_metric_and_its_warnings() -> None:
    for name in VARIANTS:
        run = run_variant(name, model="tiny", steps=1, lr=2e-5, max_new_tokens=4, seed=0)
        assert run["variant"] == name
        assert run["steps"] == 1
        assert set(run["first"]) == set(TRACKED)
        assert all(len(values) == 1 for values in run["series"].values())
        assert run["config"]["teacher"] == VARIANTS[name]["teacher"]
        assert isinstance(run["warnings"], list)
