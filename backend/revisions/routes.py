from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from backend.auth.dependencies import Authorized
from backend.datasets.schemas import DatasetVersionDetail
from backend.db import Id, SessionDep
from backend.revisions import service
from backend.revisions.schemas import RevisionRead, RevisionRequest
from backend.settings import Settings, get_settings

router = APIRouter(prefix="/api", tags=["revisions"], dependencies=[Authorized])


@router.post(
    "/datasets/{version_id}/revisions",
    status_code=status.HTTP_201_CREATED,
    response_model=RevisionRead,
    operation_id="revisions-create",
    responses={
        200: {"description": "the revised rows equal an existing version: that one", "model": RevisionRead}
    },
)
def create_revision(
    version_id: Id,
    body: RevisionRequest,
    session: SessionDep,
    response: Response,
    settings: Annotated[Settings, Depends(get_settings)],
) -> RevisionRead:
    """A new version of the skill's demonstrations: this version's rows, minus `remove_indices`, plus `add`
    (e.g. a rollout edited into a better answer). Validated and flagged like an upload; the old
    version stays. Queue a short follow-up job on the new version to train on the change."""
    old, new, created = service.revise(session, version_id, body, settings=settings)
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    return RevisionRead(
        created=created,
        revised_from=old.id,
        added=len(body.add),
        removed=len(set(body.remove_indices)),
        version=DatasetVersionDetail.model_validate(new),
    )
