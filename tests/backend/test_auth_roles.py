"""Roles per project: viewer reads, editor changes, admin manages members, remote code and model paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from backend.tracks.models import Track
from tests.backend.auth_support import default_project_id, make_user_client
from tests.backend.datasets_support import jsonl

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "hf_SuperSecretTokenValue1234567890"


def _client_as(app_client: TestClient, username: str, role: str) -> TestClient:
    other = TestClient(app_client.app)
    make_user_client(other, username, roles={default_project_id(): role})
    return other


def _tracks(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(Track)) or 0)


def test_viewer_reads_but_changes_nothing(client: TestClient, db_session: Session) -> None:
    skill = client.post("/api/skills", json={"name": "s"}).json()
    viewer = _client_as(client, "vera", "viewer")
    assert viewer.get(f"/api/skills/{skill['id']}").status_code == 200
    assert [s["id"] for s in viewer.get("/api/skills").json()] == [skill["id"]]
    refused = viewer.post("/api/skills", json={"name": "mine"})
    assert refused.status_code == 403 and refused.json()["detail"]["needed_role"] == "editor"
    upload = viewer.post(
        f"/api/skills/{skill['id']}/datasets", files={"file": ("d", jsonl({"prompt": "q", "response": "a"}))}
    )
    assert upload.status_code == 403
    assert viewer.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).status_code == 403
    assert client.get(f"/api/skills/{skill['id']}/datasets").json() == []
    assert _tracks(db_session) == 0


def test_editor_creates_but_only_an_admin_trusts_remote_code_or_loads_a_local_path(
    client: TestClient, db_session: Session, tmp_path: Path
) -> None:
    editor = _client_as(client, "ed", "editor")
    assert editor.post("/api/skills", json={"name": "s"}).status_code == 201
    assert editor.post("/api/tracks", json={"name": "hub", "base_model": "org/model"}).status_code == 201
    remote = editor.post(
        "/api/tracks", json={"name": "rc", "base_model": "org/model", "trust_remote_code": True}
    )
    assert remote.status_code == 403 and remote.json()["detail"]["needed_role"] == "admin"
    folder = editor.post("/api/tracks", json={"name": "local", "base_model": str(tmp_path)})
    assert folder.status_code == 403
    assert _tracks(db_session) == 1
    allowed = client.post(
        "/api/tracks", json={"name": "rc", "base_model": "org/model", "trust_remote_code": True}
    )
    assert allowed.status_code == 201 and allowed.json()["trust_remote_code"] is True


def test_a_model_path_outside_the_allowed_roots_is_refused_even_for_an_admin(
    client: TestClient, db_session: Session
) -> None:
    for name in ("/etc", "../../etc/passwd", "~/.ssh", "/tmp/../etc", "./models/../../etc"):
        response = client.post("/api/tracks", json={"name": "t", "base_model": name})
        assert response.status_code == 422, name
        assert response.json()["detail"]["field"] == "base_model"
    assert _tracks(db_session) == 0


def test_members_are_managed_by_project_admins_and_the_last_admin_stays(client: TestClient) -> None:
    project = client.post("/api/projects", json={"name": "team"}).json()
    assert project["role"] == "admin"
    pid = project["id"]
    editor = TestClient(client.app)
    editor_id = make_user_client(editor, "eddie", roles={pid: "editor"})
    assert (
        editor.post(f"/api/projects/{pid}/members", json={"username": "eddie", "role": "admin"}).status_code
        == 403
    )
    assert (
        client.post(f"/api/projects/{pid}/members", json={"username": "nobody", "role": "viewer"}).status_code
        == 404
    )
    promoted = client.post(f"/api/projects/{pid}/members", json={"username": "Eddie", "role": "admin"})
    assert promoted.json() == {"user_id": editor_id, "username": "eddie", "role": "admin"}
    members = {m["username"]: m["role"] for m in editor.get(f"/api/projects/{pid}/members").json()}
    assert members == {"admin": "admin", "eddie": "admin"}
    # The creator leaves; eddie is then the last admin and cannot step down or be removed.
    admin_id = next(
        m["user_id"] for m in client.get(f"/api/projects/{pid}/members").json() if m["username"] == "admin"
    )
    assert editor.delete(f"/api/projects/{pid}/members/{admin_id}").status_code == 204
    last = editor.post(f"/api/projects/{pid}/members", json={"username": "eddie", "role": "viewer"})
    assert last.status_code == 409 and last.json()["detail"]["code"] == "last_admin"
    assert editor.delete(f"/api/projects/{pid}/members/{editor_id}").status_code == 409
    assert [p["name"] for p in editor.get("/api/projects").json()] == ["team"]


def test_a_skill_of_another_project_cannot_be_trained_on_this_track(
    client: TestClient, other_project_client: TestClient
) -> None:
    skill = client.post("/api/skills", json={"name": "s"}).json()
    track = other_project_client.post("/api/tracks", json={"name": "mine", "base_model": "tiny"}).json()
    body = {"skill_id": skill["id"], "dataset_version_id": 1}
    response = other_project_client.post(f"/api/tracks/{track['id']}/jobs", json=body)
    assert response.status_code == 422 and response.json()["detail"]["field"] == "skill_id"


def test_lists_filter_by_project(client: TestClient, other_project_client: TestClient) -> None:
    mine = client.post("/api/skills", json={"name": "shared name"}).json()
    theirs = other_project_client.post(
        "/api/skills", json={"name": "shared name"}
    ).json()  # unique per project
    assert mine["project_id"] != theirs["project_id"]
    assert [s["id"] for s in other_project_client.get("/api/skills").json()] == [theirs["id"]]
    assert {s["id"] for s in client.get("/api/skills").json()} == {mine["id"], theirs["id"]}  # server admin
    only = client.get("/api/skills", params={"project_id": mine["project_id"]}).json()
    assert [s["id"] for s in only] == [mine["id"]]
    assert other_project_client.get("/api/skills", params={"project_id": mine["project_id"]}).json() == []
    refused = other_project_client.post("/api/skills", json={"name": "x", "project_id": mine["project_id"]})
    assert refused.status_code == 404


def test_job_config_cannot_carry_a_token_and_errors_do_not_echo_secrets(client: TestClient) -> None:
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    for config in ({"hf_token": SECRET}, {"token": SECRET}, {"steps": SECRET}):
        response = client.post(
            f"/api/tracks/{track['id']}/jobs", json={"skill_id": 1, "dataset_version_id": 1, "config": config}
        )
        assert response.status_code == 422
        assert SECRET not in response.text
    login = client.post("/api/auth/login", json={"username": "admin", "password": SECRET, "extra": SECRET})
    assert login.status_code == 422 and SECRET not in login.text
    wrong = client.post("/api/auth/login", json={"username": "admin", "password": SECRET})
    assert wrong.status_code == 401 and SECRET not in wrong.text
    health = client.get("/api/health").text
    assert "password" not in health.lower() and "@" not in health


def test_existing_rows_move_to_the_default_project(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "0001")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO skill (name, description, scorer, scorer_config, created_at) "
                "VALUES ('old skill', '', 'exact', '{}', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO track (name, base_model, created_at) VALUES ('old track', 'tiny', CURRENT_TIMESTAMP)"
            )
        )
    command.upgrade(config, "0002")
    with engine.connect() as connection:
        default = connection.execute(text("SELECT id FROM project WHERE name = 'default'")).scalar_one()
        assert connection.execute(text("SELECT project_id FROM skill")).scalar_one() == default
        assert connection.execute(text("SELECT project_id, trust_remote_code FROM track")).one() == (
            default,
            0,
        )
    command.downgrade(config, "0001")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM skill")).scalar_one() == "old skill"
    engine.dispose()


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_admins_change_members(client: TestClient, role: str) -> None:
    member = _client_as(client, f"m{role}", role)
    pid = default_project_id()
    response = member.post(f"/api/projects/{pid}/members", json={"username": f"m{role}", "role": "admin"})
    assert response.status_code == 403
    assert {m["username"]: m["role"] for m in client.get(f"/api/projects/{pid}/members").json()}[
        f"m{role}"
    ] == role
