"""One adapter per skill: jobs start from their skill's adapter (or the base), success activates the new
adapter, a per-skill rollback moves one skill only, and the playground picks adapters per request."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.jobs import lifecycle
from backend.jobs.models import Job
from tests.backend.factories import make_skill_with_version

LORA = {"kind": "lora", "base_model": "tiny"}


def run(client: TestClient, session: Session, track_id: int, skill_id: int, version_id: int, manifest=LORA):
    """Submit through the API, then claim and succeed as a worker would; (start, result) checkpoint ids."""
    response = client.post(
        f"/api/tracks/{track_id}/jobs",
        json={"skill_id": skill_id, "dataset_version_id": version_id, "config": {"lora_rank": 4}},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    claim = lifecycle.claim(session, job_id, worker_id="w", lease_seconds=60)
    assert claim is not None
    checkpoint = lifecycle.succeed(
        session,
        job_id,
        claim.attempt,
        checkpoint_path=f"ck-{job_id}",
        manifest=manifest,
        metrics={},
        summary={},
    )
    assert checkpoint is not None
    session.commit()
    return claim.start_checkpoint_id, checkpoint.id


def test_each_skill_trains_its_own_adapter_and_rolls_back_alone(
    client: TestClient, db_session: Session
) -> None:
    (a, va), (b, vb) = (make_skill_with_version(db_session, name) for name in ("greet", "shout"))
    db_session.commit()
    track = client.post(
        "/api/tracks", json={"name": "adapters", "base_model": "tiny", "adapter_per_skill": True}
    )
    assert track.status_code == 201, track.text
    track_id, root = track.json()["id"], track.json()["head_checkpoint_id"]
    assert track.json()["skill_adapters"] == {}

    refused = client.post(
        f"/api/tracks/{track_id}/jobs", json={"skill_id": a.id, "dataset_version_id": va.id}
    )
    assert refused.status_code == 422 and "lora_rank" in refused.text

    start_a, a1 = run(client, db_session, track_id, a.id, va.id)
    start_b, b1 = run(client, db_session, track_id, b.id, vb.id)
    assert (start_a, start_b) == (root, root)  # b starts from the base, not from the head (a's adapter)
    start_a2, a2 = run(client, db_session, track_id, a.id, va.id)
    assert start_a2 == a1  # a skill's next job continues its own adapter
    assert client.get(f"/api/tracks/{track_id}").json()["skill_adapters"] == {str(a.id): a2, str(b.id): b1}

    listed = client.get(f"/api/tracks/{track_id}/adapters").json()
    assert listed["enabled"] is True
    by_skill = {s["skill_name"]: s for s in listed["skills"]}
    assert [v["checkpoint_id"] for v in by_skill["greet"]["versions"]] == [a2, a1]
    assert by_skill["shout"]["active_checkpoint_id"] == b1

    # Per-skill rollback: greet goes back to its first adapter, shout is untouched.
    rolled = client.put(f"/api/tracks/{track_id}/adapters/{a.id}", json={"checkpoint_id": a1})
    assert rolled.status_code == 200, rolled.text
    assert client.get(f"/api/tracks/{track_id}").json()["skill_adapters"] == {str(a.id): a1, str(b.id): b1}
    assert run(client, db_session, track_id, a.id, va.id)[0] == a1

    wrong = client.put(f"/api/tracks/{track_id}/adapters/{a.id}", json={"checkpoint_id": b1})
    assert wrong.status_code == 422 and "another skill" in wrong.text
    off = client.put(f"/api/tracks/{track_id}/adapters/{b.id}", json={"checkpoint_id": None})
    assert [s["active_checkpoint_id"] for s in off.json()["skills"] if s["skill_id"] == b.id] == [None]
    assert str(b.id) not in client.get(f"/api/tracks/{track_id}").json()["skill_adapters"]


def test_the_playground_answers_with_the_chosen_adapters(client: TestClient, db_session: Session) -> None:
    (a, va), (b, vb) = (make_skill_with_version(db_session, name) for name in ("greet", "shout"))
    db_session.commit()
    track_id = client.post(
        "/api/tracks", json={"name": "t", "base_model": "tiny", "adapter_per_skill": True}
    ).json()["id"]
    _, a1 = run(client, db_session, track_id, a.id, va.id)
    _, a2 = run(client, db_session, track_id, a.id, va.id)
    _, b1 = run(client, db_session, track_id, b.id, vb.id)
    messages = [{"role": "user", "content": "Hi"}]

    queued = client.post(
        f"/api/tracks/{track_id}/generate", json={"messages": messages, "adapters": [a1, b1]}
    )
    assert queued.status_code == 202, queued.text
    job = db_session.get(Job, queued.json()["id"])
    assert job is not None and job.kind == "generate" and job.config["adapters"] == [a1, b1]
    base_only = client.post(f"/api/tracks/{track_id}/generate", json={"messages": messages})
    assert base_only.status_code == 202

    same_skill = client.post(
        f"/api/tracks/{track_id}/generate", json={"messages": messages, "adapters": [a1, a2]}
    )
    assert same_skill.status_code == 422 and "one adapter per skill" in same_skill.text


def test_a_full_checkpoint_is_no_adapter_and_a_plain_track_has_none(
    client: TestClient, db_session: Session
) -> None:
    skill, version = make_skill_with_version(db_session, "s")
    db_session.commit()
    adapters = client.post(
        "/api/tracks", json={"name": "a", "base_model": "tiny", "adapter_per_skill": True}
    ).json()
    _, full = run(client, db_session, adapters["id"], skill.id, version.id, manifest={"kind": "full"})
    refused = client.put(f"/api/tracks/{adapters['id']}/adapters/{skill.id}", json={"checkpoint_id": full})
    assert refused.status_code == 422 and "not a LoRA adapter" in refused.text

    plain = client.post("/api/tracks", json={"name": "p", "base_model": "tiny"}).json()
    assert plain["skill_adapters"] is None
    _, first = run(client, db_session, plain["id"], skill.id, version.id)
    assert run(client, db_session, plain["id"], skill.id, version.id)[0] == first  # stacks on the head
    listed = client.get(f"/api/tracks/{plain['id']}/adapters").json()
    assert listed["enabled"] is False and listed["skills"][0]["active_checkpoint_id"] is None
    assert (
        client.put(
            f"/api/tracks/{plain['id']}/adapters/{skill.id}", json={"checkpoint_id": first}
        ).status_code
        == 422
    )


def test_an_adapter_is_evaluated_with_the_other_skills_active_adapters(
    client: TestClient, db_session: Session
) -> None:
    (a, va), (b, vb) = (make_skill_with_version(db_session, name) for name in ("greet", "shout"))
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny", "adapter_per_skill": True})
    track_id, root = track.json()["id"], track.json()["head_checkpoint_id"]
    _, a1 = run(client, db_session, track_id, a.id, va.id)
    _, b1 = run(client, db_session, track_id, b.id, vb.id)
    _, a2 = run(client, db_session, track_id, a.id, va.id)

    def measured(checkpoint_id: int) -> list[int] | None:
        job = client.post(f"/api/checkpoints/{checkpoint_id}/evaluate", json={"general_probe": False})
        assert job.status_code == 202, job.text
        return job.json()["config"].get("adapters")

    # An adapter with the other skills' active adapters: what the playground serves once it is active.
    assert measured(a1) == [a1, b1]  # an older greet adapter replaces the active a2, shout stays on
    assert measured(b1) == [b1, a2]
    assert measured(root) is None  # the base model alone
    client.put(f"/api/tracks/{track_id}/adapters/{b.id}", json={"checkpoint_id": None})
    assert measured(a2) == [a2]  # shout is off

    plain = client.post("/api/tracks", json={"name": "p", "base_model": "tiny"}).json()
    _, full = run(client, db_session, plain["id"], a.id, va.id)
    assert measured(full) is None  # a track of one stacked model measures the checkpoint alone
