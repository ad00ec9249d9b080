"""Failure-mode monitors in a real worker: warnings reach the run page, monitor_stop fails the job with the reason."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.backend.factories import make_skill_with_version
from tests.worker.conftest import WorkerProcess
from tests.worker.test_jobs_worker import FAST, TERMINAL, submit, wait_for


def test_a_monitor_with_stop_fails_the_job_with_its_reason(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    # Any movement of the EMA teacher breaks this bound on the first step (the tiny model's cut-off
    # rollouts would warn first: that monitor is off here).
    config = {
        **FAST,
        "steps": 3,
        "monitor_teacher_drift": 1e-9,
        "monitor_truncation": 1,
        "monitor_stop": True,
    }
    job = submit(client, track["id"], skill.id, version.id, config=config)
    job = wait_for(client, job["id"], worker, lambda j: j["state"] in TERMINAL)
    assert job["state"] == "failed"
    assert "MonitorStop" in job["error"] and "teacher_drift" in job["error"]
    assert job["last_step"] == 1 and [s["step"] for s in job["steps"]] == [1]
    assert job["steps"][0]["metrics"]["teacher_drift"] > 0
    [warning] = job["warnings"]
    assert warning["step"] == 1 and warning["monitor"] == "teacher_drift" and warning["stop"] is True
    assert "moved" in warning["message"]
    assert job["result_checkpoint_id"] is None
    assert (
        client.get(f"/api/tracks/{track['id']}").json()["head_checkpoint_id"] == track["head_checkpoint_id"]
    )
