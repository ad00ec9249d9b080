"""Find and remove files no row points at: what a crash between a write and its commit leaves.

- checkpoint folders under artifacts/checkpoints/ that no checkpoint row references (a worker
  killed, or fenced out, after writing the folder and before the promotion committed) and the
  `.name.tmp-*` folders of writers that died mid-write;
- job work folders (step checkpoints) of jobs that are finished or gone;
- `uploads/*.part` files of requests whose process died mid-upload.

Only things older than `min_age_s` are touched: a folder written a second ago may be about to be
referenced by a commit in flight. Safe to run from several workers at once.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.jobs.models import Job
from backend.settings import Settings

TERMINAL_STATES = ("succeeded", "failed", "cancelled")
_WORK_DIR = re.compile(r"^job-(\d+)-(\d+)$")


@dataclass
class Orphans:
    checkpoint_dirs: list[Path] = field(default_factory=list)
    job_dirs: list[Path] = field(default_factory=list)
    upload_parts: list[Path] = field(default_factory=list)

    def all(self) -> list[Path]:
        return [*self.checkpoint_dirs, *self.job_dirs, *self.upload_parts]


def find_orphans(
    session: Session, settings: Settings, *, min_age_s: float, now: float | None = None
) -> Orphans:
    """Everything unreferenced and older than `min_age_s` (nothing is removed)."""
    cutoff = (time.time() if now is None else now) - min_age_s
    orphans = Orphans()
    artifacts = settings.artifacts_dir
    referenced = {
        path for path in session.scalars(select(Checkpoint.path).where(Checkpoint.path.is_not(None)))
    }
    checkpoints_root = artifacts / "checkpoints"
    if checkpoints_root.is_dir():
        for track_dir in checkpoints_root.iterdir():
            if not track_dir.is_dir() or track_dir.is_symlink():
                continue
            for folder in track_dir.iterdir():
                relative = folder.relative_to(artifacts).as_posix()
                if relative not in referenced and _older_than(folder, cutoff):
                    orphans.checkpoint_dirs.append(folder)
    jobs_root = artifacts / "jobs"
    if jobs_root.is_dir():
        for folder in jobs_root.iterdir():
            match = _WORK_DIR.match(folder.name)
            if match is None or not _older_than(folder, cutoff):
                continue
            job = session.get(Job, int(match.group(1)))
            same_job = job is not None and int(job.created_at.timestamp()) == int(match.group(2))
            if not same_job or job.state in TERMINAL_STATES:  # type: ignore[union-attr]
                orphans.job_dirs.append(folder)
    uploads = settings.data_dir / "uploads"
    if uploads.is_dir():
        orphans.upload_parts = [p for p in uploads.glob("*.part") if p.is_file() and _older_than(p, cutoff)]
    return orphans


def remove_orphans(orphans: Orphans) -> int:
    """Delete what `find_orphans` listed; returns how many entries went."""
    removed = 0
    for path in orphans.all():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += not path.exists()
    return removed


def _older_than(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime < cutoff
    except FileNotFoundError:
        return False
