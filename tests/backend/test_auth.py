"""Accounts: the first start's local admin, login with cookie + CSRF, API tokens, AUTH_DISABLED."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.bootstrap import PASSWORD_FILE, UnsafeConfiguration, check_auth_settings
from backend.auth.dependencies import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from backend.auth.models import AuthToken, User
from backend.main import create_app
from backend.settings import get_settings
from backend.skills.models import Skill
from tests.backend.auth_support import admin_password

REPO_ROOT = Path(__file__).resolve().parents[2]


def _skills(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(Skill)) or 0)


def test_first_start_creates_one_local_admin_and_shows_the_password_once(
    db: None, db_session: Session, capfd: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app()):
        pass
    password_file = get_settings().data_dir / PASSWORD_FILE
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = admin_password()
    assert password in capfd.readouterr().err
    admin = db_session.scalar(select(User))
    assert admin is not None and admin.username == "admin" and admin.is_superuser
    assert password not in admin.password_hash and admin.password_hash.startswith("$argon2id$")
    # A second start finds the account and neither makes another nor prints anything.
    with TestClient(create_app()):
        pass
    assert password not in capfd.readouterr().err
    assert db_session.scalar(select(func.count()).select_from(User)) == 1
    assert admin_password() == password


def test_login_sets_an_httponly_lax_cookie_and_unsafe_requests_need_the_csrf_header(
    anon_client: TestClient, db_session: Session
) -> None:
    wrong = anon_client.post("/api/auth/login", json={"username": "admin", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"]["code"] == "invalid_credentials"
    assert SESSION_COOKIE not in wrong.cookies
    unknown = anon_client.post("/api/auth/login", json={"username": "ghost", "password": "nope"})
    assert unknown.json() == wrong.json()  # which part was wrong is not said

    login = anon_client.post("/api/auth/login", json={"username": "ADMIN", "password": admin_password()})
    assert login.status_code == 200, login.text
    cookies = login.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie and "Path=/" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith(f"{CSRF_COOKIE}="))
    assert "HttpOnly" not in csrf_cookie  # the page reads it to send the header
    me = login.json()
    assert me["auth"] == "session" and me["user"]["username"] == "admin"
    assert [p["name"] for p in me["projects"]] == ["default"] and me["projects"][0]["role"] == "admin"
    csrf = me["csrf_token"]
    assert anon_client.get("/api/auth/me").json()["csrf_token"] == csrf

    refused = anon_client.post("/api/skills", json={"name": "s"})
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "csrf_failed"
    wrong_token = anon_client.post("/api/skills", json={"name": "s"}, headers={CSRF_HEADER: "0" * 64})
    assert wrong_token.status_code == 403
    assert _skills(db_session) == 0
    assert anon_client.post("/api/skills", json={"name": "s"}, headers={CSRF_HEADER: csrf}).status_code == 201
    assert anon_client.get("/api/skills").status_code == 200  # safe methods need no header

    assert anon_client.post("/api/auth/logout").status_code == 403  # logging out is unsafe too
    assert anon_client.post("/api/auth/logout", headers={CSRF_HEADER: csrf}).status_code == 204
    stolen = login.cookies[SESSION_COOKIE]
    anon_client.cookies.set(SESSION_COOKIE, stolen)  # a copied cookie is dead after logout
    assert anon_client.get("/api/auth/me").status_code == 401


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(
    client: TestClient, anon_client: TestClient, db_session: Session
) -> None:
    created = client.post("/api/auth/tokens", json={"name": "ci", "expires_in_days": 30})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("apt_") and len(secret) > 40
    listed = client.get("/api/auth/tokens").json()
    assert {t["name"] for t in listed} == {"ci", "tests"}
    assert secret not in str(listed) and all("token" not in t for t in listed)
    stored = db_session.scalars(select(AuthToken)).all()
    assert all(secret not in (row.token_sha256, row.name) for row in stored)

    anon_client.headers["Authorization"] = f"Bearer {secret}"
    assert anon_client.get("/api/auth/me").json()["auth"] == "token"
    # A bearer token is not a cookie: a page on another site cannot send it, so no CSRF header.
    assert anon_client.post("/api/skills", json={"name": "via token"}).status_code == 201
    assert client.delete(f"/api/auth/tokens/{created.json()['id']}").status_code == 204
    revoked = anon_client.get("/api/auth/me")
    assert revoked.status_code == 401 and revoked.headers["www-authenticate"] == "Bearer"
    assert anon_client.post("/api/skills", json={"name": "after revoke"}).status_code == 401
    assert [s["name"] for s in client.get("/api/skills").json()] == ["via token"]


@pytest.mark.parametrize(
    "authorization", ["Bearer ", "Bearer apt_forged", "Basic YWRtaW46YWRtaW4=", "Bearer " + "x" * 5000]
)
def test_bad_credentials_are_401(anon_client: TestClient, authorization: str) -> None:
    response = anon_client.get("/api/skills", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.json()["detail"]["code"] == "not_authenticated"


def test_changing_the_password_ends_other_sessions(
    client: TestClient, anon_client: TestClient, db_session: Session
) -> None:
    other = TestClient(client.app)
    assert (
        other.post("/api/auth/login", json={"username": "admin", "password": admin_password()}).status_code
        == 200
    )
    short = client.post(
        "/api/auth/password", json={"current_password": admin_password(), "new_password": "short"}
    )
    assert short.status_code == 422
    wrong = client.post(
        "/api/auth/password", json={"current_password": "wrong", "new_password": "a much longer password"}
    )
    assert wrong.status_code == 403
    changed = client.post(
        "/api/auth/password",
        json={"current_password": admin_password(), "new_password": "a much longer password"},
    )
    assert changed.status_code == 204
    assert other.get("/api/auth/me").status_code == 401
    login = anon_client.post(
        "/api/auth/login", json={"username": "admin", "password": "a much longer password"}
    )
    assert login.status_code == 200


def test_only_server_admins_manage_accounts(client: TestClient, other_project_client: TestClient) -> None:
    body = {"username": "Ada", "password": "twelve chars or more"}
    assert other_project_client.post("/api/users", json=body).status_code == 403
    assert other_project_client.get("/api/users").status_code == 403
    created = client.post("/api/users", json=body)
    assert created.status_code == 201 and created.json()["username"] == "ada"
    assert "password" not in str(created.json())
    assert client.post("/api/users", json=body).status_code == 409
    assert {u["username"] for u in client.get("/api/users").json()} == {"admin", "outsider", "ada"}


def test_auth_disabled_refuses_a_non_loopback_host() -> None:
    settings = get_settings().model_copy(update={"auth_disabled": True, "host": "0.0.0.0"})
    with pytest.raises(UnsafeConfiguration, match="loopback"):
        check_auth_settings(settings)
    check_auth_settings(settings.model_copy(update={"host": "127.0.0.1"}))
    check_auth_settings(settings.model_copy(update={"host": "::1"}))


def test_auth_disabled_serves_loopback_callers_as_the_local_admin(
    anon_client: TestClient, monkeypatch: pytest.MonkeyPatch, db_session: Session
) -> None:
    assert anon_client.get("/api/skills").status_code == 401
    monkeypatch.setattr(get_settings(), "auth_disabled", True)
    assert anon_client.get("/api/auth/me").json()["auth"] == "disabled"
    assert anon_client.post("/api/skills", json={"name": "local"}).status_code == 201
    # DNS rebinding (a foreign host name) and a page of another origin get nothing.
    assert anon_client.get("/api/skills", headers={"Host": "evil.example"}).status_code == 401
    cross_site = anon_client.post(
        "/api/skills", json={"name": "csrf"}, headers={"Origin": "http://evil.example"}
    )
    assert cross_site.status_code == 401
    assert _skills(db_session) == 1
    remote = TestClient(anon_client.app, client=("203.0.113.9", 50000))
    assert remote.get("/api/skills").status_code == 401


def test_compose_binds_every_interface_so_auth_disabled_in_env_would_refuse_to_start() -> None:
    # tests/test_compose.py checks that compose never sets AUTH_DISABLED; a .env that did would
    # meet HOST=0.0.0.0 and check_auth_settings would stop the API.
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    host = compose["x-app"]["environment"]["HOST"]
    settings = get_settings().model_copy(update={"auth_disabled": True, "host": host})
    with pytest.raises(UnsafeConfiguration):
        check_auth_settings(settings)
