"""bench/memory.py end to end on the tiny model: each case in its own process, estimate beside the peak."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_memory_bench_writes_the_estimate_beside_the_measured_peak(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    command = [sys.executable, "bench/memory.py", "--model", "tiny", "--cases", "sdft,sft:mmap4m"]
    command += [
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--max-new-tokens",
        "8",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    printed = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT).stdout
    assert printed.splitlines()[0].startswith("case | estimate GiB | certain GiB")
    rows = {row["case"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"sdft", "sft:mmap4m"}
    sdft, sft = rows["sdft"], rows["sft:mmap4m"]
    assert sdft["estimate_peak_gib"] >= sdft["estimate_certain_gib"] > sft["estimate_certain_gib"] > 0
    assert sdft["estimate_gib"]["teacher_copies"] > 0 == sft["estimate_gib"]["teacher_copies"]
    inherited = {name: value for name, value in os.environ.items() if name.startswith("MALLOC_")}
    assert sft["malloc_env"] == {**inherited, "MALLOC_MMAP_THRESHOLD_": "4194304"}
    assert sdft["malloc_env"] == inherited
    for row in rows.values():
        assert row["peak_rss_gib"] > row["held_before_training_gib"] > 0
        assert row["needed_gib"] > 0 and row["needed_over_estimate"] > 0


def test_memory_bench_refuses_an_unknown_case() -> None:
    command = [sys.executable, "bench/memory.py", "--cases", "sdft,nonsense"]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    assert refused.returncode == 2 and "unknown case 'nonsense'" in refused.stderr
