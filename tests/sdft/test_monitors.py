"""Failure-mode monitors triggered by constructed rollouts and metrics, and inside the training loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from worker.sdft.config import PAPER_TEACHER_TEMPLATE, TrainConfig
from worker.sdft.data import Example
from worker.sdft.models import smollm2_tokenizer
from worker.sdft.monitors import (
    Monitors,
    MonitorStop,
    ParameterSample,
    entropy_collapsed,
    leakage_rate,
    length_out_of_range,
    template_phrases,
)
from worker.sdft.prompts import demonstration_ids
from worker.sdft.rollout import Completion
from worker.sdft.sink import ListSink
from worker.sdft.train import train

# The paper's template: the words the live teacher taught SmolLM2 (DESIGN.md); tests of leakage use it.
LEAKING = "This is an example for a response to the question: the answer is 4."
PAPER = {"teacher_template": PAPER_TEACHER_TEMPLATE}
CLEAN = "The answer is 4."
EXAMPLES = [
    Example(prompt=[{"role": "user", "content": f"What is {i} plus {i}?"}], demonstration=f"{2 * i}")
    for i in range(4)
]


@pytest.fixture(scope="module")
def tokenizer(models_dir: Path) -> Any:
    return smollm2_tokenizer(models_dir=models_dir)


def completions(tokenizer: Any, texts: list[str]) -> list[Completion]:
    return [
        Completion(token_ids=tokenizer(text, add_special_tokens=False)["input_ids"], ended=True)
        for text in texts
    ]


def run_steps(
    monitors: Monitors, tokenizer: Any, steps: list[tuple[list[str], dict[str, float]]]
) -> list[dict]:
    """Feed each step's rollouts and metrics; return every warning with its step."""
    warnings = []
    for step, (texts, metrics) in enumerate(steps, start=1):
        monitors.record(completions(tokenizer, texts))
        warnings += [{"step": step, **w} for w in monitors.check(step, metrics).warnings]
    return warnings


def test_template_phrases_come_from_the_template_text_only() -> None:
    phrases = template_phrases(PAPER_TEACHER_TEMPLATE)
    assert ("of", "your", "own") in phrases and ("example", "for", "a") in phrases
    assert ("question", "now", "answer") not in phrases  # never across the {demonstration} slot
    assert not any("prompt" in phrase or "demonstration" in phrase for phrase in phrases)
    assert template_phrases("{prompt} {demonstration}") == frozenset()


def test_leakage_rate_counts_rollouts_holding_any_phrase() -> None:
    phrases = template_phrases(PAPER_TEACHER_TEMPLATE)
    assert leakage_rate([LEAKING, CLEAN, "Try one OF YOUR OWN ideas.", CLEAN], phrases) == 0.5
    assert leakage_rate([], phrases) == 0.0


def test_threshold_functions() -> None:
    assert entropy_collapsed(start=4.0, current=1.0, ratio=0.3)
    assert not entropy_collapsed(start=4.0, current=1.3, ratio=0.3)
    assert not entropy_collapsed(start=0.0, current=0.0, ratio=0.3)
    assert length_out_of_range(start=40, current=9, ratio=4, max_new_tokens=256) == "collapse"
    assert length_out_of_range(start=40, current=161, ratio=4, max_new_tokens=256) == "explosion"
    assert length_out_of_range(start=40, current=100, ratio=4, max_new_tokens=256) is None
    # Capped under the length limit: a run that starts at 60 of 64 tokens cannot explode.
    assert length_out_of_range(start=20, current=62, ratio=4, max_new_tokens=64) == "explosion"
    assert length_out_of_range(start=62, current=64, ratio=4, max_new_tokens=64) is None
    # Starting near the limit (the benchmark's 28.5 of 32), reaching it is not an explosion.
    assert length_out_of_range(start=28.5, current=31.4, ratio=4, max_new_tokens=32) is None
    assert length_out_of_range(start=21, current=31, ratio=4, max_new_tokens=32) is None
    assert length_out_of_range(start=15, current=31, ratio=4, max_new_tokens=32) == "explosion"


def test_leakage_warns_once_above_the_starting_rate(tokenizer: Any) -> None:
    monitors = Monitors(TrainConfig(**PAPER), tokenizer=tokenizer)
    steps = [
        ([CLEAN] * 4, {}),
        ([LEAKING, CLEAN, CLEAN, CLEAN], {}),
        ([LEAKING] * 4, {}),
        ([LEAKING] * 4, {}),
    ]
    warnings = run_steps(monitors, tokenizer, steps)
    assert [(w["step"], w["monitor"]) for w in warnings] == [(3, "teacher_phrase_leakage")]
    assert warnings[0]["baseline"] == 0.0 and warnings[0]["value"] == pytest.approx(
        (0 + 0.25 + 1) / 3, abs=1e-6
    )
    assert "teacher template" in warnings[0]["message"] and warnings[0]["stop"] is False


def test_leakage_already_present_in_the_base_model_is_not_an_alarm(tokenizer: Any) -> None:
    monitors = Monitors(TrainConfig(**PAPER), tokenizer=tokenizer)
    half = [LEAKING, LEAKING, CLEAN, CLEAN]
    assert run_steps(monitors, tokenizer, [(half, {})] * 4) == []
    report = monitors.check(5, {})
    assert "leakage_rate" not in report.metrics  # no rollouts this step: nothing measured


def test_entropy_collapse_and_recovery_warn_on_each_onset(tokenizer: Any) -> None:
    monitors = Monitors(TrainConfig(monitor_leakage=None), tokenizer=tokenizer)
    entropies = [5.0, 4.0, 0.5, 0.2, 0.1, 6.0, 6.0, 6.0, 0.1, 0.1, 0.1]
    warnings = run_steps(monitors, tokenizer, [([], {"entropy": e, "loss_tokens": 8}) for e in entropies])
    assert [(w["step"], w["monitor"]) for w in warnings] == [
        (5, "entropy_collapse"),  # window means: 3.17, 1.57, then 0.27 < 0.3 x 5.0
        (11, "entropy_collapse"),  # recovered over steps 6-8 (means 2.1, 4.0, 6.0), collapsed again
    ]
    assert warnings[0]["baseline"] == 5.0 and warnings[0]["threshold"] == 0.3


def test_a_value_hovering_at_the_threshold_warns_once_until_it_recovers_for_a_window(tokenizer: Any) -> None:
    monitors = Monitors(TrainConfig(monitor_leakage=None, monitor_length_ratio=None), tokenizer=tokenizer)
    cut_off = [0.75, 0.5, 0.25, 0.75, 0.75, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    warnings = run_steps(monitors, tokenizer, [([], {"eos_fraction": 1 - share}) for share in cut_off])
    # Window means 0.75 0.62 | 0.5 0.5 | 0.58 | 0.5 0.25 0.0 | 0.0 0.33 | 0.67: the dip at steps 3-4 is
    # two steps, so step 5 is the same episode; steps 6-8 recover it, and step 11 is a new one.
    assert [(w["step"], w["monitor"]) for w in warnings] == [
        (1, "rollouts_truncated"),
        (11, "rollouts_truncated"),
    ]


def test_length_collapse_and_explosion(tokenizer: Any) -> None:
    monitors = Monitors(TrainConfig(monitor_leakage=None, max_new_tokens=256), tokenizer=tokenizer)
    lengths = [40, 40, 3, 2, 2]
    warnings = run_steps(monitors, tokenizer, [([], {"completion_tokens": n}) for n in lengths])
    assert [w["monitor"] for w in warnings] == ["length_collapse"]
    monitors = Monitors(TrainConfig(monitor_leakage=None, max_new_tokens=256), tokenizer=tokenizer)
    warnings = run_steps(monitors, tokenizer, [([], {"completion_tokens": n}) for n in [10, 200, 250]])
    assert [(w["step"], w["monitor"]) for w in warnings] == [(2, "length_explosion")]


def test_truncated_rollouts_warn_from_the_first_step_and_again_after_recovering(tokenizer: Any) -> None:
    monitors = Monitors(
        TrainConfig(monitor_leakage=None, max_new_tokens=64),
        tokenizer=tokenizer,
        demonstration_tokens=[40, 50, 60],
    )
    ended = [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]  # window means cut: 1, 1, .67, .33, 0, .33, .67
    warnings = run_steps(monitors, tokenizer, [([], {"eos_fraction": e}) for e in ended])
    assert [(w["step"], w["monitor"]) for w in warnings] == [
        (1, "rollouts_truncated"),
        (7, "rollouts_truncated"),
    ]
    assert warnings[0]["value"] == 1.0 and warnings[0]["threshold"] == 0.5
    message = warnings[0]["message"]
    assert "100% of recent rollouts stopped at max_new_tokens=64" in message
    assert "50 tokens on average (60 at most)" in message and "raise max_new_tokens" in message
    # Rollouts that mostly end are fine; without demonstration lengths the message still reads.
    monitors = Monitors(TrainConfig(monitor_leakage=None), tokenizer=tokenizer)
    assert run_steps(monitors, tokenizer, [([], {"eos_fraction": 0.75})] * 4) == []
    monitors = Monitors(TrainConfig(monitor_leakage=None, max_new_tokens=8), tokenizer=tokenizer)
    [warning] = run_steps(monitors, tokenizer, [([], {"eos_fraction": 0.25})])
    assert warning["message"].startswith("75% of recent rollouts stopped at max_new_tokens=8 before ending:")
    # Demonstrations far shorter than the limit: the student does not stop, the limit is not the problem.
    monitors = Monitors(
        TrainConfig(monitor_leakage=None, max_new_tokens=32), tokenizer=tokenizer, demonstration_tokens=[14]
    )
    [warning] = run_steps(monitors, tokenizer, [([], {"eos_fraction": 0.0})])
    assert "runs on past where its answers should end" in warning["message"]
    assert "raise max_new_tokens" not in warning["message"]
    off = Monitors(TrainConfig(monitor_leakage=None, monitor_truncation=None), tokenizer=tokenizer)
    assert run_steps(off, tokenizer, [([], {"eos_fraction": 0.0})] * 3) == []


def test_kl_from_base_on_general_prompts(tokenizer: Any) -> None:
    monitors = Monitors(TrainConfig(monitor_kl_max=0.5), tokenizer=tokenizer)
    values = [0.0, 0.2, 1.0, 1.2, 1.2]
    warnings = run_steps(monitors, tokenizer, [([], {"general_divergence": v}) for v in values])
    assert [(w["step"], w["monitor"]) for w in warnings] == [(4, "kl_from_base")]
    # Not measured (general_mix = 0): never a warning.
    assert run_steps(Monitors(TrainConfig(), tokenizer=tokenizer), tokenizer, [([], {})] * 3) == []


def test_parameter_sample_measures_relative_drift(tiny) -> None:
    names = [name for name, _ in tiny.model.named_parameters()]
    sample = ParameterSample.of(tiny.model, names, per_tensor=64)
    assert sample.relative_drift(tiny.model) == 0.0
    with torch.no_grad():
        for parameter in tiny.model.parameters():
            parameter.mul_(1.1)
    assert sample.relative_drift(tiny.model) == pytest.approx(0.1, rel=1e-4)


def test_teacher_drift_warns_past_its_bound(tiny) -> None:
    names = [name for name, _ in tiny.model.named_parameters()]
    monitors = Monitors(
        TrainConfig(monitor_teacher_drift=0.05),
        tokenizer=tiny.tokenizer,
        teacher=tiny.model,
        teacher_parameter_names=names,
    )
    assert monitors.check(1, {}).warnings == []
    with torch.no_grad():
        for parameter in tiny.model.parameters():
            parameter.mul_(1.2)
    report = monitors.check(2, {})
    assert report.metrics["teacher_drift"] == pytest.approx(0.2, rel=1e-4)
    assert [w["monitor"] for w in report.warnings] == ["teacher_drift"]


def test_sft_runs_are_not_monitored(tokenizer: Any) -> None:
    monitors = Monitors(TrainConfig(method="sft"), tokenizer=tokenizer)
    warnings = run_steps(
        monitors, tokenizer, [([], {"entropy": e, "loss_tokens": 5}) for e in [5.0, 0.1, 0.1]]
    )
    assert warnings == []


class ScriptedRollouts:
    """A rollout engine that answers with prepared texts: clean on the first call, leaking afterwards."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.calls = 0

    def generate(self, model: Any, prompts: list[list[int]], **_: Any) -> list[Completion]:
        self.calls += 1
        text = CLEAN if self.calls == 1 else LEAKING
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [Completion(token_ids=[*ids, self.tokenizer.eos_token_id], ended=True) for _ in prompts]


def train_on_examples(tiny: Any, config: TrainConfig, work_dir: Path, engine: Any = None) -> ListSink:
    sink = ListSink()
    train(loaded=tiny, examples=EXAMPLES, config=config, sink=sink, work_dir=work_dir, rollout_engine=engine)
    return sink


class EndlessRollouts:
    """A rollout engine whose every rollout runs into max_new_tokens without ending."""

    def generate(
        self, model: Any, prompts: list[list[int]], *, max_new_tokens: int, **_: Any
    ) -> list[Completion]:
        return [Completion(token_ids=[7] * max_new_tokens, ended=False) for _ in prompts]


def test_the_loop_warns_of_truncated_rollouts_with_the_demonstrations_lengths(tiny, tmp_path: Path) -> None:
    config = TrainConfig(steps=2, batch_size=2, max_new_tokens=4, lr=1e-4, teacher="frozen")
    sink = train_on_examples(tiny, config, tmp_path, EndlessRollouts())
    assert sink.metric("eos_fraction") == [0.0, 0.0]
    [(step, warning)] = sink.warnings
    assert step == 1 and warning["monitor"] == "rollouts_truncated"
    lengths = [
        len(demonstration_ids(tiny.tokenizer, example.demonstration, eos_token_id=tiny.eos_token_id))
        for example in EXAMPLES
    ]
    assert f"{max(lengths)} at most" in warning["message"]


def test_the_loop_reports_warnings_and_leakage_metrics(tiny, tmp_path: Path) -> None:
    config = TrainConfig(steps=3, batch_size=2, max_new_tokens=32, lr=1e-4, teacher="frozen", **PAPER)
    sink = train_on_examples(tiny, config, tmp_path, ScriptedRollouts(tiny.tokenizer))
    assert sink.metric("leakage_rate") == [0.0, 1.0, 1.0]
    assert [(step, w["monitor"]) for step, w in sink.warnings] == [(2, "teacher_phrase_leakage")]
    assert "teacher_drift" not in sink.steps[0][1]  # a frozen teacher does not move


def test_monitor_stop_ends_the_run_with_the_reason(tiny, tmp_path: Path) -> None:
    config = TrainConfig(
        steps=5, batch_size=2, max_new_tokens=32, lr=1e-4, teacher="frozen", monitor_stop=True, **PAPER
    )
    sink = ListSink()
    with pytest.raises(MonitorStop, match="teacher_phrase_leakage") as stopped:
        train(
            loaded=tiny,
            examples=EXAMPLES,
            config=config,
            sink=sink,
            work_dir=tmp_path,
            rollout_engine=ScriptedRollouts(tiny.tokenizer),
        )
    assert stopped.value.warning["stop"] is True
    assert [step for step, _ in sink.steps] == [1, 2]  # the stopping step was still reported
    assert [step for step, _ in sink.warnings] == [2]


def test_the_ema_teacher_drift_is_a_step_metric(tiny, tmp_path: Path) -> None:
    config = TrainConfig(
        steps=2,
        batch_size=2,
        max_new_tokens=6,  # cuts the tiny model's rollouts: only the drift monitor is under test
        lr=1e-2,
        ema_rate=0.5,
        monitor_teacher_drift=1e-6,
        monitor_truncation=None,
    )
    sink = train_on_examples(tiny, config, tmp_path)
    drift = sink.metric("teacher_drift")
    assert 0 < drift[0] < drift[1]
    assert [(step, w["monitor"]) for step, w in sink.warnings] == [(1, "teacher_drift")]
