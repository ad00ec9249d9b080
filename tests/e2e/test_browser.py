"""The Playwright suite (frontend/e2e) in Debian's chromium against a live server and worker."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, LiveServer

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed (make chromium)")
def test_playwright_suite(live_server: LiveServer) -> None:
    frontend = REPO_ROOT / "frontend"
    if not (frontend / "dist" / "index.html").exists():
        pytest.fail("frontend not built: run `make frontend`")
    screenshots = REPO_ROOT / "tests" / "e2e" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["npm", "run", "--silent", "e2e"],
        cwd=frontend,
        env={**os.environ, "APPRENTICE_URL": live_server.url, "SCREENSHOT_DIR": str(screenshots)},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = result.stdout[-8000:] + result.stderr[-4000:]
    worker_log = Path(live_server.log_dir / "worker.log").read_text(errors="replace")[-3000:]
    assert result.returncode == 0, f"{output}\n--- worker log ---\n{worker_log}"
