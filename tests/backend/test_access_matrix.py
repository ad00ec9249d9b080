"""Every API route refuses an anonymous caller (401) and a user of another project (403/404).

The routes are read from the OpenAPI document, so a route added later is checked too: one with
ids in its path is called with the ids of the local admin's resources; one without ids must be
listed in PROJECTLESS_ROUTES with the check that fits it, or this test fails.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.models import AuthToken, ProjectMember, User
from backend.checkpoints.models import Checkpoint
from backend.datasets.models import DatasetVersion
from backend.evaluations.models import Evaluation
from backend.jobs.models import Job
from backend.skills.models import Skill
from backend.tracks.models import Track
from tests.backend.auth_support import default_project_id
from tests.backend.datasets_support import jsonl

PUBLIC = {("GET", "/api/health"), ("POST", "/api/auth/login")}
# Routes without ids: how a user of another project is kept out of the admin's data.
PROJECTLESS_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/skills"): "list",
    ("POST", "/api/skills"): "create",
    ("GET", "/api/tracks"): "list",
    ("POST", "/api/tracks"): "create",
    ("GET", "/api/jobs"): "list",
    ("GET", "/api/projects"): "list",
    ("POST", "/api/projects"): "own",  # a new project of one's own
    ("GET", "/api/auth/me"): "own",
    ("POST", "/api/auth/logout"): "own",
    ("POST", "/api/auth/password"): "own",
    ("GET", "/api/auth/tokens"): "own",
    ("POST", "/api/auth/tokens"): "own",
    ("GET", "/api/auth/sessions"): "own",
    ("GET", "/api/users"): "superuser",
    ("POST", "/api/users"): "superuser",
}
# Bodies that pass validation, so a refusal cannot be mistaken for a 422.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/skills"): {"name": "intruder"},
    ("POST", "/api/tracks"): {"name": "intruder", "base_model": "tiny"},
    ("POST", "/api/tracks/{track_id}/jobs"): {"skill_id": 1, "dataset_version_id": 1},
    ("POST", "/api/tracks/{track_id}/rollback"): {"checkpoint_id": 1},
    ("POST", "/api/tracks/{track_id}/queue"): {"job_ids": []},
    ("POST", "/api/projects/{project_id}/members"): {"username": "outsider", "role": "admin"},
    ("POST", "/api/users"): {"username": "sneaky", "password": "a long enough password"},
    ("POST", "/api/users/{user_id}/password"): {"new_password": "a long enough password"},
}


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path.startswith("/api/")
    )


@pytest.fixture()
def admin_world(client: TestClient, db_session: Session) -> dict[str, int]:
    """One of everything in the admin's default project; ids by path parameter name."""
    skill = client.post("/api/skills", json={"name": "s"}).json()
    upload = client.post(
        f"/api/skills/{skill['id']}/datasets",
        files={"file": ("d.jsonl", jsonl(*[{"prompt": f"q{i}", "response": "a"} for i in range(3)]))},
    )
    version = upload.json()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    job = client.post(
        f"/api/tracks/{track['id']}/jobs",
        json={"skill_id": skill["id"], "dataset_version_id": version["id"], "evaluate": False},
    ).json()
    evaluation = Evaluation(
        checkpoint_id=track["head_checkpoint_id"],
        skill_id=skill["id"],
        kind="skill",
        scorer="exact",
        accuracy=1.0,
        n=1,
    )
    db_session.add(evaluation)
    db_session.commit()
    admin_id = db_session.scalar(select(User.id).where(User.username == "admin"))
    # The admin's own token and session (unordered rows may come back in any order on PostgreSQL).
    mine = select(AuthToken.id).where(AuthToken.user_id == admin_id).order_by(AuthToken.id)
    token_id = db_session.scalar(mine.where(AuthToken.kind == "api"))
    session_id = db_session.scalar(mine.where(AuthToken.kind == "session"))
    return {
        "skill_id": skill["id"],
        "version_id": version["id"],
        "from_id": version["id"],
        "to_id": version["id"],
        "track_id": track["id"],
        "job_id": job["id"],
        "checkpoint_id": track["head_checkpoint_id"],
        "evaluation_id": evaluation.id,
        "project_id": default_project_id(),
        "token_id": int(token_id or 0),
        "session_id": int(session_id or 0),
        "user_id": int(admin_id or 0),
    }


def _call(client: TestClient, method: str, path: str, ids: dict[str, int]) -> Any:
    url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
    body = BODIES.get((method, path), {} if method in ("POST", "PUT", "PATCH") else None)
    return client.request(method, url, json=body)


def _snapshot(session: Session) -> dict[str, Any]:
    session.rollback()
    count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return {
        "skills": count(Skill),
        "versions": count(DatasetVersion),
        "tracks": count(Track),
        "checkpoints": count(Checkpoint),
        "jobs": sorted((j.id, j.state, j.cancel_requested, j.position) for j in session.scalars(select(Job))),
        "heads": sorted((t.id, t.head_checkpoint_id) for t in session.scalars(select(Track))),
        "members": sorted((m.project_id, m.user_id, m.role) for m in session.scalars(select(ProjectMember))),
        "tokens": sorted((t.id, t.revoked_at) for t in session.scalars(select(AuthToken))),
        "users": sorted((u.id, u.is_active, u.password_hash) for u in session.scalars(select(User))),
    }


def test_every_route_refuses_an_anonymous_caller(
    client: TestClient, anon_client: TestClient, admin_world: dict[str, int], db_session: Session
) -> None:
    before = _snapshot(db_session)
    checked = 0
    for method, path in api_routes(client):
        if (method, path) in PUBLIC:
            continue
        response = _call(anon_client, method, path, admin_world)
        assert response.status_code == 401, f"{method} {path}: {response.status_code} {response.text[:200]}"
        assert response.headers["www-authenticate"] == "Bearer"
        checked += 1
    assert checked >= 30
    assert _snapshot(db_session) == before


def test_every_route_refuses_a_user_of_another_project(
    client: TestClient, other_project_client: TestClient, admin_world: dict[str, int], db_session: Session
) -> None:
    before = _snapshot(db_session)
    routes = api_routes(client)
    unclassified = [
        route for route in routes if "{" not in route[1] and route not in PUBLIC | PROJECTLESS_ROUTES.keys()
    ]
    assert not unclassified, f"add these routes to PROJECTLESS_ROUTES with their access rule: {unclassified}"
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        kind = PROJECTLESS_ROUTES.get((method, path), "ids")
        if kind == "own":
            continue  # the caller's own account or a project of their own: nothing of the admin's to reach
        checked += 1
        if kind == "create":
            body = {**BODIES[(method, path)], "project_id": admin_world["project_id"]}
            response = other_project_client.request(method, path, json=body)
        else:
            response = _call(other_project_client, method, path, admin_world)
        where = f"{method} {path}: {response.status_code} {response.text[:200]}"
        if kind == "list":
            assert response.status_code == 200, where
            seen = {item["id"] for item in response.json()}
            assert not seen & {
                admin_world["skill_id"],
                admin_world["track_id"],
                admin_world["job_id"],
                admin_world["project_id"],
            }, where
        elif kind == "superuser":
            assert response.status_code == 403, where
        else:
            assert response.status_code in (403, 404), where
    assert checked >= 25
    assert _snapshot(db_session) == before
    # ...and the owner still reaches all of it.
    assert client.get(f"/api/jobs/{admin_world['job_id']}").status_code == 200
    assert client.get(f"/api/evaluations/{admin_world['evaluation_id']}").status_code == 200


def test_a_viewer_is_refused_every_unsafe_route(
    client: TestClient, admin_world: dict[str, int], db_session: Session
) -> None:
    from tests.backend.auth_support import make_user_client

    viewer = TestClient(client.app)
    make_user_client(viewer, "vic", roles={admin_world["project_id"]: "viewer"})
    before = _snapshot(db_session)
    for method, path in api_routes(client):
        if method == "GET" or "{" not in path:
            continue
        response = _call(viewer, method, path, admin_world)
        # A project resource is visible to a viewer, so the refusal is a 403; the admin's own token is a 404.
        expected = 404 if path.startswith("/api/auth/") else 403
        assert response.status_code == expected, (
            f"{method} {path}: {response.status_code} {response.text[:200]}"
        )
    assert _snapshot(db_session) == before
