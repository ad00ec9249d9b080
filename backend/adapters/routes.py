from __future__ import annotations

from fastapi import APIRouter, status

from backend.adapters import service
from backend.adapters.schemas import AdapterGenerateRequest, SetAdapterRequest, TrackAdapters
from backend.auth.dependencies import Authorized, PrincipalDep
from backend.db import Id, SessionDep
from backend.jobs.schemas import JobRead
from backend.retention import service as retention

router = APIRouter(prefix="/api", tags=["adapters"], dependencies=[Authorized])


@router.get("/tracks/{track_id}/adapters", response_model=TrackAdapters, operation_id="adapters-list")
def list_adapters(track_id: Id, session: SessionDep) -> TrackAdapters:
    """Each skill's adapters on the track, newest first, and which one is active."""
    return service.track_adapters(session, track_id)


@router.put(
    "/tracks/{track_id}/adapters/{skill_id}", response_model=TrackAdapters, operation_id="adapters-set"
)
def set_adapter(
    track_id: Id, skill_id: Id, body: SetAdapterRequest, session: SessionDep, principal: PrincipalDep
) -> TrackAdapters:
    """Per-skill rollback: make one of this skill's adapters the active one (or turn the skill off);
    the other skills' adapters are untouched. The next job of this skill continues from it. An adapter
    the retention budget held (or that awaits its evaluation) needs `force: true` (409 otherwise),
    recorded as a forced promotion."""
    result = service.set_skill_adapter(session, track_id, skill_id, body.checkpoint_id)
    if body.checkpoint_id is not None:  # validated above as this skill's adapter
        retention.override(session, body.checkpoint_id, force=body.force, by=principal.username)
    session.commit()
    return result


@router.post(
    "/tracks/{track_id}/generate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobRead,
    operation_id="adapters-generate",
)
def generate(track_id: Id, body: AdapterGenerateRequest, session: SessionDep) -> JobRead:
    """Answer a chat with the track's base model and exactly these adapters on (none: the base alone)."""
    job = service.queue_generation(session, track_id, body)
    session.commit()
    return JobRead.model_validate(job)
