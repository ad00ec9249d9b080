"""Helpers for tests that act as particular users."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.auth import projects, service
from backend.auth.bootstrap import PASSWORD_FILE
from backend.auth.dependencies import CSRF_HEADER
from backend.auth.models import ProjectMember
from backend.db import get_sessionmaker
from backend.settings import get_settings


def admin_password() -> str:
    text = (get_settings().data_dir / PASSWORD_FILE).read_text()
    return text.split("password: ", 1)[1].strip()


def log_in_as_local_admin(client: TestClient) -> None:
    """Log in with the generated password, make an API token, then use only that token."""
    login = client.post("/api/auth/login", json={"username": "admin", "password": admin_password()})
    assert login.status_code == 200, login.text
    created = client.post(
        "/api/auth/tokens", json={"name": "tests"}, headers={CSRF_HEADER: login.json()["csrf_token"]}
    )
    assert created.status_code == 201, created.text
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {created.json()['token']}"


def make_user_client(
    client: TestClient,
    username: str,
    *,
    own_project: str | None = None,
    roles: dict[int, str] | None = None,
) -> int:
    """Create a user (optionally admin of a new project, and with roles in existing projects) and
    authenticate `client` as them with a bearer token; returns the user id."""
    with get_sessionmaker().begin() as session:
        user = service.create_user(session, username=username, password="a long test password")
        if own_project is not None:
            projects.create_project(session, own_project, user)
        for project_id, role in (roles or {}).items():
            session.add(ProjectMember(project_id=project_id, user_id=user.id, role=role))
        _, secret = service.issue_token(session, user, kind="api", name="tests")
        user_id = user.id
    client.headers["Authorization"] = f"Bearer {secret}"
    return user_id


def default_project_id() -> int:
    with get_sessionmaker().begin() as session:
        return projects.ensure_default_project(session).id
