"""Pre-flight API: requests are validated and queued as light jobs; the latest report is served."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.jobs.models import Job
from backend.preflight.service import record_report
from tests.backend.factories import make_skill_with_version

REPORT = {
    "model": "tiny",
    "summary": {
        "n": 2,
        "n_with_signal": 1,
        "mean_gap": 0.7,
        "verdict": "the teacher signal exists on 1 of 2",
    },
    "demonstrations": [{"index": 1, "gap": 1.3, "rank": 1, "flags": []}, {"index": 0, "gap": 0.1, "rank": 2}],
}


def test_a_request_names_exactly_one_model_source(client: TestClient, db_session: Session) -> None:
    _, version = make_skill_with_version(db_session)
    db_session.commit()
    url = f"/api/datasets/{version.id}/preflight"
    for body in ({}, {"model": "tiny", "track_id": 1}):
        response = client.post(url, json=body)
        assert response.status_code == 422, response.text
    assert client.post(url, json={"model": "no such model"}).status_code == 422
    assert client.post(url, json={"model": "tiny", "max_new_tokens": 0}).status_code == 422
    assert client.post("/api/datasets/999999/preflight", json={"model": "tiny"}).status_code == 404
    assert client.post(url, json={"track_id": 999999}).status_code == 404


def test_a_version_without_train_rows_is_refused(client: TestClient, db_session: Session) -> None:
    _, version = make_skill_with_version(db_session, n_train=0, n_eval=2)
    db_session.commit()
    response = client.post(f"/api/datasets/{version.id}/preflight", json={"model": "tiny"})
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "version_id"


def test_queue_reuse_and_latest_report(client: TestClient, db_session: Session) -> None:
    skill, version = make_skill_with_version(db_session)
    db_session.commit()
    url = f"/api/datasets/{version.id}/preflight"
    assert client.get(url).json() == {"dataset_version_id": version.id, "job": None, "report": None}

    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    response = client.post(url, json={"track_id": track["id"], "teacher_answers": False})
    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["kind"], job["queue"], job["state"]) == ("preflight", "cpu", "queued")
    assert job["checkpoint_id"] == track["head_checkpoint_id"] and job["skill_id"] == skill.id
    assert job["config"]["model"] == "tiny" and job["config"]["teacher_answers"] is False
    # The same request while the first waits is the same job; another model is another job.
    assert (
        client.post(url, json={"track_id": track["id"], "teacher_answers": False}).json()["id"] == job["id"]
    )
    other = client.post(url, json={"model": "tiny"}).json()
    assert other["id"] != job["id"] and other["track_id"] is None and other["checkpoint_id"] is None

    # The training queue of the track is not held up by a pre-flight job.
    assert client.get(f"/api/tracks/{track['id']}").json()["queued_job_ids"] == []

    status = client.get(url).json()
    assert status["job"]["id"] == other["id"] and status["report"] is None
    row = db_session.get(Job, job["id"])
    assert row is not None
    record_report(db_session, row, REPORT)
    db_session.commit()
    report = client.get(url).json()["report"]
    assert report["job_id"] == job["id"] and report["checkpoint_id"] == track["head_checkpoint_id"]
    assert report["summary"]["mean_gap"] == 0.7
    assert [d["rank"] for d in report["demonstrations"]] == [1, 2]


def test_access_follows_the_dataset_versions_project(
    client: TestClient, other_project_client: TestClient, db_session: Session
) -> None:
    from backend.main import create_app
    from tests.backend.auth_support import default_project_id, make_user_client

    _, version = make_skill_with_version(db_session)
    db_session.commit()
    url = f"/api/datasets/{version.id}/preflight"
    # Another project's member does not see the version at all.
    assert other_project_client.get(url).status_code == 404
    assert other_project_client.post(url, json={"model": "tiny"}).status_code == 404
    # Nor can the version be checked against a track of another project.
    elsewhere = other_project_client.post("/api/tracks", json={"name": "theirs", "base_model": "tiny"}).json()
    refused = client.post(url, json={"track_id": elsewhere["id"]})
    assert refused.status_code == 422 and refused.json()["detail"]["field"] == "track_id"
    with TestClient(create_app()) as editor:
        make_user_client(editor, "editor", roles={default_project_id(): "editor"})
        assert editor.post(url, json={"model": "tiny"}).status_code == 202
        # A local model folder needs the project's admin, as a track on one does.
        assert editor.post(url, json={"model": "/models/mine"}).status_code == 403
