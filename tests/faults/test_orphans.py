"""The cleanup removes exactly what no row references, and nothing young enough to be in flight."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.checkpoints.cleanup import find_orphans, remove_orphans
from backend.checkpoints.models import Checkpoint
from backend.jobs.models import Job
from backend.settings import get_settings
from tests.backend.factories import make_skill_with_version

HOUR = 3600.0


def _make(path: Path, *, age_s: float, folder: bool = True) -> Path:
    if folder:
        path.mkdir(parents=True)
        (path / "model.safetensors").write_bytes(b"w")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial upload")
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def test_cleanup_removes_only_old_unreferenced_artifacts(client: TestClient, db_session: Session) -> None:
    settings = get_settings()
    artifacts = settings.artifacts_dir
    skill, version = make_skill_with_version(db_session)
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    referenced = _make(
        artifacts / "checkpoints" / f"track-{track['id']}" / "job-1-attempt-1-aaaa", age_s=2 * HOUR
    )
    db_session.add(
        Checkpoint(
            track_id=track["id"],
            parent_id=track["head_checkpoint_id"],
            path=referenced.relative_to(artifacts).as_posix(),
        )
    )
    running = Job(
        kind="train", track_id=track["id"], skill_id=skill.id, dataset_version_id=version.id, state="running"
    )
    finished = Job(
        kind="train", track_id=track["id"], skill_id=skill.id, dataset_version_id=version.id, state="failed"
    )
    db_session.add_all([running, finished])
    db_session.commit()

    def work_dir(job: Job) -> Path:
        return artifacts / "jobs" / f"job-{job.id}-{int(job.created_at.timestamp())}"

    unpromoted = _make(
        artifacts / "checkpoints" / f"track-{track['id']}" / "job-2-attempt-1-bbbb", age_s=2 * HOUR
    )
    half_written = _make(
        artifacts / "checkpoints" / f"track-{track['id']}" / ".job-3.tmp-cccc", age_s=2 * HOUR
    )
    in_flight = _make(artifacts / "checkpoints" / f"track-{track['id']}" / "job-4-attempt-1-dddd", age_s=5)
    running_dir = _make(work_dir(running), age_s=2 * HOUR)
    finished_dir = _make(work_dir(finished), age_s=2 * HOUR)
    vanished_dir = _make(artifacts / "jobs" / "job-9999-1700000000", age_s=2 * HOUR)
    stale_part = _make(settings.data_dir / "uploads" / "upload-x.part", age_s=2 * HOUR, folder=False)
    fresh_part = _make(settings.data_dir / "uploads" / "upload-y.part", age_s=5, folder=False)

    orphans = find_orphans(db_session, settings, min_age_s=HOUR)
    assert sorted(orphans.all()) == sorted([unpromoted, half_written, finished_dir, vanished_dir, stale_part])
    assert remove_orphans(orphans) == 5
    for path in orphans.all():
        assert not path.exists()
    for kept in (referenced, in_flight, running_dir, fresh_part):
        assert kept.exists()
    assert find_orphans(db_session, settings, min_age_s=HOUR).all() == []
