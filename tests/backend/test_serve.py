"""`make run`'s server: scripts/serve.sh starts the API and a worker; /api/health answers; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.e2e.conftest import REPO_ROOT, free_port, wait_http


def test_serve_script_answers_health_and_stops_on_interrupt(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(REPO_ROOT / "scripts" / "serve.sh")],
            cwd=REPO_ROOT,
            env={**os.environ, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health", 60, process, log)
        deadline = time.monotonic() + 90
        while "ready." not in log.read_text(errors="replace"):  # the worker came up too
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # never leave a server behind, even when failing
            raise
    leftovers = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True, check=False)
    if leftovers.stdout.strip():
        os.killpg(process.pid, signal.SIGKILL)
    assert leftovers.stdout.strip() == "", "serve.sh left processes behind after Ctrl-C"
