"""A caller killed mid-run (a worker's SIGKILL) leaves no data parallel training processes behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import REPO_ROOT

CALLER = """
import sys
from pathlib import Path
from worker.sdft.config import TrainConfig
from worker.sdft.data import Example
from worker.sdft.launch import LaunchSpec, train_on_processes
from worker.sdft.sink import ListSink

root = Path(sys.argv[1])
examples = [Example(prompt=[{"role": "user", "content": f"Say {i}."}], demonstration=f"{i}.") for i in range(4)]
config = TrainConfig(steps=10_000, batch_size=2, max_new_tokens=4, num_gpus=2, warmup_ratio=0.0)
spec = LaunchSpec.build(model="tiny", models_dir=Path(sys.argv[2]), examples=examples, config=config,
                        work_dir=root / "work", checkpoint_dest=root / "checkpoint", device="cpu")
train_on_processes(spec, num_processes=2, sink=ListSink(), launch_dir=root / "launch")
"""


def training_processes(marker: str) -> list[int]:
    """Processes whose command line names this run's launch folder (the launcher and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def reported_steps(events: Path) -> list[dict]:
    """The step events written so far (only whole lines: the writer may be mid-line)."""
    if not events.exists():
        return []
    lines = events.read_text().split("\n")[:-1]
    return [event for event in map(json.loads, lines) if event["event"] == "step"]


def test_killing_the_caller_stops_the_launcher_and_every_training_process(tmp_path: Path) -> None:
    caller = subprocess.Popen(
        [sys.executable, "-c", CALLER, str(tmp_path), str(REPO_ROOT / "data" / "models")], cwd=REPO_ROOT
    )
    events = tmp_path / "launch" / "events.jsonl"
    deadline = time.monotonic() + 180
    while not reported_steps(events):  # a monitor's warning may come first, stored with its step
        assert caller.poll() is None, "the caller exited before training started"
        assert time.monotonic() < deadline, "no step reported in 180 s"
        time.sleep(0.5)
    marker = str(tmp_path / "launch" / "spec.json")
    assert len(training_processes(marker)) >= 3  # the launcher and two training processes

    caller.send_signal(signal.SIGKILL)
    caller.wait()
    deadline = time.monotonic() + 60
    while training_processes(marker):
        assert time.monotonic() < deadline, f"still running: {training_processes(marker)}"
        time.sleep(0.5)
