from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from backend.auth.dependencies import Authorized
from backend.db import Id, SessionDep
from backend.evaluations import matrix, service
from backend.evaluations.schemas import EvaluationDetail, EvaluationRead, EvaluationRequest, RegressionMatrix
from backend.jobs.schemas import JobRead

router = APIRouter(prefix="/api", tags=["evaluations"], dependencies=[Authorized])


@router.post(
    "/checkpoints/{checkpoint_id}/evaluate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobRead,
    operation_id="evaluations-queue",
)
def queue_evaluation(
    checkpoint_id: Id, session: SessionDep, body: EvaluationRequest | None = None
) -> JobRead:
    """Evaluate a checkpoint on every skill of its track and on the general probe (an evaluation job).

    On a track of one LoRA adapter per skill, an adapter is measured together with the other skills'
    active adapters (the base with this adapter on for its skill and every other skill's active one):
    the set the playground serves once it is active. The job's `config.adapters` (and `summary.adapters`)
    name that set; the base checkpoint is measured alone."""
    job = service.queue_evaluation(session, checkpoint_id, body or EvaluationRequest())
    session.commit()
    return JobRead.model_validate(job)


@router.get(
    "/checkpoints/{checkpoint_id}/evaluations",
    response_model=list[EvaluationRead],
    operation_id="evaluations-list",
)
def list_evaluations(checkpoint_id: Id, session: SessionDep) -> list[EvaluationRead]:
    """A checkpoint's results, one per skill plus the general probe."""
    return [EvaluationRead.model_validate(e) for e in service.list_evaluations(session, checkpoint_id)]


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationDetail, operation_id="evaluations-get")
def get_evaluation(evaluation_id: Id, session: SessionDep) -> EvaluationDetail:
    """One result with its sample outputs (prompt, output, reference, verdict and reason)."""
    return EvaluationDetail.model_validate(service.get_evaluation(session, evaluation_id))


@router.get(
    "/tracks/{track_id}/regression",
    response_model=RegressionMatrix,
    operation_id="evaluations-regression",
    description=(matrix.__doc__ or "").strip()
    + "\n\nOn a track of one LoRA adapter per skill, an adapter's row is measured with every other skill's "
    "active adapter on as well (the set the playground serves once that adapter is active); the base "
    "model's row is the base alone.",
)
def regression(
    track_id: Id,
    session: SessionDep,
    retention_tolerance: Annotated[
        float | None, Query(ge=0, le=1, description="flag earlier skills that dropped more than this")
    ] = None,
) -> RegressionMatrix:
    """The regression matrix of a track: every checkpoint x every skill, the general probe, KL from base."""
    return service.regression_matrix(session, track_id, retention_tolerance)
