"""Retention-gated promotion on a track of one adapter per skill, on synthetic evaluation results: a new
adapter is activated for its skill only once its evaluation keeps the budget; a held one leaves the
previous adapter on (recorded), and activating it anyway is a recorded, forced promotion."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.jobs import lifecycle
from backend.jobs.models import Job
from backend.tracks.models import Track
from tests.backend.factories import make_skill_with_version
from tests.backend.test_retention_gate import BUDGET, World, evaluate

LORA = {"kind": "lora", "base_model": "tiny"}


def make_adapter_world(client: TestClient, session: Session) -> World:
    skills = [make_skill_with_version(session, name) for name in ("greet", "shout")]
    session.commit()
    track = client.post("/api/tracks", json={"name": "a", "base_model": "tiny", "adapter_per_skill": True})
    assert track.status_code == 201, track.text
    response = client.put(f"/api/tracks/{track.json()['id']}/retention-budget", json=BUDGET)
    assert response.status_code == 200, response.text
    row = session.get(Track, track.json()["id"])
    assert row is not None
    return World(row, track.json()["head_checkpoint_id"], skills)


def evaluated_world(client: TestClient, session: Session) -> tuple[World, str, str]:
    """The world with its base model evaluated (both skills at 0.10, general probe 0.50); the skills' keys."""
    world = make_adapter_world(client, session)
    evaluate(session, world, world.root_id, {0: 0.10, 1: 0.10}, general=0.50)
    greet, shout = (str(skill.id) for skill, _ in world.skills)
    return world, greet, shout


def train(client: TestClient, session: Session, world: World, skill_index: int) -> tuple[Job, Checkpoint]:
    """Submit through the API, then claim and succeed as a worker would."""
    skill, version = world.skills[skill_index]
    response = client.post(
        f"/api/tracks/{world.track.id}/jobs",
        json={"skill_id": skill.id, "dataset_version_id": version.id, "config": {"lora_rank": 4}},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    claim = lifecycle.claim(session, job_id, worker_id="w", lease_seconds=60)
    assert claim is not None, "the job should be claimable"
    checkpoint = lifecycle.succeed(
        session, job_id, claim.attempt, checkpoint_path=f"ck-{job_id}", manifest=LORA, metrics={}, summary={}
    )
    assert checkpoint is not None
    session.commit()
    job = session.get(Job, job_id)
    assert job is not None
    return job, checkpoint


def active(client: TestClient, world: World) -> dict[str, int]:
    return client.get(f"/api/tracks/{world.track.id}").json()["skill_adapters"]


def test_an_adapter_is_activated_only_within_the_budget(client: TestClient, db_session: Session) -> None:
    world, greet, _ = evaluated_world(client, db_session)

    _, first = train(client, db_session, world, 0)
    assert first.promotion == "pending" and active(client, world) == {}  # not on until it is evaluated
    evaluate(db_session, world, first.id, {0: 0.80}, general=0.49)
    db_session.refresh(first)
    assert first.promotion == "promoted" and first.promotion_report["activated"] is True
    assert active(client, world) == {greet: first.id}

    # The skill's next adapter (continuing the first) costs the general probe 10 points: held.
    job, second = train(client, db_session, world, 0)
    assert second.parent_id == first.id
    evaluate(db_session, world, second.id, {0: 0.95}, general=0.40)
    db_session.refresh(second)
    db_session.refresh(job)
    assert second.promotion == "held"
    report = second.promotion_report
    assert report["kept_adapter_id"] == first.id
    assert report["violations"][0]["kind"] == "general"
    assert report["message"].endswith(f"; not activated for its skill (adapter #{first.id} stays active)")
    assert active(client, world) == {greet: first.id}  # the previous adapter stays on
    assert job.summary["promotion"]["state"] == "held"
    listed = client.get(f"/api/tracks/{world.track.id}/adapters").json()["skills"][0]
    assert listed["active_checkpoint_id"] == first.id
    assert [(v["checkpoint_id"], v["promotion"]) for v in listed["versions"]] == [
        (second.id, "held"),
        (first.id, "promoted"),
    ]
    assert "general probe dropped 10.0 points" in listed["versions"][0]["promotion_message"]

    # Activating it needs force, and the override is recorded on the checkpoint and its job.
    path = f"/api/tracks/{world.track.id}/adapters/{greet}"
    refused = client.put(path, json={"checkpoint_id": second.id})
    assert refused.status_code == 409, refused.text
    assert "general probe dropped 10.0 points" in refused.text
    assert active(client, world) == {greet: first.id}
    forced = client.put(path, json={"checkpoint_id": second.id, "force": True})
    assert forced.status_code == 200, forced.text
    assert active(client, world) == {greet: second.id}
    db_session.expire_all()
    second = db_session.get(Checkpoint, second.id)
    assert second is not None and second.promotion == "forced"
    assert second.promotion_report["forced_by"] == "admin" and second.promotion_report["was"] == "held"
    assert db_session.get(Job, job.id).summary["promotion"]["state"] == "forced"  # type: ignore[union-attr]
    # Rolling back to an adapter the gate passed needs no force.
    assert client.put(path, json={"checkpoint_id": first.id}).status_code == 200


def test_forced_promotion_activates_and_a_change_made_while_waiting_wins(
    client: TestClient, db_session: Session
) -> None:
    world, greet, shout = evaluated_world(client, db_session)

    # A pending adapter promoted with force becomes head and its skill's active adapter at once.
    _, shout1 = train(client, db_session, world, 1)
    promoted = client.post(f"/api/checkpoints/{shout1.id}/promote", json={"force": True})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["promotion"] == "forced" and promoted.json()["head_checkpoint_id"] == shout1.id
    assert active(client, world) == {shout: shout1.id}

    _, greet1 = train(client, db_session, world, 0)
    evaluate(db_session, world, greet1.id, {0: 0.80}, general=0.50)
    _, greet2 = train(client, db_session, world, 0)
    # While greet2 waits for its evaluation, the user rolls greet back off: that choice stands.
    assert (
        client.put(f"/api/tracks/{world.track.id}/adapters/{greet}", json={"checkpoint_id": None}).status_code
        == 200
    )
    evaluate(db_session, world, greet2.id, {0: 0.85}, general=0.50)
    db_session.refresh(greet2)
    assert greet2.promotion == "promoted" and greet2.promotion_report["activated"] is False
    assert greet2.promotion_report["message"].endswith(
        "(not activated: its skill's adapter was turned off while it waited)"
    )
    assert active(client, world) == {shout: shout1.id}


def test_an_adapter_that_costs_another_skill_more_than_the_budget_is_held(
    client: TestClient, db_session: Session
) -> None:
    world, greet, shout = evaluated_world(client, db_session)
    _, greet1 = train(client, db_session, world, 0)
    evaluate(db_session, world, greet1.id, {0: 0.80}, general=0.50)
    assert active(client, world) == {greet: greet1.id}

    # Measured beside greet's active adapter, the new shout adapter costs greet 10 points.
    evaluation = client.post(f"/api/checkpoints/{greet1.id}/evaluate", json={}).json()
    assert evaluation["config"]["adapters"] == [greet1.id]
    _, shout1 = train(client, db_session, world, 1)
    evaluate(db_session, world, shout1.id, {0: 0.70, 1: 0.90}, general=0.50)
    db_session.refresh(shout1)
    assert shout1.promotion == "held"
    (breach,) = shout1.promotion_report["violations"]
    assert breach["skill_id"] == world.skills[0][0].id and breach["learned_at"] == greet1.id
    assert breach["message"] == "skill 'greet' dropped 10.0 points (budget 3.0)"
    assert shout1.promotion_report["kept_adapter_id"] is None
    assert shout1.promotion_report["message"].endswith("not activated for its skill (its adapter stays off)")
    assert active(client, world) == {greet: greet1.id}

    # Within the budget (exactly 3 points) the next shout adapter is activated beside greet's.
    _, shout2 = train(client, db_session, world, 1)
    evaluate(db_session, world, shout2.id, {0: 0.77, 1: 0.90}, general=0.50)
    db_session.refresh(shout2)
    assert shout2.promotion == "promoted"
    assert active(client, world) == {greet: greet1.id, shout: shout2.id}
