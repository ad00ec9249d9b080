"""Run `train` data parallel on several processes of one machine (one per GPU) and follow it.

The caller (a Celery task, the CLI) hands over a LaunchSpec; `train_on_processes` writes it to the
launch folder, starts `python -m torch.distributed.run` on this module (torch's launcher, the one
`accelerate launch` wraps), relays process 0's events (warnings, traces, steps, step checkpoints)
to the caller's sink as they are written, and asks the run to stop by creating a file when that
sink says so. Process 0 writes the final checkpoint (temp name, fsync, rename, as in one process)
and, once every process is done, a result file. A process that fails writes its error; it is
raised again here with its type, line and field, so a bad row fails a job as clearly as in one
process. A process killed by a signal writes nothing: torchrun keeps each process's output, and
the error names the process, the signal and its Python stack (faulthandler).

    caller                                 torch.distributed.run -> processes 0..n-1
    spec.json            ------------->    load model, train(parallel=...), 0 writes the checkpoint
                                           (sharded weights: gathered by all, written by 0)
    sink.on_step(...)    <- events.jsonl   process 0's sink
    sink.should_stop()   -> stop           checked by process 0 before each step, agreed by all
    TrainResult          <- result.json    | error-<rank>.json, logs/ -> raised here
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import logging
import os
import re
import shutil
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
log = logging.getLogger(__name__)


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
    """The processes failed without an error of their own (killed by a signal, out of memory): which
    process, of what, and its last output."""


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
    shutil.rmtree(launch_dir / "logs", ignore_errors=True)
    spec_path = launch_dir / "spec.json"
    spec_path.write_text(json.dumps(dataclasses.asdict(spec)))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={num_processes}",
        # each process's output also in logs/<run>/attempt_0/<rank>/: a process killed by a signal
        # is reported with its own last lines, not the launcher's summary
        f"--log-dir={launch_dir / 'logs'}",
        "--tee=3",
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
    with open(launch_dir / "launcher.log", "wb") as launcher_log:
        process = subprocess.Popen(
            command,
            stdout=launcher_log,
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
    return _outcome(launch_dir, process.returncode)


def _outcome(launch_dir: Path, returncode: int) -> LaunchResult:
    """The run's result; an error only for a run that did not finish.

    result.json is written once every process is past its last collective and process 0 has
    written the checkpoint: a process failing after that (in the collective library's teardown)
    is logged, and the finished run kept.
    """
    finished = (launch_dir / "result.json").exists()
    if returncode != 0:
        error = _error_from(launch_dir, returncode)
        if not finished:
            raise error
        log.warning("the run finished, then its processes failed while shutting down: %s", error)
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
    """Why the processes failed, the cause before its consequences.

    A bad row or setting fails every process alike: that error, rebuilt with its line and field.
    Else a process killed by a signal (an abort in native code, the out-of-memory killer): its
    peers' collectives then fail too ("Connection reset by peer") and write errors that only say
    so, so the killed process is named first, with its own last output. Else the first process's
    error; else the launcher's last lines.
    """
    errors = [
        (int(path.stem.split("-")[1]), json.loads(path.read_text()))
        for path in launch_dir.glob("error-*.json")
    ]
    errors.sort(key=lambda pair: pair[0])
    for _, error in errors:
        if error["type"] == "ConfigError":
            return ConfigError(error["field"], error["message"])
        if error["type"] == "DataError":
            return DataError(error["line"], error["field"], error["message"], path=error.get("path"))
        if error["type"] == "MonitorStop":
            return MonitorStop(error["warning"])
    launcher_log = (launch_dir / "launcher.log").read_text(errors="replace")
    for failure in _FAILURE.finditer(launcher_log):
        rank, local_rank, exitcode = map(int, failure.groups())
        if exitcode < 0 and -exitcode != signal.SIGTERM:  # SIGTERM: torchrun stopping the others
            return LaunchError(
                f"training process {rank} {_killed_by(-exitcode)} without an error report; "
                f"its last output:\n{_last_lines(launch_dir / 'logs', local_rank)}"
            )
    if errors:
        rank, error = errors[0]
        return RuntimeError(f"{error['type']} in process {rank}: {error['message']}")
    tail = "\n".join(launcher_log.strip().splitlines()[-20:])
    return LaunchError(f"the training processes exited with {returncode} without an error report:\n{tail}")


# one failed process in torchrun's closing summary
_FAILURE = re.compile(r"rank\s*:\s*(\d+) \(local_rank: (\d+)\)\s*exitcode\s*:\s*(-?\d+)")


def _killed_by(signal_number: int) -> str:
    try:
        name = signal.Signals(signal_number).name
    except ValueError:
        return f"was killed by signal {signal_number}"
    if name == "SIGKILL":
        return "was killed by SIGKILL (the kernel's out-of-memory killer sends it)"
    return f"was killed by {name}"


def _last_lines(logs: Path, local_rank: int, count: int = 20) -> str:
    """The end of one process's stderr as torchrun saved it: faulthandler's report whole where there
    is one (the Python stack of the moment it died), else the last `count` lines."""
    for stderr in logs.glob(f"*/attempt_*/{local_rank}/stderr.log"):
        lines = stderr.read_text(errors="replace").strip().splitlines()
        fatal = [index for index, line in enumerate(lines) if line.startswith("Fatal Python error")]
        if fatal:
            report = lines[fatal[-1] :]
            return "\n".join(line for line in report if not line.startswith("Extension modules:"))
        return "\n".join(lines[-count:]) or "(nothing)"
    return "(no log)"


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
    # A process killed by a signal (an abort in a collective library, a segfault) writes no error
    # file; faulthandler at least prints its Python stack, which the caller's error quotes.
    faulthandler.enable(all_threads=True)
    import torch
    import torch.distributed as dist

    from worker.sdft.checkpoints import load_warnings, write_checkpoint
    from worker.sdft.models import load_model
    from worker.sdft.monitors import report_warnings
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
            report_warnings(sink, 0, load_warnings(loaded))
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
        checkpoint = None
        if parallel.is_main and not result.stopped:
            checkpoint = write_checkpoint(
                loaded,
                Path(spec.checkpoint_dest),
                manifest={
                    **spec.manifest,
                    "config": result.config_as_run(config),
                    "metrics": result.final_metrics,
                    "memory_estimate_gib": result.memory_estimate_gib,  # per process
                    "num_gpus": parallel.world_size,
                },
                state_dict=whole,
            )
        # Past this barrier every process has done all its work, so the run is finished: process 0
        # says so (result.json) before anyone tears the group down. Under load in full test runs a
        # process has aborted in gloo's teardown (SIGABRT, never reproduced on demand); the caller
        # then keeps the finished run rather than fail it (train_on_processes).
        dist.barrier()
        if parallel.is_main:
            _write_json(
                launch_dir / "result.json",
                {**dataclasses.asdict(result), "checkpoint": str(checkpoint) if checkpoint else None},
            )
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
