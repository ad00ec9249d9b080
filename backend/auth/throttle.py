"""Login throttling: too many failed logins for one username, or from one client address, within
a window answer 429 with Retry-After, before any password is checked.

Failures are rows in the database (not process memory), so a lockout holds across API processes
and restarts. A successful login clears that username's failures; failures older than the window
are pruned as new ones arrive.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.auth.models import LoginFailure
from backend.db import utcnow
from backend.errors import DomainError
from backend.settings import Settings

USERNAME_MAX = 64
IP_MAX = 64


def _key(username: str) -> str:
    return username.strip().lower()[:USERNAME_MAX]


def retry_after_s(session: Session, username: str, client_ip: str, settings: Settings) -> int | None:
    """Seconds until this username and address may try again, or None when they may try now."""
    now = utcnow()
    window = timedelta(seconds=settings.login_window_s)
    waits = [
        _wait(session, LoginFailure.username == _key(username), settings.login_max_failures, now, window),
        _wait(
            session,
            LoginFailure.client_ip == client_ip[:IP_MAX],
            settings.login_max_failures_per_ip,
            now,
            window,
        ),
    ]
    longest = max((w for w in waits if w is not None), default=None)
    return None if longest is None else max(1, math.ceil(longest))


def _wait(session: Session, which: object, limit: int, now: datetime, window: timedelta) -> float | None:
    """The lockout lifts when the failure that completed the limit leaves the window."""
    recent = select(LoginFailure.created_at).where(which, LoginFailure.created_at > now - window)  # type: ignore[arg-type]
    count = session.scalar(select(func.count()).select_from(recent.subquery())) or 0
    if count < limit:
        return None
    # The (count - limit + 1)-th oldest failure: once it ages out, count - 1 < limit remain.
    pivot = session.scalar(recent.order_by(LoginFailure.created_at).offset(count - limit).limit(1))
    if pivot is None:
        return None
    return (pivot + window - now).total_seconds()


def refuse_if_throttled(session: Session, username: str, client_ip: str, settings: Settings) -> None:
    wait = retry_after_s(session, username, client_ip, settings)
    if wait is not None:
        raise DomainError(
            429,
            "too_many_attempts",
            f"too many failed logins: try again in {wait} s",
            {"retry_after_s": wait},
            headers={"Retry-After": str(wait)},
        )


def record_failure(session: Session, username: str, client_ip: str, settings: Settings) -> None:
    now = utcnow()
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.created_at <= now - timedelta(seconds=settings.login_window_s)
        )
    )
    session.add(LoginFailure(username=_key(username), client_ip=client_ip[:IP_MAX], created_at=now))
    session.flush()


def clear_failures(session: Session, username: str) -> None:
    """A successful login resets that username's count (and those failures no longer count for its address)."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == _key(username)))
