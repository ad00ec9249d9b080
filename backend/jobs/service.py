"""Jobs as the API sees them: submit, inspect, cancel, reorder."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.adapters.service import require_lora
from backend.datasets.models import DatasetVersion
from backend.db import utcnow
from backend.errors import Conflict, Invalid, NotFound
from backend.jobs.models import Job, JobEvent, RolloutTrace
from backend.jobs.schemas import JobCreate
from backend.queue import RUN_JOB, enqueue_after_commit
from backend.retention.service import evaluation_ended_without_result
from backend.skills.models import Skill
from backend.tracks.models import Track
from backend.tracks.service import get_track

TERMINAL_STATES = ("succeeded", "failed", "cancelled")
PRODUCT_TRACE_EVERY = 10


def add_event(session: Session, job: Job, kind: str, data: dict, step: int | None = None) -> None:
    session.add(JobEvent(job_id=job.id, attempt=job.attempt, kind=kind, step=step, data=data))


def submit_job(session: Session, track_id: int, data: JobCreate) -> Job:
    """Queue a training job at the end of the track's queue; the worker is told after commit."""
    track = get_track(session, track_id)
    skill = session.get(Skill, data.skill_id)
    # A skill of another project is as good as absent: its data must not flow into this track.
    if skill is None or skill.project_id != track.project_id:
        raise Invalid(f"skill {data.skill_id} does not exist in this track's project", field="skill_id")
    version = session.get(DatasetVersion, data.dataset_version_id)
    if version is None or version.skill_id != data.skill_id:
        raise Invalid(
            f"dataset version {data.dataset_version_id} is not a version of skill {data.skill_id}",
            field="dataset_version_id",
        )
    if version.n_train == 0:
        raise Invalid("the dataset version has no train examples", field="dataset_version_id")
    last_position = session.scalar(select(func.max(Job.position)).where(Job.track_id == track_id))
    # The product stores per-token traces by default (the run page's token inspector needs them);
    # the engine's own default (0 = never) suits the CLI and benchmarks.
    config = {"trace_every": PRODUCT_TRACE_EVERY, **data.config.engine_overrides()}
    require_lora(track, config)
    job = Job(
        kind="train",
        track_id=track_id,
        skill_id=data.skill_id,
        dataset_version_id=data.dataset_version_id,
        method=data.method,
        config=config,
        queue=data.queue,
        position=(last_position or 0) + 1,
        state="queued",
        summary={"evaluate": data.evaluate, "evaluation": data.evaluation.model_dump()},
        enqueued_at=utcnow(),
    )
    session.add(job)
    session.flush()
    add_event(session, job, "state", {"state": "queued"})
    enqueue_after_commit(session, RUN_JOB, [job.id], queue=job.queue)
    return job


def get_job(session: Session, job_id: int) -> Job:
    """One job or 404."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("job", job_id)
    return job


def list_jobs(
    session: Session,
    track_id: int | None = None,
    state: str | None = None,
    *,
    project_ids: Sequence[int] | None = None,
) -> Sequence[Job]:
    """Jobs, optionally of one track, in one state and/or of some projects, in queue order."""
    query = select(Job).order_by(Job.track_id, Job.position, Job.id)
    if project_ids is not None:
        query = query.join(Track, Track.id == Job.track_id).where(Track.project_id.in_(project_ids))
    if track_id is not None:
        query = query.where(Job.track_id == track_id)
    if state is not None:
        query = query.where(Job.state == state)
    return session.scalars(query).all()


def cancel_job(session: Session, job_id: int) -> Job:
    """Cancel a queued job now, or ask a running one to stop at its next step."""
    job = get_job(session, job_id)
    if job.state in TERMINAL_STATES:
        raise Conflict(f"job {job_id} already {job.state}")
    # Conditional updates: the worker may be claiming or finishing this job at the same moment.
    cancelled = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(state="cancelled", cancel_requested=True, finished_at=func.now())
        .execution_options(synchronize_session=False)
    )
    if cancelled.rowcount == 1:  # type: ignore[attr-defined]
        session.refresh(job)
        add_event(session, job, "state", {"state": "cancelled"})
        evaluation_ended_without_result(session, job.id, "cancelled")  # a gated checkpoint is held
        return job
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running")
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.refresh(job)
    if job.state in TERMINAL_STATES:
        raise Conflict(f"job {job_id} already {job.state}")
    add_event(session, job, "log", {"message": "cancellation requested"})
    return job


def reorder_queue(session: Session, track_id: int, job_ids: list[int]) -> Sequence[Job]:
    """Give the track's queued jobs a new order; running and finished jobs keep their place."""
    get_track(session, track_id)
    queued = {job.id: job for job in list_jobs(session, track_id, "queued")}
    if sorted(job_ids) != sorted(queued):
        raise Invalid(
            "job_ids must list exactly the track's queued jobs",
            field="job_ids",
            details={"queued_job_ids": sorted(queued)},
        )
    positions = sorted(job.position for job in queued.values())
    for job_id, position in zip(job_ids, positions, strict=True):
        queued[job_id].position = position
    session.flush()
    return [queued[job_id] for job_id in job_ids]


def step_events(session: Session, job_id: int) -> Sequence[JobEvent]:
    """Step metrics of the job's latest attempt for each step (a resumed attempt overrides)."""
    events = session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.kind == "step").order_by(JobEvent.id)
    ).all()
    by_step: dict[int, JobEvent] = {}
    for event in events:
        if event.step is not None:
            by_step[event.step] = event
    return [by_step[step] for step in sorted(by_step)]


def warning_events(session: Session, job_id: int) -> Sequence[JobEvent]:
    return session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.kind == "warning").order_by(JobEvent.id)
    ).all()


def events_after(session: Session, job_id: int, after_id: int, limit: int = 500) -> Sequence[JobEvent]:
    """The job's events with id greater than `after_id` (the SSE cursor)."""
    return session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
        .order_by(JobEvent.id)
        .limit(limit)
    ).all()


def rollouts(session: Session, job_id: int, offset: int, limit: int) -> tuple[int, Sequence[RolloutTrace]]:
    """Stored per-token rollout traces, newest step first."""
    get_job(session, job_id)
    total = session.scalar(
        select(func.count()).select_from(RolloutTrace).where(RolloutTrace.job_id == job_id)
    )
    items = session.scalars(
        select(RolloutTrace)
        .where(RolloutTrace.job_id == job_id)
        .order_by(RolloutTrace.step.desc(), RolloutTrace.sample_index)
        .offset(offset)
        .limit(limit)
    ).all()
    return total or 0, items
