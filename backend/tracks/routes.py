from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from backend.auth.dependencies import Authorized, PrincipalDep, project_for_new_resource
from backend.db import ID_MAX, Id, SessionDep
from backend.jobs import service as jobs_service
from backend.jobs.schemas import JobCreate, JobRead
from backend.tracks import service
from backend.tracks.schemas import (
    CheckpointNode,
    ReorderRequest,
    RollbackRequest,
    TrackCreate,
    TrackDetail,
    TrackRead,
)

router = APIRouter(prefix="/api", tags=["tracks"], dependencies=[Authorized])


def _detail(session: SessionDep, track_id: Id) -> TrackDetail:
    track = service.get_track(session, track_id)
    jobs = jobs_service.list_jobs(session, track_id)
    running = [job.id for job in jobs if job.state == "running" and job.kind == "train"]
    return TrackDetail(
        **TrackRead.model_validate(track).model_dump(),
        checkpoints=[CheckpointNode.model_validate(c) for c in service.track_checkpoints(session, track_id)],
        running_job_id=running[0] if running else None,
        queued_job_ids=[job.id for job in jobs if job.state == "queued" and job.kind == "train"],
    )


@router.post(
    "/tracks", status_code=status.HTTP_201_CREATED, response_model=TrackDetail, operation_id="tracks-create"
)
def create_track(body: TrackCreate, session: SessionDep, principal: PrincipalDep) -> TrackDetail:
    """Create a track on a base model; its head is the base model until a skill is learned.

    A local model folder or `trust_remote_code` needs the project's admin role."""
    project_id = project_for_new_resource(session, principal, body.project_id)
    if body.trust_remote_code or service.is_local_model_path(body.base_model):
        principal.require(project_id, "admin")
    track = service.create_track(session, body, project_id)
    return _detail(session, track.id)


@router.get("/tracks", response_model=list[TrackRead], operation_id="tracks-list")
def list_tracks(
    session: SessionDep,
    principal: PrincipalDep,
    project_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> list[TrackRead]:
    """List the tracks of your projects (or of one)."""
    tracks = service.list_tracks(session, principal.readable_project_ids(project_id))
    return [TrackRead.model_validate(track) for track in tracks]


@router.get("/tracks/{track_id}", response_model=TrackDetail, operation_id="tracks-get")
def get_track(track_id: Id, session: SessionDep) -> TrackDetail:
    """A track with its head, its whole checkpoint tree and its queue."""
    return _detail(session, track_id)


@router.post(
    "/tracks/{track_id}/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobRead,
    operation_id="tracks-submit_job",
)
def submit_job(track_id: Id, body: JobCreate, session: SessionDep) -> JobRead:
    """Queue a skill on the track; it starts from the track's head when its turn comes."""
    job = jobs_service.submit_job(session, track_id, body)
    session.commit()  # the worker is told only after the job row is durable
    return JobRead.model_validate(job)


@router.get("/tracks/{track_id}/jobs", response_model=list[JobRead], operation_id="tracks-list_jobs")
def list_track_jobs(track_id: Id, session: SessionDep) -> list[JobRead]:
    """The track's jobs in queue order (finished ones included)."""
    service.get_track(session, track_id)
    return [JobRead.model_validate(job) for job in jobs_service.list_jobs(session, track_id)]


@router.post("/tracks/{track_id}/queue", response_model=list[JobRead], operation_id="tracks-reorder_queue")
def reorder_queue(track_id: Id, body: ReorderRequest, session: SessionDep) -> list[JobRead]:
    """Reorder the track's queued jobs."""
    return [
        JobRead.model_validate(job) for job in jobs_service.reorder_queue(session, track_id, body.job_ids)
    ]


@router.post("/tracks/{track_id}/rollback", response_model=TrackDetail, operation_id="tracks-rollback")
def rollback(track_id: Id, body: RollbackRequest, session: SessionDep) -> TrackDetail:
    """Move the head to an earlier checkpoint; later checkpoints stay as another branch. 409 while a job runs."""
    service.rollback(session, track_id, body.checkpoint_id, body.expected_head_id)
    return _detail(session, track_id)
