"""Glue for evaluation jobs: a checkpoint on every skill of its track, the general probe, KL from base.

On a track of one adapter per skill the job's config names a set of adapters (the checkpoint's and the
other skills' active ones, backend/adapters.measured_set): the base with all of them on is measured."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from backend.checkpoints.models import Checkpoint
from backend.datasets.models import Demonstration
from backend.db import get_sessionmaker
from backend.evaluations import service as evaluations
from backend.evaluations.service import SkillEvalSet
from backend.jobs import lifecycle
from backend.jobs.models import Job
from backend.settings import get_settings
from backend.tracks.models import Track
from worker.sdft.adapters import load_adapter_set
from worker.sdft.data import Example
from worker.sdft.evaluate import (
    EvalResult,
    evaluate_examples,
    evaluate_probe,
    mean_kl_from_reference,
    probe_subset,
)
from worker.sdft.models import LoadedModel
from worker.sdft.probe import load_general_probe
from worker.sdft.scoring import get_scorer
from worker.tasks.generation import adapter_name
from worker.tasks.sink import DatabaseSink
from worker.tasks.training import load_start_model, send_next_job, worker_device, worker_id

log = logging.getLogger(__name__)


class LostLease(RuntimeError):
    """Another attempt owns the job now; stop without writing."""


@dataclass
class EvaluationPlan:
    """What one evaluation job measures, read from the database before any model is loaded."""

    track: Track
    checkpoint: Checkpoint
    root: Checkpoint | None
    options: dict[str, Any]
    eval_sets: list[tuple[SkillEvalSet, list[Example]]]
    root_missing: list[SkillEvalSet]
    root_needs_general: bool
    adapters: list[Checkpoint] | None = None  # a track of adapters: measured together over the base


def _eval_examples(session: Any, dataset_version_id: int, limit: int | None) -> list[Example]:
    query = (
        select(Demonstration)
        .where(Demonstration.dataset_version_id == dataset_version_id, Demonstration.split == "eval")
        .order_by(Demonstration.index)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        Example(
            prompt=row.prompt, demonstration=row.demonstration, context=row.context, reference=row.reference
        )
        for row in session.scalars(query).all()
    ]


def _plan(job_id: int) -> EvaluationPlan:
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.checkpoint_id is not None
        checkpoint = session.get(Checkpoint, job.checkpoint_id)
        assert checkpoint is not None
        track = session.get(Track, checkpoint.track_id)
        assert track is not None
        options = dict(job.config)
        eval_sets = [
            (eval_set, _eval_examples(session, eval_set.dataset_version_id, options.get("max_examples")))
            for eval_set in evaluations.track_eval_sets(session, track.id)
        ]
        root = session.scalars(
            select(Checkpoint).where(Checkpoint.track_id == track.id, Checkpoint.parent_id.is_(None))
        ).first()
        needs_root = root is not None and root.id != checkpoint.id
        root_missing = [
            eval_set
            for eval_set, examples in eval_sets
            if examples and needs_root and not evaluations.has_evaluation(session, root.id, eval_set.skill_id)  # type: ignore[union-attr]
        ]
        root_needs_general = needs_root and not evaluations.has_evaluation(session, root.id, None)  # type: ignore[union-attr]
        adapters: list[Checkpoint] | None = None
        if "adapters" in options:
            found = {i: session.get(Checkpoint, int(i)) for i in options["adapters"]}
            missing = [i for i, c in found.items() if c is None]
            if missing:
                raise RuntimeError(f"adapter checkpoints {missing} no longer exist")
            adapters = [c for c in found.values() if c is not None]
        return EvaluationPlan(
            track, checkpoint, root, options, eval_sets, root_missing, root_needs_general, adapters
        )


def run_evaluation_job(job_id: int) -> None:
    settings = get_settings()
    sessions = get_sessionmaker()
    with sessions.begin() as session:
        claim = lifecycle.claim(
            session, job_id, worker_id=worker_id(), lease_seconds=settings.job_lease_seconds
        )
    if claim is None:
        return
    attempt = claim.attempt

    def record(
        checkpoint_id: int, skill_id: int | None, scorer: str, result: EvalResult, kl: float | None
    ) -> None:
        with sessions.begin() as session:
            if (
                lifecycle.heartbeat(session, job_id, attempt, lease_seconds=settings.job_lease_seconds)
                == "lost"
            ):
                raise LostLease(job_id)
            evaluations.record_evaluation(
                session,
                checkpoint_id=checkpoint_id,
                skill_id=skill_id,
                job_id=job_id,
                scorer=scorer,
                accuracy=result.accuracy,
                n=result.n,
                pass_at_k=result.pass_at_k,
                kl_from_base=kl,
                samples=result.samples,
            )

    try:
        plan = _plan(job_id)
        with DatabaseSink(job_id, attempt, lease_seconds=settings.job_lease_seconds):
            _measure_all(plan, record)
        with sessions.begin() as session:
            lifecycle.succeed(
                session,
                job_id,
                attempt,
                checkpoint_path=None,
                manifest={},
                metrics={},
                summary={
                    "skills": len(plan.eval_sets),
                    **({"adapters": [c.id for c in plan.adapters]} if plan.adapters is not None else {}),
                },
            )
    except LostLease:
        log.warning("evaluation job %s attempt %s lost its lease; stopped", job_id, attempt)
    except Exception as exc:  # noqa: BLE001 - recorded on the job with its reason
        log.exception("evaluation job %s failed", job_id)
        with sessions.begin() as session:
            lifecycle.finish(session, job_id, attempt, state="failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        # On a track with a retention budget, its next training job waited for this verdict.
        with sessions() as session:
            send_next_job(session.scalar(select(Job.track_id).where(Job.id == job_id)))


def _load_measured(plan: EvaluationPlan) -> LoadedModel:
    """The checkpoint, or on a track of adapters the base with the planned adapters all on."""
    if plan.adapters is None:
        return load_start_model(plan.track, plan.checkpoint)
    settings = get_settings()
    return load_adapter_set(
        plan.track.base_model,
        {adapter_name(c): settings.artifacts_dir / str(c.path) for c in plan.adapters},
        models_dir=settings.models_dir,
        device=worker_device(),
        trust_remote_code=plan.track.trust_remote_code,
    )


def _measure_all(plan: EvaluationPlan, record: Any) -> None:
    options = plan.options
    max_new_tokens = int(options.get("max_new_tokens", 128))
    samples = int(options.get("samples", 1))
    with_probe = bool(options.get("general_probe", True))
    probe_items = probe_subset(load_general_probe(), options.get("general_probe_items"))
    examples_by_skill = {eval_set.skill_id: examples for eval_set, examples in plan.eval_sets}

    def measure_skills(loaded: LoadedModel, checkpoint_id: int, sets: list[SkillEvalSet]) -> None:
        for eval_set in sets:
            examples = examples_by_skill[eval_set.skill_id]
            if not examples:
                continue
            scorer = get_scorer(eval_set.scorer, **eval_set.scorer_config)
            result = evaluate_examples(
                loaded, examples, scorer=scorer, max_new_tokens=max_new_tokens, samples=samples
            )
            record(checkpoint_id, eval_set.skill_id, eval_set.scorer, result, None)

    loaded = _load_measured(plan)
    measure_skills(loaded, plan.checkpoint.id, [eval_set for eval_set, _ in plan.eval_sets])
    is_root = plan.checkpoint.parent_id is None
    base: LoadedModel | None = None
    if with_probe:
        general = evaluate_probe(loaded, probe_items, max_new_tokens=max_new_tokens)
        kl = 0.0
        if not is_root:
            base = load_start_model(plan.track, None)
            kl = mean_kl_from_reference(loaded, base, general.prompt_ids, general.completion_ids)
        record(plan.checkpoint.id, None, "general_probe", general, kl)
    # The base model's own row makes "what did training change" readable in the matrix.
    if plan.root is not None and (plan.root_missing or (with_probe and plan.root_needs_general)):
        base = base or load_start_model(plan.track, None)
        measure_skills(base, plan.root.id, plan.root_missing)
        if with_probe and plan.root_needs_general:
            record(
                plan.root.id,
                None,
                "general_probe",
                evaluate_probe(base, probe_items, max_new_tokens=max_new_tokens),
                0.0,
            )
