"""Pre-flight checks: queue a light job that scores a dataset version's demonstrations against a model."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.datasets.models import DatasetVersion
from backend.datasets.service import get_version
from backend.db import utcnow
from backend.errors import Invalid
from backend.jobs.models import Job, JobEvent
from backend.preflight.models import PreflightReport
from backend.preflight.schemas import PreflightRequest
from backend.queue import RUN_JOB, enqueue_after_commit
from backend.skills.models import Skill
from backend.tracks.service import get_track, validate_model_name

KIND = "preflight"


def request_preflight(session: Session, version_id: int, request: PreflightRequest) -> Job:
    """Queue a pre-flight job for the version's train rows; an identical waiting one is reused."""
    version = get_version(session, version_id)
    if version.n_train == 0:
        raise Invalid("the dataset version has no train rows to check", field="version_id")
    skill = session.get(Skill, version.skill_id)
    assert skill is not None
    checkpoint_id = None
    if request.track_id is not None:
        track = get_track(session, request.track_id)
        if track.project_id != skill.project_id:
            raise Invalid(
                f"track {request.track_id} does not exist in this skill's project", field="track_id"
            )
        model, checkpoint_id = track.base_model, track.head_checkpoint_id
    else:
        assert request.model is not None
        model = validate_model_name(request.model)
    config: dict[str, Any] = {
        **request.model_dump(exclude={"queue", "model", "track_id"}, exclude_none=True),
        "model": model,
    }
    waiting = session.scalars(
        select(Job).where(
            Job.kind == KIND,
            Job.dataset_version_id == version.id,
            Job.state.in_(("queued", "running")),
        )
    ).all()
    for job in waiting:
        if job.config == config and job.checkpoint_id == checkpoint_id and job.track_id == request.track_id:
            return job
    job = Job(
        kind=KIND,
        track_id=request.track_id,
        skill_id=version.skill_id,
        dataset_version_id=version.id,
        checkpoint_id=checkpoint_id,
        method=KIND,
        config=config,
        queue=request.queue,
        state="queued",
        enqueued_at=utcnow(),
    )
    session.add(job)
    session.flush()
    session.add(JobEvent(job_id=job.id, attempt=0, kind="state", data={"state": "queued"}))
    enqueue_after_commit(session, RUN_JOB, [job.id], queue=job.queue)
    return job


def project_of_version(session: Session, version_id: int) -> int:
    """The project a dataset version belongs to (through its skill); 404 for an unknown version."""
    version = get_version(session, version_id)
    skill = session.get(Skill, version.skill_id)
    assert skill is not None
    return skill.project_id


def latest(session: Session, version_id: int) -> tuple[DatasetVersion, Job | None, PreflightReport | None]:
    """The version, its latest pre-flight job and its latest finished report (either may be None)."""
    version = get_version(session, version_id)
    job = session.scalars(
        select(Job)
        .where(Job.kind == KIND, Job.dataset_version_id == version_id)
        .order_by(Job.id.desc())
        .limit(1)
    ).first()
    report = session.scalars(
        select(PreflightReport)
        .where(PreflightReport.dataset_version_id == version_id)
        .order_by(PreflightReport.id.desc())
        .limit(1)
    ).first()
    return version, job, report


def record_report(session: Session, job: Job, report: dict[str, Any]) -> PreflightReport:
    """Store (or replace, for a re-run attempt) the report of a pre-flight job."""
    assert job.dataset_version_id is not None
    row = session.scalars(select(PreflightReport).where(PreflightReport.job_id == job.id)).first()
    row = row or PreflightReport(job_id=job.id, dataset_version_id=job.dataset_version_id)
    row.model = str(report.get("model") or job.config.get("model", ""))
    row.checkpoint_id = job.checkpoint_id
    row.summary = dict(report.get("summary", {}))
    row.demonstrations = list(report.get("demonstrations", []))
    row.created_at = utcnow()
    session.add(row)
    session.flush()
    return row
