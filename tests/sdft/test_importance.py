"""Rollouts sampled by another copy of the weights (vLLM, synced every k steps): each sequence's loss is
weighted by the paper's code's truncated importance weight, computed from the sampler's log-probs."""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path

import pytest
import torch

from tests.sdft.test_train import EXAMPLES
from worker.sdft.batching import pack
from worker.sdft.config import PAPER_SETTINGS, ConfigError, TrainConfig
from worker.sdft.logprobs import completion_logprobs
from worker.sdft.prompts import build_prompt_pair
from worker.sdft.rollout import Completion, TransformersRolloutEngine
from worker.sdft.sink import ListSink
from worker.sdft.steps import importance_weights, sdft_step
from worker.sdft.teacher import Teachers
from worker.sdft.train import build_rollout_engine, prepare_model, train


def test_the_weight_is_the_mean_ratio_over_loss_tokens_capped() -> None:
    completions = [
        Completion([1, 2, 3, 4], True, logprobs=[-9.0, -1.0, -1.0, -1.0]),  # first token skipped
        Completion([5, 6, 7], False, logprobs=[-1.0, -3.0, -3.0]),  # trainer far likelier: capped
        Completion([8, 9, 10], False, logprobs=None),  # no sampler log-probs: weight 1
        Completion([11, 12, 13], True, logprobs=[-1.0, -1.0]),  # stop token without one: mean of the rest
    ]
    batch = pack([[1]] * 4, [c.token_ids for c in completions], pad_token_id=0, skip_first=1)
    trainer = torch.tensor(
        [-1.0, -1.0 + math.log(3), -1.0]  # ratios 1, 3, 1 -> mean 5/3
        + [-3.0 + math.log(4), -3.0 + math.log(2)]  # ratios 4, 2 -> 3 -> capped at 2
        + [-2.0, -2.0]
        + [-1.0 + math.log(0.5), -7.0]  # ratio 0.5, the last token has no sampler log-prob
    )
    capped, raw = importance_weights(trainer, batch, completions, skip_first=1, cap=2.0)
    torch.testing.assert_close(raw, torch.tensor([5 / 3, 3.0, 1.0, 0.5]))
    torch.testing.assert_close(capped, torch.tensor([5 / 3, 2.0, 1.0, 0.5]))


def test_the_transformers_engine_reports_the_log_probs_the_model_scores(tiny) -> None:
    prompts = [p.student_ids for p in _pairs(tiny, TrainConfig())]
    engine = TransformersRolloutEngine(report_logprobs=True)
    for temperature in (1.0, 0.0):
        torch.manual_seed(3)
        completions = engine.generate(
            tiny.model, prompts, eos_token_ids=tiny.eos_token_ids, pad_token_id=tiny.pad_token_id,
            max_new_tokens=7, temperature=temperature,
        )  # fmt: skip
        for prompt, completion in zip(prompts, completions, strict=True):
            assert completion.logprobs is not None
            assert len(completion.logprobs) == len(completion.token_ids)
            scored = completion_logprobs(
                tiny.model, prompt, completion.token_ids, pad_token_id=tiny.pad_token_id
            )
            chosen = scored.gather(-1, torch.tensor(completion.token_ids)[:, None]).squeeze(-1)
            torch.testing.assert_close(torch.tensor(completion.logprobs), chosen, rtol=0, atol=1e-4)


class FixedEngine:
    """Returns the given completions whatever the model: the rollouts of some other sampler."""

    def __init__(self, completions: list[Completion]) -> None:
        self.completions = completions

    def generate(self, model, prompts, **options) -> list[Completion]:  # noqa: ANN001, ANN003
        assert len(prompts) == len(self.completions)
        return copy.deepcopy(self.completions)


def _pairs(tiny, config: TrainConfig):  # noqa: ANN202
    return [build_prompt_pair(tiny.tokenizer, e, template=config.teacher_template) for e in EXAMPLES[:3]]


def _step_loss(tiny, config: TrainConfig, completions: list[Completion]) -> tuple[float, dict[str, float]]:
    tiny.model.zero_grad(set_to_none=True)
    teachers = Teachers(tiny.model, mode="frozen", ema_rate=config.ema_rate, need_reference=False)
    with torch.no_grad():  # a teacher that differs from the student, so the divergence is not zero
        torch.manual_seed(1)
        for parameter in teachers.teacher.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    totals, _ = sdft_step(
        loaded=tiny,
        pairs=_pairs(tiny, config),
        teachers=teachers,
        config=config,
        engine=FixedEngine(completions),
        autocast=contextlib.nullcontext(),
        want_traces=False,
    )
    return totals.get("loss"), totals.values


@pytest.mark.parametrize(
    ("sampler_shift", "expected_weight"), [(0.0, 1.0), (math.log(4), 0.25), (-math.log(10), 2.0)]
)
def test_an_sdft_step_scales_each_sequence_loss_by_its_capped_weight(
    tiny, sampler_shift: float, expected_weight: float
) -> None:
    config = TrainConfig(
        batch_size=3, max_new_tokens=8, skip_first_tokens=1, teacher="frozen", loss_chunk_size=16
    )
    prepare_model(tiny, config)
    pairs = _pairs(tiny, config)
    torch.manual_seed(2)
    sampled = TransformersRolloutEngine(report_logprobs=True).generate(
        tiny.model, [p.student_ids for p in pairs], eos_token_ids=tiny.eos_token_ids,
        pad_token_id=tiny.pad_token_id, max_new_tokens=8,
    )  # fmt: skip
    plain = [Completion(c.token_ids, c.ended) for c in sampled]
    # The sampler found every token exp(shift) times as likely as the trainer does.
    shifted = [
        Completion(c.token_ids, c.ended, logprobs=[lp + sampler_shift for lp in c.logprobs or []])
        for c in sampled
    ]
    plain_loss, _ = _step_loss(tiny, config, plain)
    weighted_loss, totals = _step_loss(tiny, config, shifted)
    assert plain_loss > 0
    assert weighted_loss == pytest.approx(expected_weight * plain_loss, rel=1e-3)
    assert totals["importance_sequences"] == 3
    assert totals["importance_weight_sum"] / 3 == pytest.approx(expected_weight, rel=1e-3)
    assert totals["importance_capped"] == (3 if expected_weight == 2.0 else 0)
    uncorrected, _ = _step_loss(tiny, config.replace(importance_cap=None), shifted)
    assert uncorrected == pytest.approx(plain_loss, rel=1e-6)


class StaleEngine:
    """Samples from its own copy of the student, refreshed every `sync_every` calls, as vLLM does."""

    def __init__(self, sync_every: int) -> None:
        self.sync_every = sync_every
        self.calls = 0
        self.copy = None
        self.inner = TransformersRolloutEngine(report_logprobs=True)

    def generate(self, model, prompts, **options) -> list[Completion]:  # noqa: ANN001, ANN003
        if self.calls % self.sync_every == 0:
            self.copy = copy.deepcopy(model)
        self.calls += 1
        return self.inner.generate(self.copy, prompts, **options)


def test_training_on_stale_rollouts_reports_the_weights_fresh_ones_are_one(tiny, tmp_path: Path) -> None:
    config = TrainConfig(
        steps=4,
        batch_size=3,
        max_new_tokens=8,
        lr=1e-2,
        warmup_ratio=0.0,
        teacher="frozen",
        loss_chunk_size=16,
        **PAPER_SETTINGS,  # the settings the thresholds below were measured with
    )
    sink = ListSink()
    train(
        loaded=tiny,
        examples=EXAMPLES[:6],
        config=config,
        sink=sink,
        work_dir=tmp_path,
        rollout_engine=StaleEngine(sync_every=2),
    )
    weights = sink.metric("importance_weight")
    assert len(weights) == 4
    # Steps 1 and 3 sample from weights synced just before: on-policy, weight 1 up to float noise.
    assert weights[0] == pytest.approx(1.0, abs=1e-3) and weights[2] == pytest.approx(1.0, abs=1e-3)
    # Steps 2 and 4 sample from the policy one update old (lr 1e-2 moves the tiny model a lot).
    assert abs(weights[1] - 1.0) > 1e-2 and abs(weights[3] - 1.0) > 1e-2


def test_importance_and_vllm_settings_are_validated() -> None:
    with pytest.raises(ConfigError) as error:
        TrainConfig(importance_cap=0.5)
    assert error.value.field == "importance_cap"
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"rollout_engine": "sglang"})
    assert error.value.field == "rollout_engine"
    with pytest.raises(ConfigError) as error:
        TrainConfig(vllm_sync_every=0)
    assert error.value.field == "vllm_sync_every"
    assert TrainConfig.from_dict({"importance_cap": None, "rollout_engine": "vllm"}).importance_cap is None


def test_asking_for_vllm_where_it_cannot_run_fails_naming_the_setting(tiny) -> None:
    from worker.sdft.rollout_vllm import vllm_unavailable_reason

    reason = vllm_unavailable_reason()
    if reason is None:
        pytest.skip("vLLM runs here")
    with pytest.raises(ConfigError, match="vllm cannot run on this worker") as error:
        build_rollout_engine(tiny, TrainConfig(rollout_engine="vllm"))
    assert error.value.field == "rollout_engine" and reason in str(error.value)
    # SFT samples nothing: the setting is irrelevant there.
    assert isinstance(
        build_rollout_engine(tiny, TrainConfig(method="sft", rollout_engine="vllm")),
        TransformersRolloutEngine,
    )
