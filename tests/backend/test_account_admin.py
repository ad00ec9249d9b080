"""Account administration and one's own sessions, over HTTP: disable / enable / delete / reset a
password take effect at once; sessions and tokens are listed with when and where they were used."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.auth import service
from backend.auth.dependencies import CSRF_HEADER
from backend.auth.models import AuthToken, User
from backend.db import utcnow
from backend.errors import Conflict
from tests.backend.auth_support import make_user_client

BOB_PASSWORD = "a long test password"


def _browser(
    app_client: TestClient, username: str, password: str, agent: str = "TestBrowser/1"
) -> TestClient:
    browser = TestClient(app_client.app, headers={"User-Agent": agent})
    login = browser.post("/api/auth/login", json={"username": username, "password": password})
    assert login.status_code == 200, login.text
    browser.headers[CSRF_HEADER] = login.json()["csrf_token"]
    return browser


@pytest.fixture()
def bob(client: TestClient) -> tuple[int, TestClient, TestClient]:
    """A plain user with an API token client and a logged-in browser."""
    api = TestClient(client.app)
    user_id = make_user_client(api, "bob", own_project="bobs")
    return user_id, api, _browser(client, "bob", BOB_PASSWORD)


def test_disabling_stops_sessions_and_tokens_at_once_and_enabling_restores_tokens(
    client: TestClient, anon_client: TestClient, bob: tuple[int, TestClient, TestClient]
) -> None:
    user_id, api, browser = bob
    assert api.get("/api/auth/me").status_code == 200 and browser.get("/api/auth/me").status_code == 200
    disabled = client.post(f"/api/users/{user_id}/disable")
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert api.get("/api/skills").status_code == 401
    assert browser.get("/api/skills").status_code == 401
    assert _status(anon_client, "bob", BOB_PASSWORD) == 401
    assert {u["username"]: u["is_active"] for u in client.get("/api/users").json()}["bob"] is False

    enabled = client.post(f"/api/users/{user_id}/enable")
    assert enabled.status_code == 200 and enabled.json()["is_active"] is True
    assert api.get("/api/skills").status_code == 200  # API tokens work again...
    assert browser.get("/api/skills").status_code == 401  # ...browser sessions stay ended
    assert _status(anon_client, "bob", BOB_PASSWORD) == 200


def test_admin_resets_a_password_and_that_users_sessions_end(
    client: TestClient, anon_client: TestClient, bob: tuple[int, TestClient, TestClient]
) -> None:
    user_id, api, browser = bob
    assert client.post(f"/api/users/{user_id}/password", json={"new_password": "short"}).status_code == 422
    reset = client.post(f"/api/users/{user_id}/password", json={"new_password": "a brand new password"})
    assert reset.status_code == 204
    assert browser.get("/api/auth/me").status_code == 401
    assert _status(anon_client, "bob", BOB_PASSWORD) == 401
    assert _status(anon_client, "bob", "a brand new password") == 200
    assert (
        client.post("/api/users/999999/password", json={"new_password": "a brand new password"}).status_code
        == 404
    )


def test_delete_removes_the_account_and_refuses_oneself(
    client: TestClient, db_session: Session, bob: tuple[int, TestClient, TestClient]
) -> None:
    user_id, api, browser = bob
    admin_id = next(u["id"] for u in client.get("/api/users").json() if u["username"] == "admin")
    for refused in (client.delete(f"/api/users/{admin_id}"), client.post(f"/api/users/{admin_id}/disable")):
        assert refused.status_code == 409 and "your own account" in refused.json()["detail"]["message"]
    assert client.delete(f"/api/users/{user_id}").status_code == 204
    assert api.get("/api/auth/me").status_code == 401 and browser.get("/api/auth/me").status_code == 401
    assert "bob" not in {u["username"] for u in client.get("/api/users").json()}
    assert db_session.scalars(select(AuthToken).where(AuthToken.user_id == user_id)).all() == []
    assert client.delete(f"/api/users/{user_id}").status_code == 404
    # The bob's project stays (a server admin still manages it).
    assert "bobs" in {p["name"] for p in client.get("/api/projects").json()}


def test_the_last_active_server_admin_cannot_be_disabled_or_deleted(
    client: TestClient, db_session: Session
) -> None:
    admin = db_session.scalar(select(User).where(User.username == "admin"))
    assert admin is not None
    # Whoever asks (here a caller that is not the admin itself), the last admin stays.
    with pytest.raises(Conflict, match="last active server admin"):
        service.delete_user(db_session, 0, admin.id)
    with pytest.raises(Conflict, match="last active server admin"):
        service.set_active(db_session, 0, admin.id, active=False)
    db_session.rollback()
    second = client.post(
        "/api/users", json={"username": "carol", "password": "carols password!", "is_superuser": True}
    )
    assert client.post(f"/api/users/{second.json()['id']}/disable").status_code == 200
    with pytest.raises(Conflict):
        service.set_active(db_session, 0, admin.id, active=False)


def test_a_user_lists_their_sessions_with_agent_and_address_and_revokes_one(
    client: TestClient, bob: tuple[int, TestClient, TestClient]
) -> None:
    _, api, browser = bob
    laptop = _browser(client, "bob", BOB_PASSWORD, agent="Laptop/2")
    listed = browser.get("/api/auth/sessions").json()
    assert {s["user_agent"] for s in listed} == {"TestBrowser/1", "Laptop/2"}
    assert all(s["client_ip"] == "testclient" and s["last_used_at"] and s["created_at"] for s in listed)
    assert [s["user_agent"] for s in listed if s["current"]] == ["TestBrowser/1"]
    other = next(s for s in listed if s["user_agent"] == "Laptop/2")
    # Another user's session is not there to revoke.
    assert client.delete(f"/api/auth/sessions/{other['id']}").status_code == 404
    assert laptop.get("/api/auth/me").status_code == 200
    assert browser.delete(f"/api/auth/sessions/{other['id']}").status_code == 204
    assert laptop.get("/api/auth/me").status_code == 401
    assert [s["user_agent"] for s in browser.get("/api/auth/sessions").json()] == ["TestBrowser/1"]
    # A bearer-token caller has no current session; revoking every session leaves tokens working.
    assert not any(s["current"] for s in api.get("/api/auth/sessions").json())
    current = browser.get("/api/auth/sessions").json()[0]["id"]
    assert browser.delete(f"/api/auth/sessions/{current}").status_code == 204
    assert browser.get("/api/auth/me").status_code == 401 and api.get("/api/auth/me").status_code == 200


def test_token_last_used_is_recorded_at_most_once_a_minute(
    client: TestClient, db_session: Session, bob: tuple[int, TestClient, TestClient]
) -> None:
    _, api, _ = bob
    created = api.post("/api/auth/tokens", json={"name": "ci"}).json()
    assert created["last_used_at"] is None
    user = TestClient(client.app, headers={"Authorization": f"Bearer {created['token']}"})
    assert user.get("/api/skills").status_code == 200
    first = _last_used(api, created["id"])
    assert first is not None
    assert user.get("/api/skills").status_code == 200
    assert _last_used(api, created["id"]) == first  # within the minute: no new write
    db_session.execute(
        update(AuthToken)
        .where(AuthToken.id == created["id"])
        .values(last_used_at=utcnow() - timedelta(minutes=5))
    )
    db_session.commit()
    stale = _last_used(api, created["id"])
    assert user.get("/api/skills").status_code == 200
    assert _last_used(api, created["id"]) > stale  # type: ignore[operator]


def _last_used(api: TestClient, token_id: int) -> str | None:
    return next(t["last_used_at"] for t in api.get("/api/auth/tokens").json() if t["id"] == token_id)


def _status(client: TestClient, username: str, password: str) -> int:
    client.cookies.clear()
    return client.post("/api/auth/login", json={"username": username, "password": password}).status_code
