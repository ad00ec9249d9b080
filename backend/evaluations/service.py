"""Evaluations: every checkpoint measured on every skill of its track and on the general probe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.checkpoints.service import get_checkpoint
from backend.db import utcnow
from backend.errors import NotFound
from backend.evaluations.models import Evaluation
from backend.evaluations.schemas import EvaluationRequest
from backend.jobs.models import Job
from backend.queue import RUN_JOB, enqueue_after_commit
from backend.skills.models import Skill


@dataclass(frozen=True)
class SkillEvalSet:
    skill_id: int
    skill_name: str
    dataset_version_id: int
    scorer: str
    scorer_config: dict[str, Any]


def queue_evaluation(session: Session, checkpoint_id: int, request: EvaluationRequest) -> Job:
    """Queue an evaluation job for a checkpoint (an already waiting one is reused)."""
    checkpoint = get_checkpoint(session, checkpoint_id)
    waiting = session.scalars(
        select(Job).where(
            Job.kind == "evaluate", Job.checkpoint_id == checkpoint_id, Job.state.in_(("queued", "running"))
        )
    ).first()
    if waiting is not None:
        return waiting
    job = Job(
        kind="evaluate",
        track_id=checkpoint.track_id,
        checkpoint_id=checkpoint_id,
        method="eval",
        config=request.model_dump(exclude={"queue"}),
        queue=request.queue,
        state="queued",
        enqueued_at=utcnow(),
    )
    session.add(job)
    session.flush()
    enqueue_after_commit(session, RUN_JOB, [job.id], queue=job.queue)
    return job


def track_eval_sets(session: Session, track_id: int) -> list[SkillEvalSet]:
    """Each skill the track has trained (or queued), with the newest dataset version used for it."""
    jobs = session.scalars(
        select(Job).where(Job.track_id == track_id, Job.kind == "train").order_by(Job.id)
    ).all()
    latest: dict[int, int] = {}
    for job in jobs:
        if job.skill_id is not None and job.dataset_version_id is not None:
            latest[job.skill_id] = job.dataset_version_id
    sets = []
    for skill_id, version_id in latest.items():
        skill = session.get(Skill, skill_id)
        if skill is not None:
            sets.append(
                SkillEvalSet(skill.id, skill.name, version_id, skill.scorer, dict(skill.scorer_config))
            )
    return sets


def record_evaluation(
    session: Session,
    *,
    checkpoint_id: int,
    skill_id: int | None,
    job_id: int | None,
    scorer: str,
    accuracy: float,
    n: int,
    pass_at_k: dict[str, Any],
    kl_from_base: float | None,
    samples: list[Any],
) -> Evaluation:
    """Insert or replace the result for (checkpoint, skill); skill None is the general probe."""
    kind = "skill" if skill_id is not None else "general"
    existing = session.scalars(
        select(Evaluation).where(
            Evaluation.checkpoint_id == checkpoint_id,
            Evaluation.kind == kind,
            Evaluation.skill_id.is_(None) if skill_id is None else Evaluation.skill_id == skill_id,
        )
    ).first()
    evaluation = existing or Evaluation(checkpoint_id=checkpoint_id, skill_id=skill_id, kind=kind)
    evaluation.job_id = job_id
    evaluation.scorer = scorer
    evaluation.accuracy = accuracy
    evaluation.n = n
    evaluation.pass_at_k = pass_at_k
    evaluation.kl_from_base = kl_from_base
    evaluation.samples = samples
    evaluation.created_at = utcnow()
    session.add(evaluation)
    session.flush()
    return evaluation


def has_evaluation(session: Session, checkpoint_id: int, skill_id: int | None) -> bool:
    return (
        session.scalar(
            select(Evaluation.id).where(
                Evaluation.checkpoint_id == checkpoint_id,
                Evaluation.skill_id.is_(None) if skill_id is None else Evaluation.skill_id == skill_id,
            )
        )
        is not None
    )


def list_evaluations(session: Session, checkpoint_id: int) -> Sequence[Evaluation]:
    """A checkpoint's evaluation results."""
    get_checkpoint(session, checkpoint_id)
    return session.scalars(
        select(Evaluation).where(Evaluation.checkpoint_id == checkpoint_id).order_by(Evaluation.id)
    ).all()


def get_evaluation(session: Session, evaluation_id: int) -> Evaluation:
    """One evaluation with its sample outputs, or 404."""
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound("evaluation", evaluation_id)
    return evaluation


def track_checkpoints_and_evaluations(
    session: Session, track_id: int
) -> tuple[Sequence[Checkpoint], Sequence[Evaluation]]:
    checkpoints = session.scalars(
        select(Checkpoint).where(Checkpoint.track_id == track_id).order_by(Checkpoint.id)
    ).all()
    evaluations = session.scalars(
        select(Evaluation)
        .join(Checkpoint, Checkpoint.id == Evaluation.checkpoint_id)
        .where(Checkpoint.track_id == track_id)
        .order_by(Evaluation.id)
    ).all()
    return checkpoints, evaluations
