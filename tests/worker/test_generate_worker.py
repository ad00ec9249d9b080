"""The playground's generation job: a checkpoint answers a chat through a real worker."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.worker.conftest import WorkerProcess
from tests.worker.test_jobs_worker import TERMINAL, wait_for


def test_a_checkpoint_answers_a_chat_turn(client: TestClient, worker: WorkerProcess) -> None:
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    body = {"messages": [{"role": "user", "content": "Hello?"}], "max_new_tokens": 6}
    response = client.post(f"/api/checkpoints/{track['head_checkpoint_id']}/generate", json=body)
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"], worker, lambda j: j["state"] in TERMINAL)
    assert job["state"] == "succeeded", job["error"]
    assert isinstance(job["summary"]["output"], str)
    assert 1 <= job["summary"]["completion_tokens"] <= 6
    # The same checkpoint again is answered from the warm model, greedy, so identically.
    again = client.post(f"/api/checkpoints/{track['head_checkpoint_id']}/generate", json=body).json()
    again = wait_for(client, again["id"], worker, lambda j: j["state"] in TERMINAL)
    assert again["summary"]["output"] == job["summary"]["output"]


def test_a_chat_must_end_with_the_user(client: TestClient) -> None:
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    body = {"messages": [{"role": "assistant", "content": "Hi"}]}
    assert (
        client.post(f"/api/checkpoints/{track['head_checkpoint_id']}/generate", json=body).status_code == 422
    )
