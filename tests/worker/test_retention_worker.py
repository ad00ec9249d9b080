"""Retention-gated promotion with a real worker: the next skill waits for the previous one's verdict."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.backend.factories import make_skill_with_version
from tests.worker.conftest import WorkerProcess
from tests.worker.test_jobs_worker import TERMINAL, submit, wait_for

EVALUATION = {"max_new_tokens": 4, "general_probe_items": 4}


def test_budgeted_track_promotes_after_evaluation_and_the_queue_follows(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    skill_a, version_a = make_skill_with_version(db_session, "a")
    skill_b, version_b = make_skill_with_version(db_session, "b")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    budget = {"max_skill_drop": 0.03, "max_general_drop": 0.02}
    assert client.put(f"/api/tracks/{track['id']}/retention-budget", json=budget).status_code == 200

    first = submit(client, track["id"], skill_a.id, version_a.id, evaluate=True, evaluation=EVALUATION)
    second = submit(client, track["id"], skill_b.id, version_b.id, evaluate=True, evaluation=EVALUATION)
    second = wait_for(client, second["id"], worker, lambda j: j["state"] in TERMINAL, timeout=300)
    first = client.get(f"/api/jobs/{first['id']}").json()
    assert first["state"] == second["state"] == "succeeded", (first["error"], second["error"])
    # The second skill started from the first's checkpoint, promoted by its evaluation (a random tiny
    # model scores 0 everywhere, so nothing dropped).
    assert first["summary"]["promotion"]["state"] == "promoted"
    assert second["start_checkpoint_id"] == first["result_checkpoint_id"]
    assert second["started_at"] >= first["finished_at"]
    second_checkpoint = second["result_checkpoint_id"]
    checkpoint = wait_for(
        client,
        second["id"],
        worker,
        lambda j: j["summary"].get("promotion", {}).get("state") in ("promoted", "held"),
        timeout=300,
    )
    assert checkpoint["summary"]["promotion"]["state"] == "promoted"
    assert client.get(f"/api/tracks/{track['id']}").json()["head_checkpoint_id"] == second_checkpoint
