"""A real Celery worker process (solo pool) against the test database and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


class WorkerProcess:
    """Start, kill and restart a worker; its log is kept for assertions and failures."""

    def __init__(self, log_path: Path, extra_env: dict[str, str]):
        self.log_path = log_path
        self.env = {**os.environ, **extra_env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "worker.celery_app",
                "worker",
                "--pool=solo",
                "-Q",
                "gpu,cpu",
                "--loglevel=INFO",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if "ready." in self.log_path.read_text(errors="replace")[offset:]:
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: nothing gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


def _purge_broker(env: dict[str, str]) -> None:
    subprocess.run(
        [CELERY, "-A", "worker.celery_app", "purge", "-f", "-Q", "gpu,cpu"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture()
def worker_factory(database_url: str, tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    started: list[WorkerProcess] = []
    env = {"JOB_LEASE_SECONDS": "6", "RECONCILE_INTERVAL_S": "1", "TOKENIZERS_PARALLELISM": "false"}
    _purge_broker({**os.environ, **env})

    def make() -> WorkerProcess:
        worker = WorkerProcess(tmp_path / f"worker-{len(started)}.log", env)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


@pytest.fixture()
def worker(worker_factory: callable, db: None) -> Iterator[WorkerProcess]:  # type: ignore[valid-type]
    process = worker_factory()
    process.start()
    yield process
    process.stop()
