"""Glue between a training job row and the engine: read ids, check the world, call `train`."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import uuid
from collections.abc import Callable
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
from worker.sdft.checkpoints import load_checkpoint, load_warnings, write_checkpoint
from worker.sdft.config import ConfigError, TrainConfig
from worker.sdft.data import Example
from worker.sdft.launch import LaunchSpec, train_on_processes
from worker.sdft.models import LoadedModel, load_model
from worker.sdft.monitors import report_warnings
from worker.sdft.replay import ReplaySet
from worker.sdft.train import TrainResult, total_steps, train
from worker.tasks.replay import replay_sets
from worker.tasks.sink import DatabaseSink

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_work_dir(job: Job) -> Path:
    """Step checkpoints of one job; the creation time keeps a reused id (a reset database) from resuming them."""
    return get_settings().artifacts_dir / "jobs" / f"job-{job.id}-{int(job.created_at.timestamp())}" / "work"


def worker_device() -> str:
    """WORKER_DEVICE resolved on this worker: "auto" is the first CUDA GPU when torch sees one."""
    import torch

    setting = get_settings().worker_device
    if setting == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("WORKER_DEVICE", f"is {setting!r} but this worker's torch sees no CUDA device")
    return setting


def data_parallel_device(num_gpus: int) -> str:
    """Where a num_gpus > 1 job's processes run: GPUs 0..num_gpus-1, or CPU processes if WORKER_DEVICE=cpu."""
    import torch

    if get_settings().worker_device == "cpu":
        return "cpu"
    found = torch.cuda.device_count()
    if found < num_gpus:
        raise ConfigError(
            "num_gpus",
            f"asks for {num_gpus} GPUs but this worker sees {found} (WORKER_DEVICE=cpu runs CPU processes instead)",
        )
    return "cuda"


def load_start_model(track: Track, start: Checkpoint | None) -> LoadedModel:
    """The model a job starts from, on this worker's device: the base model for the root, else the checkpoint's files."""
    settings = get_settings()
    device = worker_device()
    if start is None or start.path is None:
        return load_model(
            track.base_model,
            models_dir=settings.models_dir,
            device=device,
            trust_remote_code=track.trust_remote_code,
        )
    return load_checkpoint(settings.artifacts_dir / start.path, models_dir=settings.models_dir, device=device)


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
            train_job = _train_data_parallel if config.num_gpus > 1 else _train_in_process
            result, write = train_job(
                track=track,
                start=start,
                examples=examples,
                config=config,
                sink=sink,
                work_dir=work_dir,
                replay=replay,
                checkpoint_dest=checkpoint_dest,
                manifest=manifest_extra,
            )
            if sink.lost:
                return
            if sink.cancel_requested:
                with sessions.begin() as session:
                    lifecycle.finish(session, job_id, claim.attempt, state="cancelled")
                return
            written = write()
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


def _train_in_process(
    *,
    track: Track,
    start: Checkpoint | None,
    config: TrainConfig,
    checkpoint_dest: Path,
    manifest: dict[str, Any],
    **job: Any,
) -> tuple[TrainResult, Callable[[], Path]]:
    """Train in this process; the returned writer saves the checkpoint (not done if the job is cancelled)."""
    loaded = load_start_model(track, start)
    report_warnings(job["sink"], 0, load_warnings(loaded))
    result = train(loaded=loaded, config=config, resume=True, **job)

    def write() -> Path:
        full_manifest = {
            **manifest,
            "config": result.config_as_run(config),
            "metrics": result.final_metrics,
            "memory_estimate_gib": result.memory_estimate_gib,
        }
        return write_checkpoint(loaded, checkpoint_dest, manifest=full_manifest)

    return result, write


def _train_data_parallel(
    *,
    track: Track,
    start: Checkpoint | None,
    examples: list[Example],
    config: TrainConfig,
    sink: DatabaseSink,
    work_dir: Path,
    replay: list[ReplaySet],
    checkpoint_dest: Path,
    manifest: dict[str, Any],
) -> tuple[TrainResult, Callable[[], Path]]:
    """Train on num_gpus processes of this worker (worker/sdft/launch.py); process 0 writes the checkpoint."""
    settings = get_settings()
    spec = LaunchSpec.build(
        model=settings.artifacts_dir / start.path if start is not None and start.path else track.base_model,
        models_dir=settings.models_dir,
        examples=examples,
        config=config,
        work_dir=work_dir,
        checkpoint_dest=checkpoint_dest,
        manifest=manifest,
        device=data_parallel_device(config.num_gpus),
        trust_remote_code=track.trust_remote_code,
        replay=replay,
    )
    launched = train_on_processes(
        spec, num_processes=config.num_gpus, sink=sink, launch_dir=work_dir.parent / "launch"
    )

    def written() -> Path:
        if launched.checkpoint is None:
            raise RuntimeError("the training processes stopped before their last step without being asked to")
        return launched.checkpoint

    return launched.result, written


def _read_manifest(folder: Path) -> dict[str, Any]:
    from worker.sdft.checkpoints import verify_checkpoint

    return verify_checkpoint(folder)
