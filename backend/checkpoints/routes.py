from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from backend.auth.dependencies import Authorized
from backend.checkpoints import service
from backend.checkpoints.schemas import CheckpointRead, GenerateRequest
from backend.db import Id, SessionDep
from backend.jobs.schemas import JobRead
from backend.tracks.models import Track

router = APIRouter(prefix="/api", tags=["checkpoints"], dependencies=[Authorized])


@router.get("/checkpoints/{checkpoint_id}", response_model=CheckpointRead, operation_id="checkpoints-get")
def get_checkpoint(checkpoint_id: Id, session: SessionDep) -> CheckpointRead:
    """A checkpoint's manifest (files and their sha256, parent, config, data version), metrics, head flag."""
    checkpoint = service.get_checkpoint(session, checkpoint_id)
    track = session.get(Track, checkpoint.track_id)
    is_head = track is not None and track.head_checkpoint_id == checkpoint.id
    return CheckpointRead.model_validate({**checkpoint.__dict__, "is_head": is_head})


@router.get(
    "/checkpoints/{checkpoint_id}/download",
    operation_id="checkpoints-download",
    responses={200: {"content": {"application/x-tar": {}}, "description": "tar of the safetensors folder"}},
)
def download_checkpoint(checkpoint_id: Id, session: SessionDep) -> StreamingResponse:
    """The checkpoint folder (safetensors, tokenizer, manifest) as a streamed tar."""
    checkpoint = service.get_checkpoint(session, checkpoint_id)
    folder = service.checkpoint_folder(checkpoint)
    name = f"apprentice-checkpoint-{checkpoint.id}"
    return StreamingResponse(
        service.stream_tar(folder, name),
        media_type="application/x-tar",
        headers={"Content-Disposition": f'attachment; filename="{name}.tar"'},
    )


@router.post(
    "/checkpoints/{checkpoint_id}/generate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobRead,
    operation_id="checkpoints-generate",
)
def generate(checkpoint_id: Id, body: GenerateRequest, session: SessionDep) -> JobRead:
    """Answer a chat with this checkpoint (a job on the cpu queue; its `summary.output` holds the answer)."""
    job = service.queue_generation(session, checkpoint_id, body)
    session.commit()
    return JobRead.model_validate(job)
