from __future__ import annotations

from fastapi import APIRouter, status

from backend.auth.dependencies import Authorized, PrincipalDep
from backend.db import Id, SessionDep
from backend.jobs.schemas import JobRead
from backend.preflight import service
from backend.preflight.schemas import PreflightReportRead, PreflightRequest, PreflightStatus
from backend.tracks.service import is_local_model_path

router = APIRouter(prefix="/api", tags=["preflight"], dependencies=[Authorized])


@router.post(
    "/datasets/{version_id}/preflight",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobRead,
    operation_id="preflight-request",
)
def request_preflight(
    version_id: Id, body: PreflightRequest, session: SessionDep, principal: PrincipalDep
) -> JobRead:
    """Check the version's demonstrations against a model before training (a light job on the cpu queue).

    Per demonstration: the student's and the teacher's mean log-prob of the demonstration and their
    gap (SDFT needs the teacher to find it far more likely), the teacher's greedy answer scored
    against the reference, and prompt lengths against the training limits; ranked most useful first.
    """
    if body.model is not None and is_local_model_path(body.model):  # as for a track on a local folder
        principal.require(service.project_of_version(session, version_id), "admin")
    job = service.request_preflight(session, version_id, body)
    session.commit()  # the worker is told only after the job row is durable
    return JobRead.model_validate(job)


@router.get("/datasets/{version_id}/preflight", response_model=PreflightStatus, operation_id="preflight-get")
def get_preflight(version_id: Id, session: SessionDep) -> PreflightStatus:
    """The latest pre-flight job of the version (state, error) and the latest finished report."""
    version, job, report = service.latest(session, version_id)
    return PreflightStatus(
        dataset_version_id=version.id,
        job=JobRead.model_validate(job) if job is not None else None,
        report=PreflightReportRead.model_validate(report) if report is not None else None,
    )
