"""Evaluations: every checkpoint measured on every skill of its track and on the general probe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters import service as adapters
from backend.checkpoints.models import Checkpoint
from backend.checkpoints.service import get_checkpoint
from backend.db import utcnow
from backend.errors import DomainError, NotFound
from backend.evaluations.matrix import CheckpointNode, GeneralResult, SkillResult, compute_regression_matrix
from backend.evaluations.models import Evaluation
from backend.evaluations.schemas import CheckpointRow, EvaluationRequest
from backend.evaluations.schemas import MatrixCell as MatrixCellRead
from backend.evaluations.schemas import RegressionMatrix as RegressionMatrixRead
from backend.jobs.models import Job
from backend.queue import RUN_JOB, enqueue_after_commit
from backend.skills.models import Skill
from backend.tracks.service import get_track


@dataclass(frozen=True)
class SkillEvalSet:
    skill_id: int
    skill_name: str
    dataset_version_id: int
    scorer: str
    scorer_config: dict[str, Any]


def queue_evaluation(session: Session, checkpoint_id: int, request: EvaluationRequest) -> Job:
    """Queue an evaluation job for a checkpoint (an already waiting one is reused). On a track of one
    adapter per skill the job's config names the adapters measured together (adapters.measured_set)."""
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
        config=_config(session, checkpoint, request),
        queue=request.queue,
        state="queued",
        enqueued_at=utcnow(),
    )
    session.add(job)
    session.flush()
    enqueue_after_commit(session, RUN_JOB, [job.id], queue=job.queue)
    return job


def _config(session: Session, checkpoint: Checkpoint, request: EvaluationRequest) -> dict[str, Any]:
    config = request.model_dump(exclude={"queue"})
    track = get_track(session, checkpoint.track_id)
    measured = adapters.measured_set(track, checkpoint)
    if measured is not None:
        config["adapters"] = measured
    return config


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


def regression_matrix(
    session: Session, track_id: int, retention_tolerance: float | None = None
) -> RegressionMatrixRead:
    """The track's matrix R[checkpoint][skill] with the continual-learning summary per checkpoint."""
    track = get_track(session, track_id)
    if retention_tolerance is None and track.retention_budget:  # the track's own budget by default
        max_skill_drop = track.retention_budget.get("max_skill_drop")
        retention_tolerance = None if max_skill_drop is None else min(max_skill_drop + 1e-9, 1.0)
    checkpoints, evaluations = track_checkpoints_and_evaluations(session, track_id)
    skill_evaluations = [e for e in evaluations if e.kind == "skill" and e.skill_id is not None]
    general_evaluations = {e.checkpoint_id: e for e in evaluations if e.kind == "general"}
    try:
        matrix = compute_regression_matrix(
            [CheckpointNode(c.id, c.parent_id, c.skill_id) for c in checkpoints],
            [SkillResult(e.checkpoint_id, e.skill_id, e.accuracy) for e in skill_evaluations],  # type: ignore[arg-type]
            [
                GeneralResult(e.checkpoint_id, e.accuracy, e.kl_from_base)
                for e in general_evaluations.values()
            ],
            retention_tolerance=retention_tolerance,
        )
    except ValueError as exc:
        raise DomainError(409, "inconsistent_results", str(exc)) from exc
    evaluation_ids = {(e.checkpoint_id, e.skill_id): e.id for e in skill_evaluations}
    by_id = {c.id: c for c in checkpoints}
    skills = {s.id: s for s in session.scalars(select(Skill).where(Skill.id.in_(matrix.skill_order))).all()}
    return RegressionMatrixRead(
        track_id=track_id,
        skills=[
            {"id": sid, "name": skills[sid].name, "scorer": skills[sid].scorer}
            for sid in matrix.skill_order
            if sid in skills
        ],
        checkpoints=[
            CheckpointRow(
                checkpoint_id=summary.checkpoint_id,
                parent_id=summary.parent_id,
                depth=summary.depth,
                job_id=by_id[summary.checkpoint_id].job_id,
                skill_id=summary.learned_skill_id,
                method=by_id[summary.checkpoint_id].method,
                is_head=track.head_checkpoint_id == summary.checkpoint_id,
                general_accuracy=summary.general_accuracy,
                general_change_from_root=summary.general_change_from_root,
                general_evaluation_id=(
                    general_evaluations[summary.checkpoint_id].id
                    if summary.checkpoint_id in general_evaluations
                    else None
                ),
                kl_from_base=summary.kl_from_base,
                average_accuracy=summary.average_accuracy,
                backward_transfer=summary.backward_transfer,
                forgetting=summary.forgetting,
                retention_violations=[asdict(v) for v in summary.retention_violations],
                promotion=by_id[summary.checkpoint_id].promotion,
                promotion_report=by_id[summary.checkpoint_id].promotion_report,
            )
            for summary in matrix.summaries
        ],
        cells=[
            MatrixCellRead(
                checkpoint_id=cell.checkpoint_id,
                skill_id=cell.skill_id,
                accuracy=cell.accuracy,
                learned_at=cell.learned_at,
                change_since_learned=cell.change_since_learned,
                evaluation_id=evaluation_ids.get((cell.checkpoint_id, cell.skill_id)),
            )
            for cell in matrix.cells
        ],
    )
