"""Retention-gated promotion: with a budget, a new checkpoint becomes head only after its evaluation.

The training job ends with its checkpoint "pending" and the head left at the parent; the track's
next training job waits (lifecycle.claim). The evaluation job's success applies the gate in its own
transaction: "promoted" (head moves to it, unless someone moved the head meanwhile) or "held"
(kept, not head; the training job's summary and run page say which skill broke the budget and by
how much). A failed evaluation holds it too. A user may promote a held or pending checkpoint with
force ("forced", recorded with who and when) or roll back as usual. Without a budget nothing
changes: the training job promotes its checkpoint itself.

On a track of one adapter per skill (backend/adapters) promotion also means activation: a pending
adapter is not its skill's active adapter yet (the previous one stays on), "promoted" activates it
(unless that skill's adapter was changed while it waited), "held" keeps the previous one and records
which, and a forced promotion, or activating it with force through PUT /tracks/{id}/adapters/{skill},
activates it with the same record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.adapters import service as adapters
from backend.checkpoints.models import Checkpoint
from backend.checkpoints.service import get_checkpoint
from backend.db import utcnow
from backend.errors import Conflict
from backend.evaluations.matrix import CheckpointNode, GeneralResult, SkillResult, compute_regression_matrix
from backend.evaluations.service import track_checkpoints_and_evaluations
from backend.jobs.models import Job, JobEvent
from backend.queue import RUN_JOB, enqueue_after_commit
from backend.retention.gate import Breach, Budget, adapter_breaches, breaches, describe, skill_tolerance
from backend.retention.schemas import RetentionBudget
from backend.skills.models import Skill
from backend.tracks.models import Track
from backend.tracks.service import get_track, rollback

PENDING, PROMOTED, HELD, FORCED = "pending", "promoted", "held", "forced"


def set_budget(session: Session, track_id: int, budget: RetentionBudget | None) -> Track:
    """Set or (with None, or no bound given) remove the track's retention budget."""
    track = get_track(session, track_id)
    values = budget.model_dump() if budget is not None else {}
    track.retention_budget = values if any(v is not None for v in values.values()) else None
    session.flush()
    return track


def awaits_gate(session: Session, job: Job) -> bool:
    """Whether a training job's new checkpoint must wait for its evaluation before becoming head."""
    track = session.get(Track, job.track_id)
    return (
        track is not None and track.retention_budget is not None and bool(job.summary.get("evaluate", True))
    )


def _breaches(session: Session, track: Track, checkpoint: Checkpoint, budget: Budget) -> list[Breach]:
    checkpoints, evaluations = track_checkpoints_and_evaluations(session, checkpoint.track_id)
    matrix = compute_regression_matrix(
        [CheckpointNode(c.id, c.parent_id, c.skill_id) for c in checkpoints],
        [
            SkillResult(e.checkpoint_id, e.skill_id, e.accuracy)
            for e in evaluations
            if e.kind == "skill" and e.skill_id is not None
        ],
        [
            GeneralResult(e.checkpoint_id, e.accuracy, e.kl_from_base)
            for e in evaluations
            if e.kind == "general"
        ],
        retention_tolerance=skill_tolerance(budget),
    )
    found = breaches(matrix.summary(checkpoint.id), budget)
    if adapters.enabled(track) and checkpoint.skill_id is not None:
        # The other skills, measured with their active adapters beside this one (adapters.measured_set).
        accuracy = {
            (e.checkpoint_id, e.skill_id): e.accuracy
            for e in sorted(evaluations, key=lambda e: e.id)  # the latest result wins
            if e.kind == "skill" and e.skill_id is not None
        }
        learned = {
            int(skill): (int(adapter), accuracy[(int(adapter), int(skill))])
            for skill, adapter in (track.skill_adapters or {}).items()
            if int(skill) != checkpoint.skill_id and (int(adapter), int(skill)) in accuracy
        }
        measured = {
            skill: a for (c, skill), a in accuracy.items() if c == checkpoint.id and skill is not None
        }
        found += adapter_breaches(learned, measured, budget)
    return found


def _note_on_training_job(
    session: Session, checkpoint: Checkpoint, state: str, report: dict[str, Any]
) -> None:
    """The run page's data: the promotion in the job's summary, and a warning event when it was held."""
    job = session.get(Job, checkpoint.job_id) if checkpoint.job_id is not None else None
    if job is None:
        return
    job.summary = {**job.summary, "promotion": {"state": state, "checkpoint_id": checkpoint.id, **report}}
    kind = "warning" if state == HELD else "log"
    data = {"monitor": "retention_budget", "message": report["message"], "promotion": state}
    session.add(JobEvent(job_id=job.id, attempt=job.attempt, kind=kind, step=None, data=data))


def _decide(session: Session, checkpoint: Checkpoint, state: str, report: dict[str, Any]) -> bool:
    """Compare-and-set from pending: a concurrent forced promotion wins over a late evaluation."""
    decided = session.execute(
        update(Checkpoint)
        .where(Checkpoint.id == checkpoint.id, Checkpoint.promotion == PENDING)
        .values(promotion=state, promotion_report=report)
        .execution_options(synchronize_session=False)
    )
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(checkpoint)
    _note_on_training_job(session, checkpoint, state, report)
    return True


def apply_gate(session: Session, checkpoint_id: int, *, evaluation_job_id: int | None = None) -> str | None:
    """Promote or hold a pending checkpoint from its evaluation results; None when it was not pending."""
    checkpoint = session.get(Checkpoint, checkpoint_id, populate_existing=True)
    if checkpoint is None or checkpoint.promotion != PENDING:
        return None
    track = session.get(Track, checkpoint.track_id, populate_existing=True)
    assert track is not None
    budget = Budget.from_dict(track.retention_budget)
    found = _breaches(session, track, checkpoint, budget) if budget is not None else []
    names = dict(
        session.execute(
            select(Skill.id, Skill.name).where(Skill.id.in_([b.skill_id for b in found if b.skill_id]))
        ).all()
    )
    violations = [{**breach.to_dict(), "message": describe(breach, names)} for breach in found]
    report: dict[str, Any] = {
        "decided_at": utcnow().isoformat(),
        "budget": track.retention_budget,
        "evaluation_job_id": evaluation_job_id,
        "violations": violations,
    }
    per_skill = adapters.enabled(track) and checkpoint.skill_id is not None
    active = (track.skill_adapters or {}).get(str(checkpoint.skill_id))
    if found:
        report["message"] = "held by the retention budget: " + "; ".join(v["message"] for v in violations)
        if per_skill:  # the skill keeps the adapter it had
            report["kept_adapter_id"] = active
            report["message"] += "; not activated for its skill (" + (
                f"adapter #{active} stays active)" if active is not None else "its adapter stays off)"
            )
        return HELD if _decide(session, checkpoint, HELD, report) else None
    if per_skill:
        return _promote_adapter(session, track, checkpoint, active, report)
    # The head moves only from the parent: a rollback made while this waited is the user's choice.
    moved = session.execute(
        update(Track)
        .where(Track.id == track.id, Track.head_checkpoint_id == checkpoint.parent_id)
        .values(head_checkpoint_id=checkpoint.id)
        .execution_options(synchronize_session=False)
    )
    head_moved_meanwhile = moved.rowcount != 1  # type: ignore[attr-defined]
    report["message"] = "within the retention budget: promoted to head" + (
        " (not made head: the head was moved while it waited)" if head_moved_meanwhile else ""
    )
    report["head_moved_meanwhile"] = head_moved_meanwhile
    return PROMOTED if _decide(session, checkpoint, PROMOTED, report) else None


def _promote_adapter(
    session: Session, track: Track, checkpoint: Checkpoint, active: int | None, report: dict[str, Any]
) -> str | None:
    """A track of adapters: the new adapter becomes head and its skill's active adapter, unless the
    skill's adapter was changed while it waited (a per-skill rollback is the user's choice)."""
    started_from = (
        None if checkpoint.parent_id == adapters.root_id(session, track.id) else checkpoint.parent_id
    )
    changed_meanwhile = active != started_from
    report["activated"] = not changed_meanwhile
    now = f"changed to #{active}" if active is not None else "turned off"
    report["message"] = "within the retention budget: activated for its skill" + (
        f" (not activated: its skill's adapter was {now} while it waited)" if changed_meanwhile else ""
    )
    if not _decide(session, checkpoint, PROMOTED, report):
        return None
    session.execute(
        update(Track)
        .where(Track.id == track.id)
        .values(head_checkpoint_id=checkpoint.id)
        .execution_options(synchronize_session=False)
    )
    if not changed_meanwhile:
        adapters.record(session, track.id, checkpoint.skill_id, checkpoint.id)  # type: ignore[arg-type]
    return PROMOTED


def evaluation_ended_without_result(session: Session, job_id: int, reason: str) -> None:
    """A failed or cancelled evaluation cannot vouch for its checkpoint: a pending one is held."""
    job = session.get(Job, job_id)
    if job is None or job.kind != "evaluate" or job.checkpoint_id is None:
        return
    checkpoint = session.get(Checkpoint, job.checkpoint_id, populate_existing=True)
    if checkpoint is None or checkpoint.promotion != PENDING:
        return
    report = {
        "decided_at": utcnow().isoformat(),
        "evaluation_job_id": job_id,
        "violations": [],
        "message": f"held: its evaluation ended without a result ({reason}); evaluate it again or promote it "
        "with force",
    }
    _decide(session, checkpoint, HELD, report)


def override(session: Session, checkpoint_id: int, *, force: bool, by: str) -> Checkpoint:
    """Let a held or pending checkpoint be used despite the budget: 409 without force; with force the
    promotion becomes "forced" (who, when, what it was) and a queue that waited on it goes on."""
    checkpoint = get_checkpoint(session, checkpoint_id)
    state = checkpoint.promotion
    if state in (HELD, PENDING):
        report = dict(checkpoint.promotion_report or {})
        if not force:
            reason = "awaits its evaluation" if state == PENDING else report.get("message", "was held")
            raise Conflict(
                f"checkpoint {checkpoint_id} {reason}; promote it with force to override the retention budget",
                {"promotion": state, "violations": report.get("violations", [])},
            )
        forced = {
            **report,
            "forced_by": by,
            "forced_at": utcnow().isoformat(),
            "was": state,
            "message": f"promoted by {by} despite the retention budget ({state})",
        }
        changed = session.execute(
            update(Checkpoint)
            .where(Checkpoint.id == checkpoint_id, Checkpoint.promotion == state)
            .values(promotion=FORCED, promotion_report=forced)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the checkpoint's promotion changed meanwhile: reload and try again")
        session.refresh(checkpoint)
        _note_on_training_job(session, checkpoint, FORCED, forced)
    if state == PENDING:  # the track's queue waited on this checkpoint: tell its next job to go
        waiting = session.scalars(
            select(Job)
            .where(Job.track_id == checkpoint.track_id, Job.kind == "train", Job.state == "queued")
            .order_by(Job.position, Job.id)
            .limit(1)
        ).first()
        if waiting is not None:
            enqueue_after_commit(session, RUN_JOB, [waiting.id], queue=waiting.queue)
    return checkpoint


def promote(session: Session, checkpoint_id: int, *, force: bool, by: str) -> Checkpoint:
    """Make a checkpoint head; a held or pending one needs force (recorded). 409 while a job trains.
    On a track of adapters an adapter promoted this way also becomes its skill's active adapter."""
    checkpoint = override(session, checkpoint_id, force=force, by=by)
    track = rollback(session, checkpoint.track_id, checkpoint.id)
    if adapters.enabled(track) and checkpoint.skill_id is not None and adapters.is_adapter(checkpoint, track):
        adapters.record(session, track.id, checkpoint.skill_id, checkpoint.id)
    return checkpoint
