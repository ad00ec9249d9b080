"""Shared fixtures: a real, migrated database per test session.

PostgreSQL when DATABASE_URL is set (CI), SQLite in a temporary folder otherwise. On
PostgreSQL each run gets its own schema, so concurrent runs on one server cannot collide; the
URL carries the search path, so processes the tests start (worker, server) see the same schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

REPO_ROOT = Path(__file__).resolve().parent.parent

# Passwords are argon2id-hashed; the production cost (~0.1-1 s) would dominate a suite that starts
# an app, with its local admin, in every test. Processes the tests start inherit this too.
os.environ.setdefault("ARGON2_TIME_COST", "1")
os.environ.setdefault("ARGON2_MEMORY_KIB", "256")
os.environ.setdefault("ARGON2_PARALLELISM", "1")


def _reset_caches() -> None:
    from backend.db import get_engine, get_sessionmaker
    from backend.queue import celery_client
    from backend.settings import get_settings

    for cached in (get_settings, get_engine, get_sessionmaker, celery_client):
        cached.cache_clear()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("data")
    base_url = os.environ.get("DATABASE_URL", "")
    schema = None
    if base_url.startswith("postgresql"):
        schema = f"test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        separator = "&" if "?" in base_url else "?"
        url = f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"
    else:
        url = f"sqlite:///{data_dir / 'apprentice.db'}"
    previous = {key: os.environ.get(key) for key in ("DATABASE_URL", "DATA_DIR")}
    os.environ["DATABASE_URL"] = url
    os.environ["DATA_DIR"] = str(data_dir)
    _reset_caches()

    from alembic import command
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    yield url

    from backend.db import get_engine

    get_engine().dispose()
    if schema is not None:
        admin = create_engine(base_url)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _reset_caches()


def _truncate_all() -> None:
    from backend.db import get_engine
    from backend.models import Base

    engine = get_engine()
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
            connection.execute(text("PRAGMA foreign_keys=ON"))


@pytest.fixture()
def db(database_url: str) -> Iterator[None]:
    """A migrated, empty database for one test."""
    yield
    _truncate_all()


@pytest.fixture()
def db_session(db: None) -> Iterator[Session]:  # noqa: F821
    from backend.db import get_sessionmaker

    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture()
def client(db: None) -> Iterator[TestClient]:  # noqa: F821
    """The API as the local admin: logged in with the password the first start wrote, then a bearer token."""
    from fastapi.testclient import TestClient

    from backend.main import create_app
    from tests.backend.auth_support import log_in_as_local_admin

    with TestClient(create_app()) as test_client:
        log_in_as_local_admin(test_client)
        yield test_client


@pytest.fixture()
def anon_client(db: None) -> Iterator[TestClient]:  # noqa: F821
    """The API with no credentials at all."""
    from fastapi.testclient import TestClient

    from backend.main import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture()
def other_project_client(client: TestClient) -> Iterator[TestClient]:  # noqa: F821
    """A user who is admin of their own project "elsewhere" and has no role in any other."""
    from fastapi.testclient import TestClient

    from backend.main import create_app
    from tests.backend.auth_support import make_user_client

    with TestClient(create_app()) as test_client:
        make_user_client(test_client, "outsider", own_project="elsewhere")
        yield test_client
