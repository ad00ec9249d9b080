"""Run `train` data parallel on several processes of one machine (one per GPU) and follow it.

The caller (a Celery task, the CLI) hands over a LaunchSpec; `train_on_processes` writes it to the
launch folder, starts `python -m torch.distributed.run` on this module (torch's launcher, the one
`accelerate launch` wraps), relays process 0's events (warnings, traces, steps, step checkpoints)
to the caller's sink as they are written, and asks the run to stop by creating a file when that
sink says so. Process 0 writes the final checkpoint (temp name, fsync, rename, as in one process)
and a result file. A process that fails writes its error; it is raised again here with its type,
line and field, so a bad row fails a job as clearly as in one process.

    caller                                 torch.distributed.run -> processes 0..n-1
    spec.json            ------------->    load model, train(parallel=...), 0 writes the checkpoint
                                           (sharded weights: gathered by all, written by 0)
    sink.on_step(...)    <- events.jsonl   process 0's sink
    sink.should_stop()   -> stop           checked by process 0 before each step, agreed by all
    TrainResult          <- result.json    | error-<rank>.json -> raised here
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.sdft.config import ConfigError, TrainConfig
from worker.sdft.data import DataError, Example
from worker.sdft.monitors import MonitorStop
from worker.sdft.replay import ReplaySet
from worker.sdft.sink import Sink
from worker.sdft.train import TrainResult

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LaunchSpec:
    """Everything the processes need, as JSON: no pickles cross the process boundary."""

    model: str  # a model name or a checkpoint folder, as load_model takes it
    models_dir: str
    examples: list[dict[str, Any]]
    config: dict[str, Any]
    work_dir: str  # step checkpoints; resumed from, as in one process
    checkpoint_dest: str
    manifest: dict[str, Any] = field(default_factory=dict)
    device: str = "cuda"  # "cuda": process r on GPU r over NCCL; "cpu": gloo (tests, CPU hosts)
    trust_remote_code: bool = False
    general_prompts: list[list[dict[str, str]]] | None = None
    replay: list[dict[str, Any]] = field(default_factory=list)  # name, template, examples
    resume: bool = True  # from the newest step checkpoint in work_dir

    @classmethod
    def build(
        cls,
        *,
        model: str | Path,
        models_dir: Path,
        examples: list[Example],
        config: TrainConfig,
        work_dir: Path,
        checkpoint_dest: Path,
        manifest: dict[str, Any] | None = None,
        device: str = "cuda",
        trust_remote_code: bool = False,
        general_prompts: list[list[dict[str, str]]] | None = None,
        replay: list[ReplaySet] | None = None,
        resume: bool = True,
    ) -> LaunchSpec:
        return cls(
            model=str(model),
            models_dir=str(models_dir),
            examples=[dataclasses.asdict(example) for example in examples],
            config=config.to_dict(),
            work_dir=str(work_dir),
            checkpoint_dest=str(checkpoint_dest),
            manifest=dict(manifest or {}),
            device=device,
            trust_remote_code=trust_remote_code,
            general_prompts=general_prompts,
            replay=[
                {
                    "name": replay_set.name,
                    "template": replay_set.template,
                    "examples": [dataclasses.asdict(example) for example in replay_set.examples],
                }
                for replay_set in replay or []
            ],
            resume=resume,
        )


@dataclass
class LaunchResult:
    result: TrainResult
    checkpoint: Path | None  # None when the run was stopped before its last step


class LaunchError(RuntimeError):
    """The processes failed without saying why (killed, out of memory): the launcher's log tail."""


# --------------------------------------------------------------------------- the calling process


def train_on_processes(
    spec: LaunchSpec, *, num_processes: int, sink: Sink, launch_dir: Path, poll_s: float = 0.25
) -> LaunchResult:
    """Train on `num_processes` processes; blocks until they exit, relaying to `sink` meanwhile."""
    launch_dir = Path(launch_dir)
    launch_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("events.jsonl", "stop", "result.json", "launcher.log"):
        (launch_dir / stale).unlink(missing_ok=True)
    for stale in launch_dir.glob("error-*.json"):
        stale.unlink()
    spec_path = launch_dir / "spec.json"
    spec_path.write_text(json.dumps(dataclasses.asdict(spec)))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={num_processes}",
        "-m",
        "worker.sdft.launch",
        str(spec_path),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    relay = _EventRelay(launch_dir / "events.jsonl", sink)
    stop_path = launch_dir / "stop"
    with open(launch_dir / "launcher.log", "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads run in the child yet
        )
        try:
            while process.poll() is None:
                relay.poll()
                if not stop_path.exists() and sink.should_stop():
                    stop_path.touch()
                time.sleep(poll_s)
        except BaseException:
            process.terminate()  # the launcher passes it on to every process
            process.wait()
            raise
    relay.poll()
    if process.returncode != 0:
        raise _error_from(launch_dir, process.returncode)
    result = json.loads((launch_dir / "result.json").read_text())
    checkpoint = result.pop("checkpoint")
    return LaunchResult(TrainResult(**result), Path(checkpoint) if checkpoint else None)


def _die_with_parent() -> None:
    """The launcher gets SIGTERM (and passes it on to every training process) when its caller dies:
    a killed worker leaves no training processes holding its GPUs while the job's next attempt starts.
    (Linux delivers it when the thread that started the launcher ends: the task's own thread here.)"""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _EventRelay:
    """Reads complete lines appended to the events file since the last poll and replays them."""

    def __init__(self, path: Path, sink: Sink) -> None:
        self.path = path
        self.sink = sink
        self.offset = 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as events:
            events.seek(self.offset)
            data = events.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            event = json.loads(line)
            kind, step = event["event"], event["step"]
            if kind == "step":
                self.sink.on_step(step, event["metrics"])
            elif kind == "traces":
                self.sink.on_traces(step, event["traces"])
            elif kind == "warning" and hasattr(self.sink, "on_warning"):
                self.sink.on_warning(step, event["warning"])
            elif kind == "step_checkpoint":
                self.sink.on_step_checkpoint(step, Path(event["path"]))


def _error_from(launch_dir: Path, returncode: int) -> Exception:
    """The first failing process's own error, rebuilt; else the launcher's last lines."""
    errors = sorted(launch_dir.glob("error-*.json"), key=lambda path: int(path.stem.split("-")[1]))
    if errors:
        error = json.loads(errors[0].read_text())
        if error["type"] == "ConfigError":
            return ConfigError(error["field"], error["message"])
        if error["type"] == "DataError":
            return DataError(error["line"], error["field"], error["message"], path=error.get("path"))
        if error["type"] == "MonitorStop":
            return MonitorStop(error["warning"])
        return RuntimeError(f"{error['type']} in process {errors[0].stem.split('-')[1]}: {error['message']}")
    log = (launch_dir / "launcher.log").read_text(errors="replace").strip().splitlines()
    tail = "\n".join(log[-20:])
    return LaunchError(f"the training processes exited with {returncode} without an error report:\n{tail}")


# --------------------------------------------------------------------------- each training process


class _EventFileSink:
    """Process 0's sink: one JSON line per event, flushed, for the caller to relay."""

    def __init__(self, launch_dir: Path) -> None:
        self.events = open(launch_dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed in main
        self.stop_path = launch_dir / "stop"

    def _write(self, **event: Any) -> None:
        self.events.write(json.dumps(event) + "\n")
        self.events.flush()

    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        self._write(event="step", step=step, metrics=metrics)

    def on_traces(self, step: int, traces: list[dict[str, Any]]) -> None:
        self._write(event="traces", step=step, traces=traces)

    def on_warning(self, step: int, warning: dict[str, Any]) -> None:
        self._write(event="warning", step=step, warning=warning)

    def on_step_checkpoint(self, step: int, path: Path) -> None:
        self._write(event="step_checkpoint", step=step, path=str(path))

    def should_stop(self) -> bool:
        return self.stop_path.exists()


class _QuietSink:
    """Every other process: process 0 reports and decides."""

    def on_step(self, step: int, metrics: dict[str, float]) -> None: ...

    def on_traces(self, step: int, traces: list[dict[str, Any]]) -> None: ...

    def on_step_checkpoint(self, step: int, path: Path) -> None: ...

    def should_stop(self) -> bool:
        return False


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Write-then-rename: the caller never reads half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)


def _examples(rows: list[dict[str, Any]]) -> list[Example]:
    return [Example(**row) for row in rows]


def main(argv: list[str] | None = None) -> None:
    import torch
    import torch.distributed as dist

    from worker.sdft.checkpoints import write_checkpoint
    from worker.sdft.models import load_model
    from worker.sdft.parallel import DataParallel
    from worker.sdft.train import train

    spec_path = Path((argv if argv is not None else sys.argv[1:])[0])
    launch_dir = spec_path.parent
    spec = LaunchSpec(**json.loads(spec_path.read_text()))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    sink: Any = _QuietSink()
    try:
        cuda = spec.device == "cuda"
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
        config = TrainConfig.from_dict(spec.config)
        parallel = DataParallel.from_process_group(
            sharded=config.shard_weights, device_type="cuda" if cuda else "cpu"
        )
        loaded = load_model(
            spec.model,
            models_dir=Path(spec.models_dir),
            device=f"cuda:{local_rank}" if cuda else "cpu",
            trust_remote_code=spec.trust_remote_code,
        )
        if parallel.is_main:
            sink = _EventFileSink(launch_dir)
        result = train(
            loaded=loaded,
            examples=_examples(spec.examples),
            config=config,
            sink=sink,
            work_dir=Path(spec.work_dir),
            resume=spec.resume,
            general_prompts=spec.general_prompts,
            replay=[
                ReplaySet(name=r["name"], examples=_examples(r["examples"]), template=r["template"])
                for r in spec.replay
            ],
            parallel=parallel,
        )
        # Sharded weights are gathered by every process together; whole on process 0 only.
        whole = parallel.full_state(loaded.model) if parallel.sharded and not result.stopped else None
        if parallel.is_main:
            checkpoint = None
            if not result.stopped:
                checkpoint = write_checkpoint(
                    loaded,
                    Path(spec.checkpoint_dest),
                    manifest={
                        **spec.manifest,
                        "config": result.config_as_run(config),
                        "metrics": result.final_metrics,
                        "num_gpus": parallel.world_size,
                    },
                    state_dict=whole,
                )
            _write_json(
                launch_dir / "result.json",
                {**dataclasses.asdict(result), "checkpoint": str(checkpoint) if checkpoint else None},
            )
        # Every process tears the group down together, none while process 0 still writes. Twice in
        # full test runs under load, a process that finished first aborted in gloo's teardown (SIGABRT,
        # "terminate called without an active exception") and failed a run that had trained; never
        # reproduced on demand, so this is the likely cause removed, not a proven fix.
        dist.barrier()
    except Exception as error:
        _write_json(
            launch_dir / f"error-{rank}.json",
            {
                "type": type(error).__name__,
                "message": getattr(error, "message", str(error)),
                "field": getattr(error, "field", None),
                "line": getattr(error, "line", None),
                "path": getattr(error, "path", None),
                "warning": getattr(error, "warning", None),
            },
        )
        raise
    finally:
        if isinstance(sink, _EventFileSink):
            sink.events.close()
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
