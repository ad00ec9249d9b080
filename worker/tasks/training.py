"""Glue between a training job row and the engine: read ids, check the world, call `train`."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backend.checkpoints.models import Checkpoint
from backend.datasets.models import DatasetVersion, Demonstration
from backend.db import get_sessionmaker
from backend.evaluations.schemas import EvaluationRequest
from backend.evaluations.service import queue_evaluation
from backend.jobs import lifecycle
from backend.jobs.models import Job
from backend.queue import RUN_JOB, send_now
from backend.settings import get_settings
from backend.skills.models import Skill
from backend.tracks.models import Track
from worker.sdft.checkpoints import load_checkpoint, write_checkpoint
from worker.sdft.config import TrainConfig
from worker.sdft.data import Example
from worker.sdft.models import LoadedModel, load_model
from worker.sdft.train import total_steps, train
from worker.tasks.replay import replay_sets
from worker.tasks.sink import DatabaseSink

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_work_dir(job: Job) -> Path:
    """Step checkpoints of one job; the creation time keeps a reused id (a reset database) from resuming them."""
    return get_settings().artifacts_dir / "jobs" / f"job-{job.id}-{int(job.created_at.timestamp())}" / "work"


def load_start_model(track: Track, start: Checkpoint | None) -> LoadedModel:
    """The model a job starts from: the base model for the root, else the checkpoint's files."""
    settings = get_settings()
    if start is None or start.path is None:
        return load_model(
            track.base_model, models_dir=settings.models_dir, trust_remote_code=track.trust_remote_code
        )
    return load_checkpoint(settings.artifacts_dir / start.path, models_dir=settings.models_dir)


def _examples(session: Any, dataset_version_id: int, split: str) -> list[Example]:
    rows = session.scalars(
        select(Demonstration)
        .where(Demonstration.dataset_version_id == dataset_version_id, Demonstration.split == split)
        .order_by(Demonstration.index)
    ).all()
    return [
        Example(
            prompt=row.prompt, demonstration=row.demonstration, context=row.context, reference=row.reference
        )
        for row in rows
    ]


def send_next_job(track_id: int | None) -> None:
    if track_id is None:
        return
    with get_sessionmaker().begin() as session:
        job = lifecycle.next_queued_job(session, track_id)
        if job is None:
            return
        queue = job.queue
        job_id = job.id
    send_now(RUN_JOB, [job_id], queue)


def run_training_job(job_id: int) -> None:
    settings = get_settings()
    sessions = get_sessionmaker()
    with sessions.begin() as session:
        claim = lifecycle.claim(
            session, job_id, worker_id=worker_id(), lease_seconds=settings.job_lease_seconds
        )
    if claim is None:
        log.info("job %s is not claimable (already taken, finished, or not first in its track)", job_id)
        return
    sink = DatabaseSink(job_id, claim.attempt, lease_seconds=settings.job_lease_seconds)
    track_id: int | None = None
    try:
        with sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.track_id is not None and job.dataset_version_id is not None
            track_id = job.track_id
            track = session.get(Track, job.track_id)
            skill = session.get(Skill, job.skill_id)
            version = session.get(DatasetVersion, job.dataset_version_id)
            start = session.get(Checkpoint, claim.start_checkpoint_id) if claim.start_checkpoint_id else None
            assert track is not None and skill is not None and version is not None
            overrides: dict[str, Any] = {**job.config, "method": job.method}
            if skill.teacher_template:
                overrides["teacher_template"] = skill.teacher_template
            config = TrainConfig.from_dict(overrides)
            examples = _examples(session, version.id, "train")
            replay = (
                replay_sets(session, claim.start_checkpoint_id, exclude_skill_id=skill.id)
                if config.replay_fraction
                else []
            )
            if not replay:  # the track's first skill has nothing to replay yet
                config = config.replace(replay_fraction=0.0)
            checkpoint_dest = (
                settings.artifacts_dir
                / "checkpoints"
                / f"track-{track.id}"
                / f"job-{job.id}-attempt-{claim.attempt}-{uuid.uuid4().hex[:8]}"
            )
            evaluate_after = bool(job.summary.get("evaluate", True))
            evaluation_request = EvaluationRequest.model_validate(
                {
                    **job.summary.get("evaluation", {}),
                    "queue": "gpu" if job.queue == "gpu" and settings.evaluate_on_gpu else "cpu",
                }
            )
            manifest_extra = {
                "track_id": track.id,
                "base_model": track.base_model,
                "parent_checkpoint_id": claim.start_checkpoint_id,
                "job_id": job.id,
                "skill": {"id": skill.id, "name": skill.name},
                "dataset_version": {"id": version.id, "version": version.version, "sha256": version.sha256},
                "method": job.method,
                "replay": [{"skill": r.name, "examples": len(r.examples)} for r in replay],
            }

        work_dir = job_work_dir(job)
        if claim.fresh_start and work_dir.exists():
            shutil.rmtree(work_dir)  # made from another starting checkpoint: not resumable
        work_dir.mkdir(parents=True, exist_ok=True)

        sink.total_steps = total_steps(config, len(examples))
        with sink:  # renews the lease from a thread while the model loads, trains and is saved
            loaded = load_start_model(track, start)
            result = train(
                loaded=loaded,
                examples=examples,
                config=config,
                sink=sink,
                work_dir=work_dir,
                resume=True,
                replay=replay,
            )
            if sink.lost:
                return
            if sink.cancel_requested:
                with sessions.begin() as session:
                    lifecycle.finish(session, job_id, claim.attempt, state="cancelled")
                return
            written = write_checkpoint(
                loaded,
                checkpoint_dest,
                manifest={**manifest_extra, "config": config.to_dict(), "metrics": result.final_metrics},
            )
        manifest = _read_manifest(written)
        with sessions.begin() as session:
            checkpoint = lifecycle.succeed(
                session,
                job_id,
                claim.attempt,
                checkpoint_path=str(written.relative_to(settings.artifacts_dir)),
                manifest=manifest,
                metrics=result.final_metrics,
                summary={"steps_done": result.steps_done},
            )
            if checkpoint is not None and evaluate_after:
                queue_evaluation(session, checkpoint.id, evaluation_request)
        if checkpoint is None:
            log.warning(
                "job %s attempt %s lost ownership before promotion; checkpoint left unreferenced",
                job_id,
                claim.attempt,
            )
            return
        shutil.rmtree(work_dir.parent, ignore_errors=True)  # step checkpoints are no longer needed
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job, with its reason
        log.exception("job %s failed", job_id)
        with sessions.begin() as session:
            lifecycle.finish(
                session, job_id, claim.attempt, state="failed", error=f"{type(exc).__name__}: {exc}"
            )
    finally:
        send_next_job(track_id)


def _read_manifest(folder: Path) -> dict[str, Any]:
    from worker.sdft.checkpoints import verify_checkpoint

    return verify_checkpoint(folder)
