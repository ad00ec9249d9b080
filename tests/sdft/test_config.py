"""TrainConfig: defaults (the paper's but for the teacher template and skipped tokens), JSON round trip,
errors that name the field."""

from __future__ import annotations

import pytest

from worker.sdft.config import (
    AUTO_GENERAL_MIX,
    AUTO_LARGE_MODEL_PARAMETERS,
    AUTO_LR,
    AUTO_LR_SMALL_MODEL,
    FORMAT_TEACHER_TEMPLATE,
    PAPER_SETTINGS,
    PAPER_TEACHER_TEMPLATE,
    ConfigError,
    TrainConfig,
    resolve_auto_settings,
)


def test_defaults_follow_the_paper_but_for_the_teacher_template_and_skipped_tokens() -> None:
    config = TrainConfig()
    assert (config.method, config.teacher, config.divergence) == ("sdft", "ema", "forward_kl")
    assert (config.ema_rate, config.n_rollouts) == (0.01, 1)
    assert (config.warmup_ratio, config.max_grad_norm) == (0.1, 1.0)
    assert resolve_auto_settings(config, 10**6).lr == 2e-5
    assert (config.temperature, config.top_p, config.top_k) == (1.0, 1.0, None)
    # Chosen by the learning benchmark (bench/results/learning.md); PAPER_SETTINGS restores the paper's.
    assert (config.teacher_template, config.skip_first_tokens) == (FORMAT_TEACHER_TEMPLATE, 0)
    paper = TrainConfig(**PAPER_SETTINGS)
    assert (paper.teacher_template, paper.skip_first_tokens) == (PAPER_TEACHER_TEMPLATE, 3)


def test_skipped_tokens_left_unset_follow_the_template() -> None:
    # The paper's template frames its answers in the first tokens; a skill that keeps it (migration
    # 0007 wrote it into old skills) keeps the paper's 3 skipped tokens unless a job says otherwise.
    assert TrainConfig(teacher_template=PAPER_TEACHER_TEMPLATE).skip_first_tokens == 3
    assert TrainConfig.from_dict({"teacher_template": PAPER_TEACHER_TEMPLATE}).skip_first_tokens == 3
    assert TrainConfig(teacher_template="{prompt} / {demonstration}").skip_first_tokens == 0
    explicit = TrainConfig.from_dict({"teacher_template": PAPER_TEACHER_TEMPLATE, "skip_first_tokens": 0})
    assert explicit.skip_first_tokens == 0
    # Once built the value is a number, so a manifest records what ran.
    assert TrainConfig.from_dict(TrainConfig(**PAPER_SETTINGS).to_dict()).skip_first_tokens == 3
    assert TrainConfig.from_dict({"skip_first_tokens": None}).skip_first_tokens == 0


def test_round_trip_through_a_dict() -> None:
    config = TrainConfig(method="sft", steps=7, lr=1e-5, lora_rank=8, divergence="jsd", beta=0.3)
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"learning_rate": 1e-5}, "learning_rate"),
        ({"lr": "fast"}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"steps": 2.5}, "steps"),
        ({"steps": 3, "epochs": 1}, "steps"),
        ({"teacher": "student"}, "teacher"),
        ({"divergence": "kl"}, "divergence"),
        ({"divergence": "jsd", "beta": 0.0}, "beta"),
        ({"batch_size": 4, "grad_accum": 3}, "grad_accum"),
        ({"ema_rate": 0.0}, "ema_rate"),
        ({"general_mix": 1.0}, "general_mix"),
        ({"teacher_template": "{prompt} only"}, "teacher_template"),
        ({"gradient_checkpointing": "yes"}, "gradient_checkpointing"),
        ({"top_k": 0}, "top_k"),
        ({"method": "sft", "general_mix": 0.25}, "general_mix"),
    ],
)
def test_bad_values_name_their_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict(data)
    assert error.value.field == field
    assert error.value.message


def test_general_mix_left_unset_is_decided_by_the_models_size() -> None:
    config = TrainConfig()
    assert config.general_mix is None and TrainConfig(**PAPER_SETTINGS).general_mix == 0.0
    assert resolve_auto_settings(config, 494_032_768).general_mix == AUTO_GENERAL_MIX == 0.25  # Qwen2.5-0.5B
    assert resolve_auto_settings(config, 134_515_008).general_mix == 0.0  # SmolLM2-135M
    assert resolve_auto_settings(TrainConfig(method="sft"), 7_000_000_000).general_mix == 0.0
    assert resolve_auto_settings(TrainConfig(general_mix=0.1), 10**9).general_mix == 0.1  # set: kept
    # The batch must have room for what auto may become: replay 0.75 of 4 plus 1 general prompt is all 4.
    TrainConfig(batch_size=4, replay_fraction=0.75, general_mix=0.0)
    with pytest.raises(ConfigError, match="auto") as error:
        TrainConfig(batch_size=4, replay_fraction=0.75)
    assert error.value.field == "replay_fraction"


def test_lr_left_unset_is_decided_by_the_method_and_for_sft_the_models_size() -> None:
    assert TrainConfig().lr is None and TrainConfig(method="sft").lr is None
    sdft, sft = TrainConfig(), TrainConfig(method="sft")
    assert resolve_auto_settings(sdft, 494_032_768).lr == AUTO_LR["sdft"] == 2e-5  # the paper's
    assert resolve_auto_settings(sdft, 134_515_008).lr == AUTO_LR_SMALL_MODEL["sdft"] == 2e-5
    assert resolve_auto_settings(sft, 494_032_768).lr == AUTO_LR["sft"] == 1e-5  # Qwen2.5-0.5B
    assert resolve_auto_settings(sft, 7_000_000_000).lr == 1e-5
    assert resolve_auto_settings(sft, 134_515_008).lr == AUTO_LR_SMALL_MODEL["sft"] == 2e-5  # SmolLM2-135M
    assert resolve_auto_settings(sft, AUTO_LARGE_MODEL_PARAMETERS).lr == 1e-5  # the threshold counts as large
    # Decided from the method the run has, not the one the config was first built with.
    assert resolve_auto_settings(TrainConfig().replace(method="sft"), 10**9).lr == 1e-5
    assert resolve_auto_settings(TrainConfig(method="sft", lr=5e-6), 10**6).lr == 5e-6  # set: kept
    with pytest.raises(ConfigError) as error:
        TrainConfig(lr=0.0)
    assert error.value.field == "lr"


def test_integral_floats_are_accepted_for_integers() -> None:
    assert TrainConfig.from_dict({"steps": 3.0}).steps == 3
