"""The database sink keeps each warning's own step: the memory warning is raised before step 1."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db import get_sessionmaker
from backend.jobs import lifecycle
from tests.backend.factories import make_skill_with_version
from tests.worker.test_jobs_worker import submit
from worker.tasks.sink import DatabaseSink


def test_a_warning_raised_before_the_first_step_shows_step_0(client: TestClient, db_session: Session) -> None:
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    job = submit(client, track["id"], skill.id, version.id)
    with get_sessionmaker().begin() as session:
        claim = lifecycle.claim(session, job["id"], worker_id="test:1", lease_seconds=60)
    assert claim is not None
    sink = DatabaseSink(job["id"], claim.attempt, lease_seconds=60)
    sink.on_warning(0, {"monitor": "memory", "message": "This run may run out of memory"})
    sink.on_warning(1, {"monitor": "rollouts_truncated", "message": "cut off"})
    sink.on_step(1, {"loss": 1.0})
    warnings = client.get(f"/api/jobs/{job['id']}").json()["warnings"]
    assert [(w["step"], w["monitor"]) for w in warnings] == [(0, "memory"), (1, "rollouts_truncated")]
