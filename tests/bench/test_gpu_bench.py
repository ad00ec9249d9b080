"""Smoke test of bench/gpu.py on CPU with the tiny model: each engine in its own process, the table and
JSON it writes; vLLM's row says why it cannot run where it cannot."""

from __future__ import annotations

import json
from pathlib import Path

from bench.gpu import COLUMNS, main, peak_tflops
from worker.sdft.rollout_vllm import vllm_unavailable_reason


def test_the_cpu_smoke_run_reports_the_split_and_skips_vllm_with_the_reason(tmp_path: Path, capsys) -> None:
    out = tmp_path / "gpu.json"
    argv = [
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--max-new-tokens",
        "6",
    ]
    assert main([*argv, "--engines", "transformers,vllm", "--out", str(out)]) == 0
    rows = {row["engine"]: row for row in json.loads(out.read_text())["rows"]}
    hf = rows["transformers"]
    assert hf["status"] == "ok" and hf["steps_measured"] == 1
    parts = hf["rollout_s"] + hf["teacher_s"] + hf["student_s"] + hf["other_s"]
    assert abs(parts - hf["step_s"]) < 1e-6 and min(hf["rollout_s"], hf["teacher_s"], hf["student_s"]) > 0
    assert 0 < hf["completion_tokens"] <= 6 and hf["teacher_prompt_tokens"] > hf["student_prompt_tokens"]
    assert hf["rollout_tokens_per_s"] > hf["step_tokens_per_s"] > 0 and hf["model_tflops_per_step"] > 0
    reason = vllm_unavailable_reason()
    if reason:
        assert rows["vllm"] == {**rows["vllm"], "status": "skipped", "reason": reason}
    table = capsys.readouterr().out
    assert all(title in table for title, _, _ in COLUMNS) and "| transformers |" in table


def test_mfu_uses_the_known_peak_of_the_device_or_the_given_one() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3", None) == 989.4
    assert peak_tflops("NVIDIA H200", None) == 989.4
    assert peak_tflops("Some Future GPU", None) is None
    assert peak_tflops("Some Future GPU", 500.0) == 500.0
