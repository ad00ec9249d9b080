from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import orjson
from fastapi import APIRouter, Header, Query, Request
from sse_starlette.sse import EventSourceResponse

from backend.auth.dependencies import Authorized, PrincipalDep
from backend.db import Id, SessionDep, get_sessionmaker
from backend.jobs import service
from backend.jobs.schemas import (
    JobDetail,
    JobEventRead,
    JobRead,
    JobState,
    RolloutPage,
    RolloutTraceRead,
    StepMetrics,
)

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Authorized])

SSE_POLL_SECONDS = 0.5


@router.get("/jobs", response_model=list[JobRead], operation_id="jobs-list")
def list_jobs(
    session: SessionDep, principal: PrincipalDep, track_id: Id | None = None, state: JobState | None = None
) -> list[JobRead]:
    """Jobs of your projects, filtered by track and/or state."""
    jobs = service.list_jobs(session, track_id, state, project_ids=principal.visible_project_ids())
    return [JobRead.model_validate(job) for job in jobs]


@router.get("/jobs/{job_id}", response_model=JobDetail, operation_id="jobs-get")
def get_job(job_id: Id, session: SessionDep) -> JobDetail:
    """State, progress, every step's metrics so far, warnings and the error if any."""
    job = service.get_job(session, job_id)
    steps = [
        StepMetrics(step=event.step or 0, attempt=event.attempt, metrics=event.data)
        for event in service.step_events(session, job_id)
    ]
    return JobDetail(
        **JobRead.model_validate(job).model_dump(),
        progress=(job.last_step / job.total_steps) if job.total_steps else 0.0,
        steps=steps,
        warnings=[{"step": e.step, **e.data} for e in service.warning_events(session, job_id)],
    )


@router.post("/jobs/{job_id}/cancel", response_model=JobRead, operation_id="jobs-cancel")
def cancel_job(job_id: Id, session: SessionDep) -> JobRead:
    """Cancel: a queued job at once, a running one within one step. The head is untouched."""
    return JobRead.model_validate(service.cancel_job(session, job_id))


@router.get("/jobs/{job_id}/rollouts", response_model=RolloutPage, operation_id="jobs-rollouts")
def job_rollouts(
    job_id: Id,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RolloutPage:
    """Stored rollouts with per-token student and teacher log-probs and their top-5 alternatives."""
    total, items = service.rollouts(session, job_id, offset, limit)
    return RolloutPage(total=total, items=[RolloutTraceRead.model_validate(item) for item in items])


def _poll(job_id: Id, after_id: Id) -> tuple[list[JobEventRead], bool]:
    with get_sessionmaker()() as session:
        job = service.get_job(session, job_id)
        events = [JobEventRead.model_validate(e) for e in service.events_after(session, job_id, after_id)]
        return events, job.state in service.TERMINAL_STATES


@router.get(
    "/jobs/{job_id}/events",
    operation_id="jobs-events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def job_events(
    job_id: Id,
    request: Request,
    session: SessionDep,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int, Query(ge=0, description="resume after this event id")] = 0,
) -> EventSourceResponse:
    """Server-Sent Events: `state` changes, one `step` event per training step, `warning`s; ends with the job."""
    service.get_job(session, job_id)  # 404 before the stream opens
    cursor = max(after, last_event_id or 0)

    async def stream() -> AsyncIterator[dict[str, str]]:
        nonlocal cursor
        while True:
            events, finished = await anyio.to_thread.run_sync(_poll, job_id, cursor)
            for event in events:
                cursor = event.id
                yield {
                    "id": str(event.id),
                    "event": event.kind,
                    "data": orjson.dumps(event.model_dump(mode="json")).decode(),
                }
            if finished and not events:
                yield {"event": "end", "data": "{}"}
                return
            if await request.is_disconnected():
                return
            await anyio.sleep(SSE_POLL_SECONDS)

    return EventSourceResponse(stream())
