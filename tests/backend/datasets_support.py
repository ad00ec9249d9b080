"""Helpers shared by the dataset API tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.datasets.models import DatasetVersion, Demonstration
from backend.settings import get_settings

DATA = Path(__file__).parent / "data"


def create_skill(client: TestClient, name: str = "tool use") -> int:
    response = client.post("/api/skills", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def upload(
    client: TestClient, skill_id: int, content: bytes, *, filename: str = "demos", on_error: str | None = None
) -> httpx.Response:
    params = {"on_error": on_error} if on_error else {}
    return client.post(f"/api/skills/{skill_id}/datasets", params=params, files={"file": (filename, content)})


def jsonl(*rows: object) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def stored_counts(session: Session) -> tuple[int, int]:
    """(dataset versions, demonstrations) in the database now."""
    session.rollback()  # a fresh snapshot: SQLite keeps one per read transaction
    versions = session.scalar(select(func.count()).select_from(DatasetVersion))
    rows = session.scalar(select(func.count()).select_from(Demonstration))
    return int(versions or 0), int(rows or 0)


def use_settings(client: TestClient, **overrides: Any) -> None:
    """Run this test's app with some settings changed (limits, mostly)."""
    settings = get_settings().model_copy(update=overrides)
    client.app.dependency_overrides[get_settings] = lambda: settings  # type: ignore[attr-defined]


def refusal(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    detail: dict[str, Any] = response.json()["detail"]
    return detail
