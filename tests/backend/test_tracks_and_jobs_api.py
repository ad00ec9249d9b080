"""Tracks, the job queue, cancel, reorder and rollback through real HTTP (no worker running)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.jobs.models import Job
from tests.backend.factories import make_skill_with_version


def _setup(client: TestClient, db_session: Session) -> tuple[int, int, int]:
    skill, version = make_skill_with_version(db_session)
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "main", "base_model": "tiny"})
    assert track.status_code == 201, track.text
    return track.json()["id"], skill.id, version.id


def test_track_starts_with_the_base_model_as_head(client: TestClient) -> None:
    body = client.post("/api/tracks", json={"name": "t", "base_model": "smollm2-135m"}).json()
    assert len(body["checkpoints"]) == 1
    root = body["checkpoints"][0]
    assert root["kind"] == "base" and root["parent_id"] is None
    assert body["head_checkpoint_id"] == root["id"]
    assert client.get("/api/tracks").json()[0]["name"] == "t"


def test_unknown_or_escaping_model_names_are_refused(client: TestClient) -> None:
    for name in ("no such model!", "/etc", "../../etc/passwd"):
        response = client.post("/api/tracks", json={"name": "t", "base_model": name})
        assert response.status_code == 422, name
        assert response.json()["detail"]["field"] == "base_model"
    assert client.get("/api/tracks").json() == []


def test_submit_job_queues_in_order(client: TestClient, db_session: Session) -> None:
    track_id, skill_id, version_id = _setup(client, db_session)
    first = client.post(
        f"/api/tracks/{track_id}/jobs", json={"skill_id": skill_id, "dataset_version_id": version_id}
    )
    second = client.post(
        f"/api/tracks/{track_id}/jobs",
        json={
            "skill_id": skill_id,
            "dataset_version_id": version_id,
            "method": "sft",
            "config": {"steps": 3},
        },
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["state"] == "queued"
    assert second.json()["position"] > first.json()["position"]
    assert second.json()["config"] == {"steps": 3, "trace_every": 10}  # traces on by default in the product
    detail = client.get(f"/api/tracks/{track_id}").json()
    assert detail["queued_job_ids"] == [first.json()["id"], second.json()["id"]]


def test_config_errors_are_rejected_at_submission_naming_the_field(
    client: TestClient, db_session: Session
) -> None:
    track_id, skill_id, version_id = _setup(client, db_session)
    cases = {
        "lr": {"lr": -1},
        "teacher": {"teacher": "sometimes"},
        "divergence": {"divergence": "kl"},
        "no_such_option": {"no_such_option": 1},
        "n_rollouts": {"n_rollouts": 0},
    }
    for field, config in cases.items():
        response = client.post(
            f"/api/tracks/{track_id}/jobs",
            json={"skill_id": skill_id, "dataset_version_id": version_id, "config": config},
        )
        assert response.status_code == 422, field
        assert field in str(response.json()["detail"]), field
    response = client.post(
        f"/api/tracks/{track_id}/jobs", json={"skill_id": skill_id, "dataset_version_id": version_id + 99}
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "dataset_version_id"
    assert db_session.scalar(select(func.count()).select_from(Job)) == 0


def test_cancel_a_queued_job_and_reorder_the_queue(client: TestClient, db_session: Session) -> None:
    track_id, skill_id, version_id = _setup(client, db_session)
    ids = [
        client.post(
            f"/api/tracks/{track_id}/jobs", json={"skill_id": skill_id, "dataset_version_id": version_id}
        ).json()["id"]
        for _ in range(3)
    ]
    reordered = client.post(f"/api/tracks/{track_id}/queue", json={"job_ids": [ids[2], ids[0], ids[1]]})
    assert reordered.status_code == 200
    assert client.get(f"/api/tracks/{track_id}").json()["queued_job_ids"] == [ids[2], ids[0], ids[1]]
    bad = client.post(f"/api/tracks/{track_id}/queue", json={"job_ids": [ids[0]]})
    assert bad.status_code == 422
    cancelled = client.post(f"/api/jobs/{ids[0]}/cancel")
    assert cancelled.json()["state"] == "cancelled"
    assert client.post(f"/api/jobs/{ids[0]}/cancel").status_code == 409
    assert client.get(f"/api/tracks/{track_id}").json()["queued_job_ids"] == [ids[2], ids[1]]


def test_rollback_moves_the_head_and_refuses_while_running(client: TestClient, db_session: Session) -> None:
    track_id, skill_id, version_id = _setup(client, db_session)
    root_id = client.get(f"/api/tracks/{track_id}").json()["head_checkpoint_id"]
    child = Checkpoint(track_id=track_id, parent_id=root_id, kind="skill", skill_id=skill_id, path=None)
    db_session.add(child)
    db_session.commit()

    moved = client.post(f"/api/tracks/{track_id}/rollback", json={"checkpoint_id": child.id})
    assert moved.status_code == 200 and moved.json()["head_checkpoint_id"] == child.id
    back = client.post(f"/api/tracks/{track_id}/rollback", json={"checkpoint_id": root_id})
    assert back.json()["head_checkpoint_id"] == root_id
    assert {c["id"] for c in back.json()["checkpoints"]} == {root_id, child.id}  # nothing deleted

    job_id = client.post(
        f"/api/tracks/{track_id}/jobs", json={"skill_id": skill_id, "dataset_version_id": version_id}
    ).json()["id"]
    db_session.get(Job, job_id).state = "running"  # type: ignore[union-attr]
    db_session.commit()
    refused = client.post(f"/api/tracks/{track_id}/rollback", json={"checkpoint_id": child.id})
    assert refused.status_code == 409
    assert client.get(f"/api/tracks/{track_id}").json()["head_checkpoint_id"] == root_id


def test_racing_rollbacks_with_expected_head_exactly_one_wins(
    client: TestClient, db_session: Session
) -> None:
    track_id, skill_id, _ = _setup(client, db_session)
    root_id = client.get(f"/api/tracks/{track_id}").json()["head_checkpoint_id"]
    a = Checkpoint(track_id=track_id, parent_id=root_id, kind="skill", skill_id=skill_id)
    b = Checkpoint(track_id=track_id, parent_id=root_id, kind="skill", skill_id=skill_id)
    db_session.add_all([a, b])
    db_session.commit()
    first = client.post(
        f"/api/tracks/{track_id}/rollback", json={"checkpoint_id": a.id, "expected_head_id": root_id}
    )
    second = client.post(
        f"/api/tracks/{track_id}/rollback", json={"checkpoint_id": b.id, "expected_head_id": root_id}
    )
    assert (first.status_code, second.status_code) == (200, 409)
    assert client.get(f"/api/tracks/{track_id}").json()["head_checkpoint_id"] == a.id


def test_checkpoint_of_another_track_cannot_become_head(client: TestClient, db_session: Session) -> None:
    track_id, _, _ = _setup(client, db_session)
    other = client.post("/api/tracks", json={"name": "other", "base_model": "tiny"}).json()
    response = client.post(
        f"/api/tracks/{track_id}/rollback", json={"checkpoint_id": other["head_checkpoint_id"]}
    )
    assert response.status_code == 404


def test_base_checkpoint_has_nothing_to_download(client: TestClient) -> None:
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    checkpoint = client.get(f"/api/checkpoints/{track['head_checkpoint_id']}").json()
    assert checkpoint["is_head"] is True and checkpoint["kind"] == "base"
    assert client.get(f"/api/checkpoints/{track['head_checkpoint_id']}/download").status_code == 409
