"""Login throttling over HTTP: 429 with Retry-After after N failures per username or per address,
reset by a successful login, and held in the database (another app, another engine, sees it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.auth import throttle
from backend.auth.dependencies import SESSION_COOKIE
from backend.auth.models import LoginFailure
from backend.db import make_engine
from backend.main import create_app
from backend.settings import get_settings
from tests.backend.auth_support import admin_password

WINDOW_S = 600


@pytest.fixture()
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "login_max_failures", 3)
    monkeypatch.setattr(settings, "login_max_failures_per_ip", 5)
    monkeypatch.setattr(settings, "login_window_s", WINDOW_S)


def _login(client: TestClient, username: str, password: str) -> int:
    return client.post("/api/auth/login", json={"username": username, "password": password}).status_code


def _age_failures(session: Session, by: timedelta) -> None:
    for row in session.scalars(select(LoginFailure)):
        session.execute(
            update(LoginFailure).where(LoginFailure.id == row.id).values(created_at=row.created_at - by)
        )
    session.commit()


def test_failures_for_one_username_lock_it_out_with_retry_after_in_every_process(
    anon_client: TestClient, db_session: Session, limits: None
) -> None:
    assert [_login(anon_client, "admin", "wrong") for _ in range(3)] == [401, 401, 401]
    locked = anon_client.post("/api/auth/login", json={"username": "Admin", "password": admin_password()})
    assert locked.status_code == 429 and locked.json()["detail"]["code"] == "too_many_attempts"
    retry_after = int(locked.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW_S and locked.json()["detail"]["retry_after_s"] == retry_after
    assert SESSION_COOKIE not in locked.cookies  # even the right password gets nothing while locked
    # Another API process (a new app on its own engine) enforces the same lockout: it lives in the database.
    with TestClient(create_app()) as other_process:
        assert _login(other_process, "admin", admin_password()) == 429
    fresh = make_engine(get_settings().resolved_database_url)
    with Session(fresh) as separate:
        assert throttle.retry_after_s(separate, "admin", "198.51.100.1", get_settings()) is not None
    fresh.dispose()
    # Other usernames from the same address are not locked by this one.
    assert _login(anon_client, "someone", "wrong") == 401
    # Once the failures age out of the window, the right password works again and clears the count.
    _age_failures(db_session, timedelta(seconds=WINDOW_S + 1))
    assert _login(anon_client, "admin", admin_password()) == 200
    db_session.rollback()
    assert db_session.scalars(select(LoginFailure).where(LoginFailure.username == "admin")).all() == []


def test_a_successful_login_resets_the_count(anon_client: TestClient, limits: None) -> None:
    assert [_login(anon_client, "admin", "wrong") for _ in range(2)] == [401, 401]
    assert _login(anon_client, "admin", admin_password()) == 200
    assert [_login(anon_client, "admin", "wrong") for _ in range(3)] == [401, 401, 401]
    assert _login(anon_client, "admin", "wrong") == 429


def test_failures_from_one_address_across_usernames_lock_that_address_only(
    anon_client: TestClient, limits: None
) -> None:
    sprayer = TestClient(anon_client.app, client=("203.0.113.9", 40000))
    assert [_login(sprayer, f"user{i}", "guess") for i in range(5)] == [401] * 5
    refused = sprayer.post("/api/auth/login", json={"username": "admin", "password": admin_password()})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    # The account itself is not locked for everyone else.
    assert _login(anon_client, "admin", admin_password()) == 200


def test_retry_after_counts_from_the_failure_that_completed_the_limit(
    anon_client: TestClient, db_session: Session, limits: None
) -> None:
    assert [_login(anon_client, "admin", "wrong") for _ in range(3)] == [401, 401, 401]
    # The oldest failure is 500 s old: the lockout lifts when it leaves the 600 s window.
    oldest = db_session.scalars(select(LoginFailure).order_by(LoginFailure.id)).first()
    assert oldest is not None
    db_session.execute(
        update(LoginFailure)
        .where(LoginFailure.id == oldest.id)
        .values(created_at=oldest.created_at - timedelta(seconds=500))
    )
    db_session.commit()
    retry_after = int(
        anon_client.post("/api/auth/login", json={"username": "admin", "password": "x"}).headers[
            "retry-after"
        ]
    )
    assert 95 <= retry_after <= 101


def test_wrong_current_passwords_count_too_so_a_stolen_session_cannot_guess_faster(
    client: TestClient, anon_client: TestClient, limits: None
) -> None:
    guess = {"current_password": "a guess", "new_password": "a brand new password"}
    assert [client.post("/api/auth/password", json=guess).status_code for _ in range(3)] == [403, 403, 403]
    right = {"current_password": admin_password(), "new_password": "a brand new password"}
    refused = client.post("/api/auth/password", json=right)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert _login(anon_client, "admin", admin_password()) == 429  # the same count as the login form's
