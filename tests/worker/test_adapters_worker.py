"""One adapter per skill through a real worker: two skills train their own LoRA adapters from the
tiny base, the playground answers with either, both or none of them on, and an evaluation measures an
adapter together with the other skill's active one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.backend.factories import make_skill_with_version
from tests.worker.conftest import WorkerProcess
from tests.worker.test_jobs_worker import FAST, TERMINAL, submit, wait_for


def test_skills_train_separate_adapters_and_the_playground_switches_them(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    (a, va), (b, vb) = (make_skill_with_version(db_session, name) for name in ("a", "b"))
    db_session.commit()
    track = client.post(
        "/api/tracks", json={"name": "t", "base_model": "tiny", "adapter_per_skill": True}
    ).json()
    lora = {**FAST, "lora_rank": 4, "lr": 5e-2}
    first = submit(client, track["id"], a.id, va.id, method="sft", config=lora)
    second = submit(client, track["id"], b.id, vb.id, method="sft", config=lora)
    second = wait_for(client, second["id"], worker, lambda j: j["state"] in TERMINAL)
    first = client.get(f"/api/jobs/{first['id']}").json()
    assert first["state"] == second["state"] == "succeeded", (first["error"], second["error"])
    assert first["start_checkpoint_id"] == second["start_checkpoint_id"] == track["head_checkpoint_id"]
    ck_a, ck_b = first["result_checkpoint_id"], second["result_checkpoint_id"]
    assert client.get(f"/api/checkpoints/{ck_b}").json()["manifest"]["kind"] == "lora"
    assert client.get(f"/api/tracks/{track['id']}").json()["skill_adapters"] == {
        str(a.id): ck_a,
        str(b.id): ck_b,
    }

    outputs = {}
    for label, adapters in {
        "both": [ck_a, ck_b],
        "a": [ck_a],
        "none": [],
        "both again": [ck_b, ck_a],
    }.items():
        body = {
            "messages": [{"role": "user", "content": "Hello?"}],
            "max_new_tokens": 8,
            "adapters": adapters,
        }
        job = client.post(f"/api/tracks/{track['id']}/generate", json=body).json()
        job = wait_for(client, job["id"], worker, lambda j: j["state"] in TERMINAL)
        assert job["state"] == "succeeded", job["error"]
        outputs[label] = job["summary"]["output"]
    # Switched on the warm model without a reload, greedy: the same set answers the same.
    assert outputs["both again"] == outputs["both"]
    assert len({outputs["both"], outputs["a"], outputs["none"]}) > 1

    # The evaluation of b's adapter measures the base with a's active adapter on too.
    evaluation = client.post(
        f"/api/checkpoints/{ck_b}/evaluate", json={"general_probe": False, "max_new_tokens": 4}
    ).json()
    assert evaluation["config"]["adapters"] == [ck_b, ck_a]
    evaluation = wait_for(client, evaluation["id"], worker, lambda j: j["state"] in TERMINAL)
    assert evaluation["state"] == "succeeded", evaluation["error"]
    assert evaluation["summary"]["adapters"] == [ck_b, ck_a]
    results = client.get(f"/api/checkpoints/{ck_b}/evaluations").json()
    assert sorted(r["skill_id"] for r in results) == sorted([a.id, b.id])
