"""First start: a default project and one local admin whose generated password is shown once."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from backend.auth import projects, service
from backend.auth.dependencies import is_loopback
from backend.auth.models import ProjectMember, User
from backend.db import get_sessionmaker
from backend.settings import Settings, get_settings

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
PASSWORD_FILE = "admin-password.txt"


class UnsafeConfiguration(RuntimeError):
    """A setting that would expose the service; the app refuses to start with it."""


def check_auth_settings(settings: Settings) -> None:
    if settings.auth_disabled and not is_loopback(settings.host):
        raise UnsafeConfiguration(
            f"AUTH_DISABLED=1 is only allowed on a loopback address, not HOST={settings.host!r}: "
            "anyone who can reach the server would be its admin. Unset AUTH_DISABLED, or bind 127.0.0.1."
        )


def ensure_local_admin(settings: Settings) -> str | None:
    """Create the default project and, when no account exists yet, the local admin.

    Returns the generated password (written to data_dir/admin-password.txt, mode 0600), or None
    when accounts already exist. Safe to run from several processes at once.
    """
    sessions = get_sessionmaker()
    try:
        with sessions.begin() as session:
            projects.ensure_default_project(session)
    except IntegrityError:
        pass  # another process made it first
    try:
        with sessions.begin() as session:
            if session.scalar(select(User.id).limit(1)) is not None:
                return None
            password = secrets.token_urlsafe(18)
            admin = service.create_user(
                session, username=ADMIN_USERNAME, password=password, is_superuser=True
            )
            default = projects.ensure_default_project(session)
            session.add(ProjectMember(project_id=default.id, user_id=admin.id, role="admin"))
    except IntegrityError:
        return None  # another process made them first
    write_password_file(settings.data_dir / PASSWORD_FILE, password)
    return password


def write_password_file(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode on O_CREAT
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"username: {ADMIN_USERNAME}\npassword: {password}\n")


def announce(settings: Settings, password: str) -> None:
    # Printed, not logged: it is meant for the person who started the server, once.
    print(
        "\n"
        "  Apprentice created the local admin account.\n"
        f"    username: {ADMIN_USERNAME}\n"
        f"    password: {password}\n"
        f"  (also in {settings.data_dir / PASSWORD_FILE}, readable by you only;\n"
        "   change it after logging in, then delete that file)\n",
        file=sys.stderr,
        flush=True,
    )


@asynccontextmanager
async def auth_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    check_auth_settings(settings)
    try:
        password = ensure_local_admin(settings)
    except SQLAlchemyError as exc:  # not migrated yet, or the database is down: serve 503s, retry next start
        log.warning("could not check for a local admin account: %s", type(exc).__name__)
    else:
        if password is not None:
            announce(settings, password)
    yield
