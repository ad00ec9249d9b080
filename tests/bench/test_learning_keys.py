"""Run keys: the benchmark writes them, --resume, the report and the claims read them (bench/learning_keys.py)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bench import learning
from bench.learning_keys import RunKey, parse_key, parse_limits
from bench.learning_runner import run_key, sequential_run_key

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def recorded() -> list[dict]:
    records = []
    for path in sorted(RESULTS.glob("learning-*.json")):
        data = json.loads(path.read_text())
        records += data.get("runs", []) + data.get("sequential", [])
    return records


def test_every_recorded_key_reads_back_into_the_fields_of_its_record_and_writes_out_unchanged() -> None:
    records = recorded()
    assert len(records) > 200
    for record in records:
        key = parse_key(record["key"])
        assert str(key) == record["key"]
        phase = record.get("phase", "sequential")  # sequential records hold no phase field
        assert (key.phase, key.method, key.seed) == (phase, record["method"], str(record["seed"]))
        assert key.subject == record.get("skill") or key.subject == ">".join(record["skills"])
        assert key.model.split("@")[0] == record.get("model", key.model.split("@")[0])
        assert parse_limits(key.limits) is not None, record["key"]


def test_the_runner_writes_keys_in_the_layout_the_results_files_already_hold() -> None:
    settings, _ = learning.parse_args(
        ["--model", "smollm2-135m", "--steps", "12", "--eval-limit", "30", "--probe-items", "30"]
    )
    budget = settings.budget.for_skill(64)
    assert (
        run_key("comparison", "science", "sdft-paper", 0, budget, settings)
        == "comparison|smollm2-135m|science|sdft-paper|0|12x4@2e-05/64|tNonee30hNonep30"
    )
    assert run_key("comparison", "science", "base", None, budget, settings).split("|")[4] == "None"

    gpu = replace(settings, device="cuda", budget=replace(settings.budget, dtype="bfloat16"))
    assert (
        sequential_run_key("sft", 1, gpu.budget, ["tooluse", "science", "dates"], gpu)
        == "sequential|smollm2-135m@cuda/bfloat16|sft|1|12x4@2e-05|tooluse>science>dates|tNonee30p30"
    )


def test_a_sequential_key_names_its_order_as_the_subject() -> None:
    key = parse_key("sequential|qwen2.5-0.5b|sft-lr1e-5|1|12x4@2e-05|tooluse>science>dates|tNonee50p60")
    assert key == RunKey(
        "sequential", "qwen2.5-0.5b", "tooluse>science>dates", "sft-lr1e-5", "1", "12x4@2e-05", "tNonee50p60"
    )
    assert parse_limits(key.limits) == {"train": None, "eval": 50, "holdout": None, "probe": 60}
    assert parse_limits("t10e20h5p30") == {"train": 10, "eval": 20, "holdout": 5, "probe": 30}


@pytest.mark.parametrize("bad", ["comparison|tiny|dates|sft|0", "a|b|c|d|e|f|g|h"])
def test_a_key_without_seven_parts_is_refused_with_the_key_in_the_message(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + " has .* parts, not 7"):
        parse_key(bad)


def test_limits_in_another_form_read_as_none() -> None:
    assert parse_limits("eval50") is None
