"""The job protocol the worker follows; the database decides who runs what.

- `claim` is one compare-and-set that bumps `attempt` (the fencing token). A train job can only
  be claimed when it is first in its track's queue and nothing of the track is running.
- Every later write of that attempt goes through `heartbeat`/`succeed`/`fail`, guarded by
  `WHERE attempt = :mine AND state = 'running'`: a paused or duplicate worker cannot overwrite
  a newer attempt's work.
- `reconcile` re-queues jobs whose lease expired (or fails them after `max_attempts`) and
  re-sends the "go" for queued jobs whose message may have been lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from backend.adapters import service as adapters
from backend.checkpoints.models import Checkpoint
from backend.db import utcnow
from backend.jobs.models import Job, JobEvent, RolloutTrace
from backend.retention.service import apply_gate, awaits_gate, evaluation_ended_without_result
from backend.scrub import scrub_secrets
from backend.tracks.models import Track

HeartbeatStatus = Literal["ok", "cancel", "lost"]


@dataclass(frozen=True)
class Claim:
    job_id: int
    attempt: int
    start_checkpoint_id: int | None
    # True when the job starts from a different checkpoint than its earlier attempts did,
    # so their step checkpoints must not be resumed.
    fresh_start: bool


def _guarded(job_id: int, attempt: int) -> Any:
    return and_(Job.id == job_id, Job.attempt == attempt, Job.state == "running")


def _event(
    session: Session, job_id: int, attempt: int, kind: str, data: dict, step: int | None = None
) -> None:
    session.add(JobEvent(job_id=job_id, attempt=attempt, kind=kind, step=step, data=data))


def claim(session: Session, job_id: int, *, worker_id: str, lease_seconds: float) -> Claim | None:
    """Take the job for this worker, or None when it is not claimable (a duplicate delivery is a no-op)."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.state != "queued" or job.attempt >= job.max_attempts:
        return None
    now = utcnow()
    conditions = [Job.id == job_id, Job.state == "queued", Job.attempt == job.attempt]
    if job.kind == "train" and job.track_id is not None:
        other = aliased(Job)
        blocked = exists().where(
            other.track_id == job.track_id,
            other.kind == "train",
            other.id != job_id,
            or_(other.state == "running", and_(other.state == "queued", other.position < job.position)),
        )
        conditions.append(~blocked)
        # With a retention budget, the head is undecided until the last checkpoint's evaluation.
        conditions.append(
            ~exists().where(Checkpoint.track_id == job.track_id, Checkpoint.promotion == "pending")
        )
    claimed = session.execute(
        update(Job)
        .where(*conditions)
        .values(
            state="running",
            attempt=job.attempt + 1,
            lease_until=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            worker_id=worker_id,
            started_at=job.started_at or now,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(job)
    fresh_start = False
    if job.kind == "train" and job.track_id is not None:
        track = session.get(Track, job.track_id, populate_existing=True)
        assert track is not None
        # A track of adapters starts each skill from its own adapter (or the base), never the head.
        start = (
            adapters.start_checkpoint_id(session, track, job.skill_id)
            if adapters.enabled(track)
            else track.head_checkpoint_id
        )
        if job.start_checkpoint_id != start:
            fresh_start = job.start_checkpoint_id is not None
            job.start_checkpoint_id = start
    _event(session, job.id, job.attempt, "state", {"state": "running", "worker": worker_id})
    session.flush()
    return Claim(job.id, job.attempt, job.start_checkpoint_id, fresh_start)


def heartbeat(
    session: Session,
    job_id: int,
    attempt: int,
    *,
    lease_seconds: float,
    step: int | None = None,
    total_steps: int | None = None,
    metrics: dict[str, Any] | None = None,
    traces: list[dict[str, Any]] | None = None,
    warnings: list[dict[str, Any]] | None = None,
) -> HeartbeatStatus:
    """Renew the lease and record progress, only while this attempt still owns the job."""
    now = utcnow()
    values: dict[str, Any] = {"lease_until": now + timedelta(seconds=lease_seconds), "heartbeat_at": now}
    if step is not None:
        values["last_step"] = step
    if total_steps is not None:
        values["total_steps"] = total_steps
    renewed = session.execute(
        update(Job)
        .where(_guarded(job_id, attempt))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        return "lost"
    if metrics is not None and step is not None:
        _event(session, job_id, attempt, "step", metrics, step=step)
    for warning in warnings or []:
        _event(session, job_id, attempt, "warning", warning, step=step)
    for index, trace in enumerate(traces or []):
        existing = session.scalar(
            select(RolloutTrace).where(
                RolloutTrace.job_id == job_id, RolloutTrace.step == step, RolloutTrace.sample_index == index
            )
        )
        if existing is None:
            session.add(
                RolloutTrace(job_id=job_id, attempt=attempt, step=step, sample_index=index, trace=trace)
            )
        else:  # a resumed attempt re-ran this step: its trace replaces the lost attempt's
            existing.attempt, existing.trace = attempt, trace
    cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    return "cancel" if cancel else "ok"


def succeed(
    session: Session,
    job_id: int,
    attempt: int,
    *,
    checkpoint_path: str | None,
    manifest: dict[str, Any],
    metrics: dict[str, Any],
    summary: dict[str, Any],
) -> Checkpoint | None:
    """Record the checkpoint and promote it to head in the transaction that ends the job.

    On a track with a retention budget the checkpoint is left "pending" instead (head unchanged);
    an evaluation job's success then applies the gate (backend/retention).
    """
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return None
    done = session.execute(
        update(Job)
        .where(_guarded(job_id, attempt))
        .values(state="succeeded", finished_at=utcnow(), summary={**job.summary, **summary})
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    checkpoint = None
    if job.kind == "train" and job.track_id is not None:
        checkpoint = Checkpoint(
            track_id=job.track_id,
            parent_id=job.start_checkpoint_id,
            kind="skill",
            job_id=job.id,
            skill_id=job.skill_id,
            dataset_version_id=job.dataset_version_id,
            method=job.method,
            config=manifest.get("config", job.config),
            metrics=metrics,
            path=checkpoint_path,
            manifest=manifest,
        )
        if awaits_gate(session, job):  # its evaluation's success promotes or holds it
            checkpoint.promotion = "pending"
        session.add(checkpoint)
        session.flush()
        if checkpoint.promotion is None:
            session.execute(
                update(Track)
                .where(Track.id == job.track_id)
                .values(head_checkpoint_id=checkpoint.id)
                .execution_options(synchronize_session=False)
            )
        if job.skill_id is not None and checkpoint.promotion is None:
            # A track of adapters: the skill's new adapter is the active one (a gated one waits for
            # its evaluation: backend/retention activates it, or keeps the previous one on).
            adapters.record(session, job.track_id, job.skill_id, checkpoint.id)
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(result_checkpoint_id=checkpoint.id)
            .execution_options(synchronize_session=False)
        )
    _event(
        session,
        job_id,
        attempt,
        "state",
        {"state": "succeeded", "checkpoint_id": checkpoint and checkpoint.id},
    )
    if job.kind == "evaluate" and job.checkpoint_id is not None:
        apply_gate(session, job.checkpoint_id, evaluation_job_id=job.id)
    session.refresh(job)
    return checkpoint


def finish(
    session: Session,
    job_id: int,
    attempt: int,
    *,
    state: Literal["failed", "cancelled"],
    error: str | None = None,
) -> bool:
    """End this attempt as failed or cancelled (the head is untouched). The error is stored (and
    shown by the API) with any secret in it masked."""
    error = scrub_secrets(error) if error else error
    done = session.execute(
        update(Job)
        .where(_guarded(job_id, attempt))
        .values(state=state, error=error, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    _event(session, job_id, attempt, "state", {"state": state, **({"error": error} if error else {})})
    evaluation_ended_without_result(session, job_id, error or state)
    return True


def reconcile(session: Session, *, now: datetime | None = None, resend_after_s: float = 300.0) -> list[Job]:
    """Re-queue or fail jobs whose worker vanished; return queued jobs whose "go" should be (re)sent."""
    now = now or utcnow()
    expired = session.scalars(
        select(Job).where(Job.state == "running", Job.lease_until < now).with_for_update(skip_locked=True)
    ).all()
    for job in expired:
        last_seen = job.heartbeat_at.isoformat() if job.heartbeat_at else "never"
        if job.attempt >= job.max_attempts:
            reason = (
                f"worker lost: no heartbeat since {last_seen} (lease expired) on attempt {job.attempt} "
                f"of {job.max_attempts}; giving up"
            )
            job.state, job.error, job.finished_at = "failed", reason, now
            evaluation_ended_without_result(session, job.id, reason)
            _event(session, job.id, job.attempt, "state", {"state": "failed", "error": reason})
        else:
            reason = f"worker lost: no heartbeat since {last_seen}; re-queued to resume from the last step checkpoint"
            job.state, job.error, job.enqueued_at = "queued", reason, None
            _event(session, job.id, job.attempt, "state", {"state": "queued", "reason": reason})
    session.flush()

    to_send: list[Job] = []
    running_tracks = set(
        session.scalars(select(Job.track_id).where(Job.state == "running", Job.kind == "train")).all()
    )
    seen_tracks: set[int] = set()
    stale_before = now - timedelta(seconds=resend_after_s)
    for job in session.scalars(select(Job).where(Job.state == "queued").order_by(Job.position, Job.id)).all():
        if job.kind == "train" and job.track_id is not None:
            if job.track_id in running_tracks or job.track_id in seen_tracks:
                continue
            seen_tracks.add(job.track_id)
        if job.enqueued_at is None or job.enqueued_at < stale_before:
            job.enqueued_at = now
            to_send.append(job)
    session.flush()
    return to_send


def next_queued_job(session: Session, track_id: int) -> Job | None:
    """The first queued training job of a track."""
    return session.scalars(
        select(Job)
        .where(Job.track_id == track_id, Job.kind == "train", Job.state == "queued")
        .order_by(Job.position, Job.id)
        .limit(1)
    ).first()
