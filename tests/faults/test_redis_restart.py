"""Redis restarts (losing every message) while a job runs: the worker reconnects, the job finishes
(or is retried once, from its step checkpoint), never two attempts at once, and jobs queued after
the restart still run. Uses a private redis-server, whatever broker the rest of the suite uses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import get_sessionmaker
from backend.jobs.models import JobEvent
from backend.queue import celery_client
from backend.settings import get_settings
from tests.backend.factories import make_skill_with_version
from tests.faults.conftest import PrivateRedis
from tests.worker.conftest import WorkerProcess
from tests.worker.test_jobs_worker import TERMINAL, submit, wait_for

WORKER_ENV = {"JOB_LEASE_SECONDS": "6", "RECONCILE_INTERVAL_S": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture()
def redis_broker(private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    """The API under test (in this process) sends to the private Redis too."""
    monkeypatch.setenv("CELERY_BROKER_URL", private_redis.url)
    get_settings.cache_clear()
    celery_client.cache_clear()
    yield private_redis
    monkeypatch.undo()
    get_settings.cache_clear()
    celery_client.cache_clear()


def test_a_redis_restart_mid_job_loses_no_job_and_runs_none_twice(
    client: TestClient, db_session: Session, redis_broker: PrivateRedis, tmp_path: Path
) -> None:
    worker = WorkerProcess(tmp_path / "worker.log", {**WORKER_ENV, "CELERY_BROKER_URL": redis_broker.url})
    worker.start()
    try:
        skill, version = make_skill_with_version(db_session, "a")
        db_session.commit()
        track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
        config = {"steps": 6, "batch_size": 2, "max_new_tokens": 8, "checkpoint_every": 2}
        job = submit(client, track["id"], skill.id, version.id, config=config)
        wait_for(client, job["id"], worker, lambda j: j["state"] == "running" and j["last_step"] >= 1)
        redis_broker.restart()
        done = wait_for(client, job["id"], worker, lambda j: j["state"] in TERMINAL, timeout=240)
        assert done["state"] == "succeeded", f"{done['error']}\n{worker.log()}"
        assert done["attempt"] <= 2
        assert [s["step"] for s in done["steps"]] == list(range(1, 7))

        # Step events of one attempt never interleave with another's: attempts only go up.
        with get_sessionmaker()() as session:
            attempts = session.scalars(
                select(JobEvent.attempt)
                .where(JobEvent.job_id == job["id"], JobEvent.kind == "step")
                .order_by(JobEvent.id)
            ).all()
        assert list(attempts) == sorted(attempts)

        # The worker is connected again: a job queued now runs.
        started = time.monotonic()
        after = submit(client, track["id"], skill.id, version.id)
        after = wait_for(client, after["id"], worker, lambda j: j["state"] in TERMINAL, timeout=240)
        assert after["state"] == "succeeded", f"{after['error']}\n{worker.log()}"
        assert after["start_checkpoint_id"] == done["result_checkpoint_id"]
        assert time.monotonic() - started < 240
    finally:
        worker.stop()
