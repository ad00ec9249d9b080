"""Replay from earlier skills on the tiny model: batch composition, the earlier skill's own template, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from worker.sdft.config import ConfigError, TrainConfig
from worker.sdft.data import DataError, Example
from worker.sdft.prompts import build_prompt_pair
from worker.sdft.replay import ReplaySet, build_replay_pairs, replay_per_step
from worker.sdft.rollout import Completion, TransformersRolloutEngine
from worker.sdft.sink import ListSink
from worker.sdft.train import demonstrations_per_step, total_steps, train

NEW = [
    Example(prompt=[{"role": "user", "content": f"What is {i} plus {i}?"}], demonstration=f"{2 * i}")
    for i in range(4)
]
OLD_TEMPLATE = "{prompt}\n\nEarlier skill example:\n{demonstration}"
OLD = ReplaySet(
    name="greeting",
    examples=[
        Example(prompt=[{"role": "user", "content": f"Greet person {i}."}], demonstration=f"Hello, {i}!")
        for i in range(3)
    ],
    template=OLD_TEMPLATE,
)
FAST = {"batch_size": 4, "max_new_tokens": 4, "lr": 1e-4, "teacher": "frozen"}


class RecordingRollouts:
    """The real rollout engine, keeping every step's prompts."""

    def __init__(self) -> None:
        self.engine = TransformersRolloutEngine()
        self.prompts: list[list[list[int]]] = []

    def generate(self, model: Any, prompts: list[list[int]], **kwargs: Any) -> list[Completion]:
        self.prompts.append([list(prompt) for prompt in prompts])
        return self.engine.generate(model, prompts, **kwargs)


def test_config_checks_and_batch_arithmetic() -> None:
    config = TrainConfig(replay_fraction=0.25, batch_size=8, general_mix=0.25)
    assert replay_per_step(config) == 2 and demonstrations_per_step(config) == 4
    assert total_steps(config.replace(epochs=1.0), num_examples=8) == 2
    with pytest.raises(ConfigError, match="replay_fraction"):
        TrainConfig(replay_fraction=0.5, general_mix=0.5, batch_size=4)
    with pytest.raises(ConfigError, match="replay_fraction"):
        TrainConfig(method="sft", replay_fraction=0.25)
    with pytest.raises(ConfigError, match="replay_fraction"):
        TrainConfig(replay_fraction=1.0)
    assert TrainConfig.from_dict({"replay_fraction": 0.5}).replay_fraction == 0.5


def test_replay_pairs_use_the_earlier_skills_template(tiny) -> None:
    config = TrainConfig(replay_fraction=0.25)
    [pairs] = build_replay_pairs(tiny, [OLD, ReplaySet(name="empty", examples=[])], config)
    assert len(pairs) == 3
    expected = build_prompt_pair(tiny.tokenizer, OLD.examples[0], template=OLD_TEMPLATE)
    assert pairs[0].teacher_ids == expected.teacher_ids and "Earlier skill example" in pairs[0].teacher_text
    assert pairs[0].student_ids == expected.student_ids and not pairs[0].general
    too_long = ReplaySet(
        name="long", examples=[Example(prompt=[{"role": "user", "content": "x " * 300}], demonstration="y")]
    )
    with pytest.raises(DataError, match=r"replay\[long\]"):
        build_replay_pairs(tiny, [too_long], config.replace(max_prompt_tokens=64))


def test_each_step_trains_on_replayed_prompts(tiny, tmp_path: Path) -> None:
    config = TrainConfig(steps=3, replay_fraction=0.25, **FAST)
    rollouts = RecordingRollouts()
    sink = ListSink()
    train(
        loaded=tiny,
        examples=NEW,
        config=config,
        sink=sink,
        work_dir=tmp_path,
        rollout_engine=rollouts,
        replay=[OLD],
    )
    old_prompts = [
        build_prompt_pair(tiny.tokenizer, e, template=OLD_TEMPLATE).student_ids for e in OLD.examples
    ]
    new_prompts = [
        build_prompt_pair(tiny.tokenizer, e, template=config.teacher_template).student_ids for e in NEW
    ]
    assert len(rollouts.prompts) == 3
    for step_prompts in rollouts.prompts:
        assert len(step_prompts) == 4
        assert sum(prompt in new_prompts for prompt in step_prompts) == 3
        assert sum(prompt in old_prompts for prompt in step_prompts) == 1
    assert len(sink.steps) == 3


def test_replay_needs_earlier_demonstrations(tiny, tmp_path: Path) -> None:
    config = TrainConfig(steps=1, replay_fraction=0.25, **FAST)
    with pytest.raises(ConfigError, match="replay_fraction"):
        train(loaded=tiny, examples=NEW, config=config, sink=ListSink(), work_dir=tmp_path)


def test_a_replay_run_resumes_to_the_same_prompts(models_dir: Path, tmp_path: Path) -> None:
    from worker.sdft.models import load_model

    config = TrainConfig(steps=3, replay_fraction=0.25, checkpoint_every=1, **FAST)
    straight = RecordingRollouts()
    train(
        loaded=load_model("tiny", models_dir=models_dir),
        examples=NEW,
        config=config,
        sink=ListSink(),
        work_dir=tmp_path / "a",
        rollout_engine=straight,
        replay=[OLD],
    )
    resumed = RecordingRollouts()
    train(
        loaded=load_model("tiny", models_dir=models_dir),
        examples=NEW,
        config=config,
        sink=ListSink(stop_after=2),
        work_dir=tmp_path / "b",
        rollout_engine=RecordingRollouts(),
        replay=[OLD],
    )
    result = train(
        loaded=load_model("tiny", models_dir=models_dir),
        examples=NEW,
        config=config,
        sink=ListSink(),
        work_dir=tmp_path / "b",
        rollout_engine=resumed,
        replay=[OLD],
    )
    assert result.resumed_from == 2
    assert resumed.prompts == straight.prompts[2:]
