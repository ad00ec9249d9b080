"""GET /api/tracks/{id}/regression over evaluation rows with known answers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.evaluations.service import record_evaluation
from tests.backend.factories import make_skill_with_version


def test_regression_matrix_and_summary_over_a_two_skill_track(
    client: TestClient, db_session: Session
) -> None:
    skill_a, _ = make_skill_with_version(db_session, "a")
    skill_b, _ = make_skill_with_version(db_session, "b")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    root = track["head_checkpoint_id"]
    first = Checkpoint(track_id=track["id"], parent_id=root, kind="skill", skill_id=skill_a.id, method="sdft")
    db_session.add(first)
    db_session.flush()
    second = Checkpoint(
        track_id=track["id"], parent_id=first.id, kind="skill", skill_id=skill_b.id, method="sdft"
    )
    db_session.add(second)
    db_session.flush()
    results = {
        (root, skill_a.id): 0.2,
        (root, skill_b.id): 0.1,
        (first.id, skill_a.id): 0.8,
        (first.id, skill_b.id): 0.1,
        (second.id, skill_a.id): 0.6,
        (second.id, skill_b.id): 0.9,
    }
    for (checkpoint_id, skill_id), accuracy in results.items():
        record_evaluation(
            db_session,
            checkpoint_id=checkpoint_id,
            skill_id=skill_id,
            job_id=None,
            scorer="exact",
            accuracy=accuracy,
            n=10,
            pass_at_k={},
            kl_from_base=None,
            samples=[],
        )
    for checkpoint_id, accuracy, kl in ((root, 0.5, 0.0), (first.id, 0.5, 0.1), (second.id, 0.4, 0.3)):
        record_evaluation(
            db_session,
            checkpoint_id=checkpoint_id,
            skill_id=None,
            job_id=None,
            scorer="probe",
            accuracy=accuracy,
            n=300,
            pass_at_k={},
            kl_from_base=kl,
            samples=[],
        )
    db_session.commit()

    body = client.get(f"/api/tracks/{track['id']}/regression", params={"retention_tolerance": 0.1}).json()
    assert [s["id"] for s in body["skills"]] == [skill_a.id, skill_b.id]
    rows = {row["checkpoint_id"]: row for row in body["checkpoints"]}
    assert rows[second.id]["is_head"] is False and rows[root]["depth"] == 0
    assert rows[second.id]["average_accuracy"] == pytest.approx(0.75)
    assert rows[second.id]["backward_transfer"] == pytest.approx(-0.2)
    assert rows[second.id]["forgetting"] == pytest.approx(0.2)
    assert rows[second.id]["general_change_from_root"] == pytest.approx(-0.1)
    assert rows[second.id]["kl_from_base"] == pytest.approx(0.3)
    assert [v["skill_id"] for v in rows[second.id]["retention_violations"]] == [skill_a.id]
    cell = next(c for c in body["cells"] if c["checkpoint_id"] == second.id and c["skill_id"] == skill_a.id)
    assert cell["change_since_learned"] == pytest.approx(-0.2) and cell["learned_at"] == first.id
    detail = client.get(f"/api/evaluations/{cell['evaluation_id']}").json()
    assert detail["accuracy"] == pytest.approx(0.6)


def test_regression_of_unknown_track_is_404(client: TestClient) -> None:
    assert client.get("/api/tracks/77/regression").status_code == 404
