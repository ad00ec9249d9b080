"""Pre-flight jobs run by a real Celery worker process on the `tiny` model."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.backend.factories import make_skill_with_version
from tests.worker.conftest import WorkerProcess

TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for_report(
    client: TestClient, version_id: int, job_id: int, worker: WorkerProcess
) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(f"/api/datasets/{version_id}/preflight").json()
        job = status["job"]
        if job and job["id"] == job_id and job["state"] in TERMINAL:
            return status
        time.sleep(0.3)
    raise AssertionError(f"pre-flight job {job_id} did not finish: {status}\n{worker.log()}")


def test_preflight_checks_a_version_against_a_track_head_and_a_named_model(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    _, version = make_skill_with_version(db_session, "greeting", n_train=4, n_eval=1)
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    url = f"/api/datasets/{version.id}/preflight"

    job = client.post(url, json={"track_id": track["id"], "answer_max_new_tokens": 4}).json()
    status = wait_for_report(client, version.id, job["id"], worker)
    assert status["job"]["state"] == "succeeded", status["job"]["error"]
    report = status["report"]
    assert report["job_id"] == job["id"] and report["model"] == "tiny"
    assert report["checkpoint_id"] == track["head_checkpoint_id"]
    demonstrations = report["demonstrations"]
    assert len(demonstrations) == 4 and [d["rank"] for d in demonstrations] == [1, 2, 3, 4]
    assert {d["line"] for d in demonstrations} == {1, 2, 3, 4}
    gaps = [d["gap"] for d in demonstrations]
    assert gaps == sorted(gaps, reverse=True)
    for row in demonstrations:
        assert abs(row["gap"] - (row["teacher_logprob"] - row["student_logprob"])) < 1e-3
        # The factory's references are the demonstrations; a random tiny model never says them.
        assert row["teacher_answer"] is not None and row["teacher_correct"] is False
    assert report["summary"]["n"] == 4 and report["summary"]["teacher_accuracy"] == 0.0
    assert report["summary"]["scorer"] == "exact"
    assert status["job"]["summary"]["verdict"] == report["summary"]["verdict"]

    second = client.post(
        url, json={"model": "tiny", "teacher_answers": False, "max_prompt_tokens": 16}
    ).json()
    status = wait_for_report(client, version.id, second["id"], worker)
    assert status["job"]["state"] == "succeeded", status["job"]["error"]
    report = status["report"]
    assert report["job_id"] == second["id"] and report["checkpoint_id"] is None
    assert all(row["teacher_answer"] is None for row in report["demonstrations"])
    # Every chat-templated prompt is longer than 16 tokens: each row is one training would refuse.
    assert report["summary"]["flag_counts"]["prompt_too_long"] == 4
