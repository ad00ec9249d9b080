"""Glue for pre-flight jobs: read a dataset version's train rows, check them against a model, store the report."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from backend.checkpoints.models import Checkpoint
from backend.datasets.models import Demonstration
from backend.db import get_sessionmaker
from backend.jobs import lifecycle
from backend.jobs.models import Job
from backend.preflight.service import record_report
from backend.settings import get_settings
from backend.skills.models import Skill
from backend.tracks.models import Track
from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE, TrainConfig
from worker.sdft.data import Example
from worker.sdft.models import LoadedModel, load_model
from worker.sdft.preflight import preflight
from worker.sdft.scoring import get_scorer
from worker.tasks.sink import DatabaseSink
from worker.tasks.training import load_start_model, worker_device, worker_id

log = logging.getLogger(__name__)


class LostLease(RuntimeError):
    """Another attempt owns the job now; stop without writing."""


def _train_examples(session: Any, dataset_version_id: int, limit: int | None) -> list[Example]:
    query = (
        select(Demonstration)
        .where(Demonstration.dataset_version_id == dataset_version_id, Demonstration.split == "train")
        .order_by(Demonstration.index)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        Example(
            prompt=row.prompt,
            demonstration=row.demonstration,
            context=row.context,
            reference=row.reference,
            line=row.line,
        )
        for row in session.scalars(query).all()
    ]


def run_preflight_job(job_id: int) -> None:
    settings = get_settings()
    sessions = get_sessionmaker()
    with sessions.begin() as session:
        claim = lifecycle.claim(
            session, job_id, worker_id=worker_id(), lease_seconds=settings.job_lease_seconds
        )
    if claim is None:
        return
    try:
        with sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.dataset_version_id is not None and job.skill_id is not None
            skill = session.get(Skill, job.skill_id)
            assert skill is not None
            options = dict(job.config)
            examples = _train_examples(session, job.dataset_version_id, options.get("max_examples"))
            template = skill.teacher_template or DEFAULT_TEACHER_TEMPLATE
            scorer = get_scorer(skill.scorer, **skill.scorer_config)
            track = session.get(Track, job.track_id) if job.track_id is not None else None
            checkpoint = session.get(Checkpoint, job.checkpoint_id) if job.checkpoint_id is not None else None
        defaults = TrainConfig()
        with DatabaseSink(job_id, claim.attempt, lease_seconds=settings.job_lease_seconds) as sink:
            loaded: LoadedModel = (
                load_start_model(track, checkpoint)
                if track is not None
                else load_model(str(options["model"]), models_dir=settings.models_dir, device=worker_device())
            )
            report = preflight(
                loaded,
                examples,
                template=template,
                max_prompt_tokens=int(options.get("max_prompt_tokens", defaults.max_prompt_tokens)),
                max_new_tokens=int(options.get("max_new_tokens", defaults.max_new_tokens)),
                scorer=scorer,
                teacher_answers=bool(options.get("teacher_answers", True)),
                answer_max_new_tokens=int(options.get("answer_max_new_tokens", 128)),
            )
            if sink.lost:
                raise LostLease(job_id)
        with sessions.begin() as session:
            if (
                lifecycle.heartbeat(session, job_id, claim.attempt, lease_seconds=settings.job_lease_seconds)
                == "lost"
            ):
                raise LostLease(job_id)
            job = session.get(Job, job_id)
            assert job is not None
            record_report(session, job, report.to_dict())
            lifecycle.succeed(
                session,
                job_id,
                claim.attempt,
                checkpoint_path=None,
                manifest={},
                metrics={},
                summary={
                    key: report.summary[key]
                    for key in ("n", "n_with_signal", "n_flagged", "mean_gap", "teacher_accuracy", "verdict")
                },
            )
    except LostLease:
        log.warning("pre-flight job %s attempt %s lost its lease; stopped", job_id, claim.attempt)
    except Exception as exc:  # noqa: BLE001 - recorded on the job with its reason
        log.exception("pre-flight job %s failed", job_id)
        with sessions.begin() as session:
            lifecycle.finish(
                session, job_id, claim.attempt, state="failed", error=f"{type(exc).__name__}: {exc}"
            )
