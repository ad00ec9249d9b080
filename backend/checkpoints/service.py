"""Checkpoints: immutable folders in the artifact store, described by a manifest."""

from __future__ import annotations

import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.checkpoints.schemas import GenerateRequest
from backend.db import utcnow
from backend.errors import DomainError, NotFound
from backend.jobs.models import Job
from backend.queue import RUN_JOB, enqueue_after_commit
from backend.settings import get_settings

CHUNK_BYTES = 1 << 20


def get_checkpoint(session: Session, checkpoint_id: int) -> Checkpoint:
    """One checkpoint or 404."""
    checkpoint = session.get(Checkpoint, checkpoint_id)
    if checkpoint is None:
        raise NotFound("checkpoint", checkpoint_id)
    return checkpoint


def checkpoint_folder(checkpoint: Checkpoint) -> Path:
    """The checkpoint's folder, which must lie inside the artifact store."""
    if checkpoint.path is None:
        raise DomainError(
            409, "no_files", "the base checkpoint is the base model itself; there is nothing to download"
        )
    root = get_settings().artifacts_dir.resolve()
    try:
        folder = (root / checkpoint.path).resolve()
    except (ValueError, OSError):  # a NUL byte or a loop: not a folder of the store either way
        folder = root.parent
    if not folder.is_relative_to(root) or not folder.is_dir():
        raise DomainError(
            410, "missing_files", f"checkpoint {checkpoint.id}'s files are missing from the artifact store"
        )
    return folder


def stream_tar(folder: Path, arcname: str) -> Iterator[bytes]:
    """Stream a tar of `folder` with bounded memory: a thread writes into a pipe we read from."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        with os.fdopen(write_fd, "wb") as pipe, tarfile.open(fileobj=pipe, mode="w|") as tar:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    tar.add(path, arcname=f"{arcname}/{path.relative_to(folder)}", recursive=False)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with os.fdopen(read_fd, "rb") as pipe:
        while chunk := pipe.read(CHUNK_BYTES):
            yield chunk
    writer.join()


def queue_generation(session: Session, checkpoint_id: int, request: GenerateRequest) -> Job:
    """A light job on the cpu queue: the worker answers with the checkpoint (the playground)."""
    checkpoint = get_checkpoint(session, checkpoint_id)
    job = Job(
        kind="generate",
        track_id=checkpoint.track_id,
        checkpoint_id=checkpoint.id,
        method="generate",
        config=request.model_dump(),
        queue="cpu",
        state="queued",
        enqueued_at=utcnow(),
    )
    session.add(job)
    session.flush()
    enqueue_after_commit(session, RUN_JOB, [job.id], queue=job.queue)
    return job
