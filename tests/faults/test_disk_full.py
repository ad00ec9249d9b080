"""The disk fills up while a checkpoint is written: the job fails saying so, the head and the
previous checkpoint are untouched, and no half-written folder is left.

The artifact store's checkpoints/ folder is a small tmpfs for the test (mounting needs root; the
test is skipped where the machine does not allow it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.settings import get_settings
from tests.backend.factories import make_skill_with_version
from tests.worker.conftest import WorkerProcess
from tests.worker.test_jobs_worker import TERMINAL, submit, wait_for
from worker.sdft.checkpoints import verify_checkpoint


@pytest.fixture()
def small_checkpoint_disk(database_url: str) -> Iterator[Path]:
    mount_point = get_settings().artifacts_dir / "checkpoints"
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(mount_point: Path, leave_bytes: int) -> Path:
    filler = mount_point / "filler"
    stats = os.statvfs(mount_point)
    free = stats.f_bavail * stats.f_frsize
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        handle.write(b"\0" * max(free - leave_bytes, 0))
    return filler


def test_disk_full_while_writing_a_checkpoint_fails_the_job_and_keeps_the_head(
    client: TestClient, db_session: Session, small_checkpoint_disk: Path, worker: WorkerProcess
) -> None:
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    first = submit(client, track["id"], skill.id, version.id)
    first = wait_for(client, first["id"], worker, lambda j: j["state"] in TERMINAL)
    assert first["state"] == "succeeded", first["error"]
    head = client.get(f"/api/tracks/{track['id']}").json()
    assert head["head_checkpoint_id"] == first["result_checkpoint_id"]
    before = sorted(p.name for p in small_checkpoint_disk.rglob("*"))

    filler = _fill(small_checkpoint_disk, leave_bytes=256 * 1024)
    second = submit(client, track["id"], skill.id, version.id)
    second = wait_for(client, second["id"], worker, lambda j: j["state"] in TERMINAL)
    assert second["state"] == "failed"
    assert "No space left on device" in second["error"], second["error"]
    assert second["result_checkpoint_id"] is None

    after = client.get(f"/api/tracks/{track['id']}").json()
    assert after["head_checkpoint_id"] == first["result_checkpoint_id"]
    assert [c["id"] for c in after["checkpoints"]] == [c["id"] for c in head["checkpoints"]]
    filler.unlink()
    assert sorted(p.name for p in small_checkpoint_disk.rglob("*")) == before, "a half-written folder is left"
    db_session.rollback()
    checkpoint = db_session.get(Checkpoint, first["result_checkpoint_id"])
    assert checkpoint is not None and checkpoint.path is not None
    verify_checkpoint(get_settings().artifacts_dir / checkpoint.path)
