from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.auth.dependencies import Authorized
from backend.datasets import export, service
from backend.datasets.schemas import (
    DatasetDiff,
    DatasetPreview,
    DatasetVersionDetail,
    DatasetVersionRead,
    ExamplePage,
    ExampleRead,
    OnError,
)
from backend.datasets.upload import UPLOAD_OPENAPI, received_file
from backend.db import SessionDep
from backend.settings import Settings, get_settings

router = APIRouter(prefix="/api", tags=["datasets"], dependencies=[Authorized])

SettingsDep = Annotated[Settings, Depends(get_settings)]
# Ids are 32-bit integer columns: a larger number is refused (422), not sent to the database (500).
MAX_INT32 = 2**31 - 1
SkillId = Annotated[int, Path(ge=1, le=MAX_INT32)]
VersionId = Annotated[int, Path(ge=1, le=MAX_INT32)]
ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "unknown skill"},
    413: {"description": "file_too_large: the body passed the upload limit and was cut"},
    415: {"description": "unsupported_media_type: not multipart/form-data"},
    422: {"description": "invalid_dataset: {errors: [{line, field, message}] (first 100), error_count}"},
}


@router.post(
    "/skills/{skill_id}/datasets",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetVersionDetail,
    summary="Upload demonstrations as a new dataset version",
    operation_id="datasets-upload",
    openapi_extra=UPLOAD_OPENAPI,
    responses={
        200: {"description": "identical content already stored: that version", "model": DatasetVersionDetail},
        **ERROR_RESPONSES,
    },
)
async def upload_dataset(
    skill_id: SkillId,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    on_error: Annotated[
        OnError,
        Query(description="reject: refuse the file if any row is invalid; skip: store the valid rows"),
    ] = "reject",
) -> DatasetVersionDetail:
    """Store an uploaded file (JSONL, JSON array or CSV) as the skill's next immutable version.

    201 with the new version; 200 with the existing one when its normalised content is identical.
    """
    await _require_skill_then_release(session, skill_id)
    async with received_file(
        request, dest_dir=settings.data_dir / "uploads", max_file_bytes=settings.max_upload_bytes
    ) as upload:
        version, created = await run_in_threadpool(
            service.store_upload,
            session,
            skill_id=skill_id,
            path=upload.path,
            filename=upload.filename,
            on_error=on_error,
            limits=service.parse_limits(settings),
        )
        await run_in_threadpool(session.commit)
    if not created:
        response.status_code = status.HTTP_200_OK
    return DatasetVersionDetail.model_validate(version)


@router.post(
    "/skills/{skill_id}/datasets/preview",
    response_model=DatasetPreview,
    summary="Check a file before uploading it (stores nothing)",
    operation_id="datasets-preview",
    openapi_extra=UPLOAD_OPENAPI,
    responses={404: ERROR_RESPONSES[404], 413: ERROR_RESPONSES[413], 415: ERROR_RESPONSES[415]},
)
async def preview_dataset(
    skill_id: SkillId, request: Request, session: SessionDep, settings: SettingsDep
) -> DatasetPreview:
    """Detected format, counts, the first errors and flags, the first normalised rows."""
    await _require_skill_then_release(session, skill_id)
    async with received_file(
        request, dest_dir=settings.data_dir / "uploads", max_file_bytes=settings.max_upload_bytes
    ) as upload:
        return await run_in_threadpool(
            service.preview_upload,
            session,
            skill_id=skill_id,
            path=upload.path,
            limits=service.parse_limits(settings),
        )


@router.get(
    "/skills/{skill_id}/datasets",
    response_model=list[DatasetVersionRead],
    summary="List a skill's dataset versions",
    operation_id="datasets-list",
)
def list_datasets(skill_id: SkillId, session: SessionDep) -> list[DatasetVersionRead]:
    """A skill's versions, oldest first."""
    return [
        DatasetVersionRead.model_validate(version) for version in service.list_versions(session, skill_id)
    ]


@router.get(
    "/datasets/{version_id}",
    response_model=DatasetVersionDetail,
    summary="One dataset version with its report",
    operation_id="datasets-get",
)
def get_dataset(version_id: VersionId, session: SessionDep) -> DatasetVersionDetail:
    """The version, its counts, and its report (rejected rows, flags)."""
    return DatasetVersionDetail.model_validate(service.get_version(session, version_id))


@router.get(
    "/datasets/{version_id}/examples",
    response_model=ExamplePage,
    summary="Page through a version's rows",
    operation_id="datasets-examples",
)
def list_examples(
    version_id: VersionId,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ExamplePage:
    """Rows in file order, normalised (prompt as chat messages)."""
    version = service.get_version(session, version_id)
    rows = service.list_examples(session, version_id, offset=offset, limit=limit)
    return ExamplePage(
        total=version.n_examples,
        offset=offset,
        limit=limit,
        items=[ExampleRead.model_validate(row) for row in rows],
    )


@router.get(
    "/datasets/{version_id}/export.csv",
    summary="Download a version's rows as CSV",
    operation_id="datasets-export_csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "prompt, response, context, reference, split"}
    },
)
def export_csv(version_id: VersionId, session: SessionDep) -> StreamingResponse:
    """The rows in file order; cells a spreadsheet would run as a formula are prefixed with `'`."""
    version = service.get_version(session, version_id)
    name = f"dataset-{version.id}-v{version.version}.csv"
    return StreamingResponse(
        export.csv_lines(version.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/datasets/{from_id}/diff/{to_id}",
    response_model=DatasetDiff,
    summary="Rows added and removed between two versions of a skill",
    operation_id="datasets-diff",
)
def diff_datasets(
    from_id: VersionId,
    to_id: VersionId,
    session: SessionDep,
    limit: Annotated[int, Query(ge=0, le=500, description="rows listed per side")] = 50,
) -> DatasetDiff:
    """Compares normalised rows, so a version re-uploaded in another format shows no change."""
    return service.diff_versions(session, from_id, to_id, limit=limit)


async def _require_skill_then_release(session: Session, skill_id: int) -> None:
    """404 before reading the body; then end the read transaction, so no pooled connection (or
    SQLite read snapshot) is held while a slow client streams its upload."""
    await run_in_threadpool(service.require_skill, session, skill_id)
    await run_in_threadpool(session.rollback)
