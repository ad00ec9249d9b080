"""Smoke test of bench/parallel.py on CPU with the tiny model: one row per process count, each through
the job's launcher, the table and JSON it writes."""

from __future__ import annotations

import json
from pathlib import Path

from bench.parallel import COLUMNS, main


def test_each_row_reports_step_time_tokens_and_memory(tmp_path: Path, capsys) -> None:
    out = tmp_path / "parallel.json"
    argv = [
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--processes",
        "1,2s",
        "--steps",
        "2",
        "--batch-size",
        "2",
    ]
    assert main([*argv, "--max-new-tokens", "6", "--cores", "2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(row["processes"], row["weights"]) for row in rows] == [(1, "whole"), (2, "sharded")]
    for row in rows:
        assert row["status"] == "ok" and row["steps_measured"] == 1
        assert row["step_s"] > 0 and row["tokens_per_s"] > 0 and 0 < row["completion_tokens"] <= 6
        assert row["peak_rss_gib"] > 0.1  # a torch process, measured per row
    assert rows[0]["speedup"] == 1.0
    table = capsys.readouterr().out
    assert all(title in table for title, _, _ in COLUMNS) and "| 2 | sharded |" in table
