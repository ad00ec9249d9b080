"""A live Apprentice (uvicorn + one Celery worker) on the test database, for browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} not answering after {timeout}s:\n{log.read_text(errors='replace')[-4000:]}")


@dataclass
class LiveServer:
    url: str
    log_dir: Path


@pytest.fixture()
def live_server(db: None, tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    env = {
        **os.environ,
        "JOB_LEASE_SECONDS": "10",
        "RECONCILE_INTERVAL_S": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # A single-user server on loopback, until the browser suite logs in through the login page.
        "AUTH_DISABLED": "1",
    }
    processes = []
    api_log = tmp_path / "api.log"
    worker_log = tmp_path / "worker.log"
    with api_log.open("wb") as api_out, worker_log.open("wb") as worker_out:
        processes.append(
            subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "worker.celery_app",
                    "worker",
                    "--pool=solo",
                    "-Q",
                    "gpu,cpu",
                    "--loglevel=INFO",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=worker_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        api = subprocess.Popen(
            [str(BIN / "uvicorn"), "backend.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=api_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(api)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health", 60, api, api_log)
        yield LiveServer(url=f"http://127.0.0.1:{port}", log_dir=tmp_path)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
