from __future__ import annotations

from fastapi import APIRouter

from backend.auth.dependencies import Authorized, PrincipalDep
from backend.db import Id, SessionDep
from backend.retention import service
from backend.retention.schemas import PromoteRequest, PromotionRead, RetentionBudget, RetentionBudgetRead
from backend.tracks.service import get_track

router = APIRouter(prefix="/api", tags=["retention"], dependencies=[Authorized])


def _budget_read(track_id: int, budget: dict | None) -> RetentionBudgetRead:  # type: ignore[type-arg]
    return RetentionBudgetRead(
        track_id=track_id, budget=RetentionBudget.model_validate(budget) if budget is not None else None
    )


@router.get(
    "/tracks/{track_id}/retention-budget",
    response_model=RetentionBudgetRead,
    operation_id="retention-get_budget",
)
def get_budget(track_id: Id, session: SessionDep) -> RetentionBudgetRead:
    """The track's retention budget (None: every successful job's checkpoint becomes head)."""
    return _budget_read(track_id, get_track(session, track_id).retention_budget)


@router.put(
    "/tracks/{track_id}/retention-budget",
    response_model=RetentionBudgetRead,
    operation_id="retention-set_budget",
)
def set_budget(track_id: Id, body: RetentionBudget, session: SessionDep) -> RetentionBudgetRead:
    """Set the budget (both bounds null removes it). With one, a new checkpoint becomes head only after its
    evaluation shows no earlier skill dropped more than max_skill_drop since it was learned and the
    general probe no more than max_general_drop below the base model; otherwise it is kept but held. On a
    track of one adapter per skill a new adapter is activated for its skill only then, and the other skills
    (measured with their active adapters beside it) may not drop more than max_skill_drop below their
    active adapter's own result."""
    track = service.set_budget(session, track_id, body)
    return _budget_read(track.id, track.retention_budget)


@router.post(
    "/checkpoints/{checkpoint_id}/promote", response_model=PromotionRead, operation_id="retention-promote"
)
def promote(
    checkpoint_id: Id, body: PromoteRequest, session: SessionDep, principal: PrincipalDep
) -> PromotionRead:
    """Make the checkpoint head. One the retention budget held (or still awaiting evaluation) needs
    `force: true`, which is recorded on the checkpoint and its training job. 409 while a job trains."""
    checkpoint = service.promote(session, checkpoint_id, force=body.force, by=principal.username)
    track = get_track(session, checkpoint.track_id)
    session.refresh(track)
    return PromotionRead(
        checkpoint_id=checkpoint.id,
        track_id=track.id,
        head_checkpoint_id=track.head_checkpoint_id,
        promotion=checkpoint.promotion,
        promotion_report=checkpoint.promotion_report,
    )
