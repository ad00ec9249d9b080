"""Evaluation on `tiny`: greedy accuracy against known outputs, pass@k, KL from a reference, the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from worker.cli import main
from worker.sdft.data import Example
from worker.sdft.evaluate import evaluate_examples, generate, mean_kl_from_reference, probe_subset
from worker.sdft.probe import PROBE_CATEGORIES, load_general_probe
from worker.sdft.scoring import get_scorer

PROMPTS = [[{"role": "user", "content": f"Question number {i}?"}] for i in range(3)]


def test_greedy_accuracy_counts_exactly_the_matching_outputs(tiny) -> None:  # noqa: ANN001
    _, _, outputs = generate(tiny, PROMPTS, max_new_tokens=5)
    references = [outputs[0], outputs[1], "certainly not this"]
    examples = [
        Example(prompt=prompt, demonstration="d", reference=reference)
        for prompt, reference in zip(PROMPTS, references, strict=True)
    ]
    result = evaluate_examples(tiny, examples, scorer=get_scorer("exact"), max_new_tokens=5)
    assert result.n == 3
    assert result.accuracy == pytest.approx(2 / 3)
    assert [sample["correct"] for sample in result.samples] == [True, True, False]
    assert result.samples[2]["reason"]


def test_generation_is_independent_of_batch_order(tiny) -> None:  # noqa: ANN001
    _, _, together = generate(tiny, PROMPTS, max_new_tokens=5, batch_size=8)
    _, _, one_by_one = generate(tiny, PROMPTS, max_new_tokens=5, batch_size=1)
    assert together == one_by_one


def test_pass_at_k_is_reported_and_ordered(tiny) -> None:  # noqa: ANN001
    examples = [Example(prompt=p, demonstration="d", reference="x") for p in PROMPTS]
    result = evaluate_examples(
        tiny, examples, scorer=get_scorer("contains"), max_new_tokens=3, samples=3, seed=1
    )
    assert set(result.pass_at_k) == {"pass@1", "pass@3"}
    assert 0.0 <= result.pass_at_k["pass@1"] <= result.pass_at_k["pass@3"] <= 1.0


def test_kl_from_itself_is_zero_and_from_a_changed_copy_positive(tiny) -> None:  # noqa: ANN001
    prompt_ids, completion_ids, _ = generate(tiny, PROMPTS, max_new_tokens=4)
    assert mean_kl_from_reference(tiny, tiny, prompt_ids, completion_ids) == pytest.approx(0.0, abs=1e-6)
    changed = copy.deepcopy(tiny)
    with torch.no_grad():
        for parameter in changed.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    assert mean_kl_from_reference(tiny, changed, prompt_ids, completion_ids) > 1e-4


def test_probe_subset_is_balanced_and_stable() -> None:
    items = load_general_probe()
    subset = probe_subset(items, 20)
    assert len(subset) == 20
    assert {item.category for item in subset} == set(PROBE_CATEGORIES)
    assert [item.id for item in subset] == [item.id for item in probe_subset(items, 20)]


def test_cli_eval_prints_a_summary_and_writes_samples(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skill_file = tmp_path / "skill.jsonl"
    skill_file.write_text(
        "\n".join(json.dumps({"prompt": f"Say {w}", "response": w, "reference": w}) for w in ("hi", "yo"))
        + "\n"
    )
    samples = tmp_path / "samples.jsonl"
    argv = [
        "eval",
        "--model",
        "tiny",
        "--models-dir",
        str(models_dir),
        "--skill-file",
        str(skill_file),
        "--scorer",
        "exact",
        "--max-new-tokens",
        "3",
        "--probe",
        "--probe-items",
        "4",
        "--samples-out",
        str(samples),
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 2 and 0.0 <= summary["accuracy"] <= 1.0 and "general_probe" in summary
    assert len(samples.read_text().splitlines()) == 2 + 4


def test_cli_eval_refuses_a_bad_scorer_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    skill_file = tmp_path / "skill.jsonl"
    skill_file.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n")
    argv = [
        "eval",
        "--model",
        "tiny",
        "--skill-file",
        str(skill_file),
        "--scorer",
        "regex",
        "--scorer-config",
        "{}",
    ]
    assert main(argv) == 2
    assert "scorer-config" in capsys.readouterr().err


def test_a_reference_the_scorer_cannot_read_fails_that_row_only(tiny) -> None:  # noqa: ANN001
    examples = [Example(prompt=PROMPTS[0], demonstration="d", reference="not a tool call list")]
    result = evaluate_examples(tiny, examples, scorer=get_scorer("tool_calls"), max_new_tokens=3)
    assert result.accuracy == 0.0 and result.n == 1
    assert "reference" in result.samples[0]["reason"]
