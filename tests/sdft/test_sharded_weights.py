"""Sharded weights (shard_weights, FSDP): real processes under torch.distributed.run on the CPU (gloo).

Each process keeps half of every decoder weight; every forward gathers them. The checks: the
sharded run ends at the weights of the unsharded ones (SFT against one process; SDFT, whose
processes sample rollouts of different lengths and hold general prompts unevenly, against the
unsharded data parallel run with the same seeds), a stopped run resumes exactly from a step
checkpoint gathered from the shards, and the checkpoint written at the end is whole and loads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.sdft.test_data_parallel import EXAMPLES, FAST, spec_for
from worker.sdft.checkpoints import load_checkpoint, verify_checkpoint
from worker.sdft.config import ConfigError, TrainConfig
from worker.sdft.launch import train_on_processes
from worker.sdft.models import load_model
from worker.sdft.sink import ListSink
from worker.sdft.train import train

GENERAL_PROMPTS = [
    [{"role": "user", "content": text}] for text in ("Say hello.", "Name a colour.", "Count to 3.")
]


def weights(checkpoint: Path, models_dir: Path) -> dict[str, torch.Tensor]:
    return dict(load_checkpoint(checkpoint, models_dir=models_dir).model.named_parameters())


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    with torch.no_grad():
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-4, msg=name)


def test_sharded_sft_with_recomputed_activations_matches_one_process(
    tiny, models_dir: Path, tmp_path: Path
) -> None:
    # Recomputed activations (gradient checkpointing) gather each layer's weights again in the backward;
    # stored activations are checked by the resume test below, which also ends at one process's weights.
    config = TrainConfig(method="sft", steps=3, gradient_checkpointing=True, **FAST)
    alone = ListSink()
    train(loaded=tiny, examples=EXAMPLES, config=config, sink=alone, work_dir=tmp_path / "alone")

    sink = ListSink()
    launched = train_on_processes(
        spec_for(tmp_path, models_dir, config.replace(num_gpus=2, shard_weights=True)),
        num_processes=2,
        sink=sink,
        launch_dir=tmp_path / "launch",
    )

    assert [step for step, _ in sink.steps] == [1, 2, 3]
    for (_, sharded), (_, single) in zip(sink.steps, alone.steps, strict=True):
        assert sharded["loss"] == pytest.approx(single["loss"], rel=1e-4)
        assert sharded["grad_norm"] == pytest.approx(single["grad_norm"], rel=1e-3)  # norm over shards
    trained = weights(launched.checkpoint, models_dir)
    untrained = dict(load_model("tiny", models_dir=models_dir).model.named_parameters())
    with torch.no_grad():
        assert max(float((trained[name] - untrained[name]).abs().max()) for name in trained) > 1e-2
    assert_same_weights(trained, dict(tiny.model.named_parameters()))
    assert verify_checkpoint(launched.checkpoint)["num_gpus"] == 2


def test_sharded_sdft_matches_unsharded_data_parallel(models_dir: Path, tmp_path: Path) -> None:
    # One general prompt per step of 4: one process scores it, the other runs an idle pass to match
    # its forwards; rollouts end at different lengths, so generation runs the processes in lockstep.
    config = TrainConfig(steps=2, num_gpus=2, general_mix=0.25, trace_every=1, trace_samples=2, **FAST)
    runs = {}
    for sharded in (False, True):
        sink = ListSink()
        spec = spec_for(tmp_path / str(sharded), models_dir, config.replace(shard_weights=sharded))
        spec.general_prompts = GENERAL_PROMPTS
        launched = train_on_processes(
            spec, num_processes=2, sink=sink, launch_dir=tmp_path / f"launch-{sharded}"
        )
        runs[sharded] = (sink, launched)

    (whole_sink, whole), (sharded_sink, sharded) = runs[False], runs[True]
    assert [step for step, _ in sharded_sink.steps] == [1, 2]
    for (_, a), (_, b) in zip(sharded_sink.steps, whole_sink.steps, strict=True):
        assert a["completion_tokens"] == b["completion_tokens"]  # the same rollouts
        assert a["general_divergence"] == pytest.approx(b["general_divergence"], rel=1e-4)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert [step for step, _ in sharded_sink.traces] == [1, 2]
    assert [step for step, _ in whole_sink.traces] == [1, 2]  # process 0's traces reach the caller
    # One checkpoint per launch, written by process 0, and the training moved it.
    written = (tmp_path / "False").iterdir()
    assert sorted(path.name for path in written if path.name.startswith("checkpoint")) == ["checkpoint"]
    untrained = dict(load_model("tiny", models_dir=models_dir).model.named_parameters())
    trained = weights(whole.checkpoint, models_dir)
    assert any(not torch.equal(trained[name], untrained[name]) for name in trained)
    assert_same_weights(weights(sharded.checkpoint, models_dir), trained)


def test_a_stopped_sharded_run_resumes_exactly_from_its_gathered_step_checkpoint(
    tiny, models_dir: Path, tmp_path: Path
) -> None:
    config = TrainConfig(method="sft", steps=4, checkpoint_every=1, **FAST)
    spec = spec_for(tmp_path, models_dir, config.replace(num_gpus=2, shard_weights=True))
    stopped = train_on_processes(
        spec, num_processes=2, sink=ListSink(stop_after=1), launch_dir=tmp_path / "launch"
    )
    assert stopped.result.stopped and stopped.checkpoint is None
    step_folders = sorted(path.name for path in (tmp_path / "work").iterdir())
    assert step_folders and all(name.startswith("step-") for name in step_folders)

    sink = ListSink()
    resumed = train_on_processes(spec, num_processes=2, sink=sink, launch_dir=tmp_path / "launch")
    assert resumed.result.resumed_from == stopped.result.steps_done
    assert [step for step, _ in sink.steps] == list(range(stopped.result.steps_done + 1, 5))
    # Weights and AdamW's moments went back into the shards: the end is one process's end.
    train(loaded=tiny, examples=EXAMPLES, config=config, sink=ListSink(), work_dir=tmp_path / "alone")
    assert_same_weights(weights(resumed.checkpoint, models_dir), dict(tiny.model.named_parameters()))


def test_a_stopped_sharded_sdft_run_resumes_its_ema_teacher(models_dir: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=3, num_gpus=2, shard_weights=True, checkpoint_every=1, **FAST)
    spec = spec_for(tmp_path, models_dir, config)
    stopped = train_on_processes(
        spec, num_processes=2, sink=ListSink(stop_after=1), launch_dir=tmp_path / "launch"
    )
    assert stopped.result.stopped
    newest = sorted((tmp_path / "work").iterdir())[-1]
    assert (newest / "teacher.safetensors").exists()  # the EMA teacher, gathered from its shards

    sink = ListSink()
    resumed = train_on_processes(spec, num_processes=2, sink=sink, launch_dir=tmp_path / "launch")
    assert resumed.result.resumed_from == stopped.result.steps_done
    assert sink.steps[-1][0] == 3 and resumed.checkpoint is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shard_weights": True}, "set num_gpus to 2 or more"),
        ({"shard_weights": True, "num_gpus": 2, "lora_rank": 8}, "full fine-tuning"),
    ],
)
def test_config_refuses_what_sharding_cannot_do(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        TrainConfig.from_dict({**FAST, **changes})
    assert raised.value.field == "shard_weights"
