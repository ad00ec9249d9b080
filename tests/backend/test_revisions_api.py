"""Revisions: an edited rollout becomes a demonstration in a new dataset version; the old one stays."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.backend.factories import make_skill_with_version


def test_adding_and_removing_rows_makes_the_next_version(client: TestClient, db_session: Session) -> None:
    skill, version = make_skill_with_version(db_session, n_train=3, n_eval=1)
    db_session.commit()
    url = f"/api/datasets/{version.id}/revisions"
    body = {
        "add": [
            {"prompt": "Say hello to person 9.", "demonstration": "Hello, person 9!"},
            {
                "prompt": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Greet Ann."},
                ],
                "demonstration": "Hi Ann!",
                "reference": "Hi Ann!",
                "split": "eval",
            },
        ],
        "remove_indices": [0],
        "source": "job 3, step 20, rollout 1",
    }
    response = client.post(url, json=body)
    assert response.status_code == 201, response.text
    revision = response.json()
    new = revision["version"]
    assert revision["created"] and revision["revised_from"] == version.id
    assert (revision["added"], revision["removed"]) == (2, 1)
    assert new["version"] == 2 and new["skill_id"] == skill.id
    assert (new["n_train"], new["n_eval"]) == (3, 2)
    assert "job 3, step 20" in new["filename"]

    rows = client.get(f"/api/datasets/{new['id']}/examples?limit=10").json()["items"]
    assert [row["demonstration"] for row in rows] == [
        "Hello, person 1!",
        "Hello, person 2!",
        "Hello, person 3!",
        "Hello, person 9!",
        "Hi Ann!",
    ]
    assert rows[2]["split"] == "eval" and rows[4]["prompt"][0] == {"role": "system", "content": "Be brief."}
    # The old version is untouched, and the same revision again is the same version.
    assert client.get(f"/api/datasets/{version.id}").json()["n_examples"] == 4
    again = client.post(url, json=body)
    assert again.status_code == 200 and again.json()["version"]["id"] == new["id"]
    assert not again.json()["created"]


def test_bad_revisions_store_nothing(client: TestClient, db_session: Session) -> None:
    skill, version = make_skill_with_version(db_session, n_train=3, n_eval=1)
    db_session.commit()
    url = f"/api/datasets/{version.id}/revisions"
    assert client.post(url, json={}).status_code == 422
    assert client.post(url, json={"remove_indices": [7]}).json()["detail"]["field"] == "remove_indices"
    assert client.post(url, json={"add": [{"prompt": "p", "demonstration": ""}]}).status_code == 422
    refused = client.post(url, json={"add": [{"prompt": [], "demonstration": "d"}]})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail["code"] == "invalid_dataset" and detail["added_rows_start_at_line"] == 5
    assert detail["errors"][0]["line"] == 5
    assert len(client.get(f"/api/skills/{skill.id}/datasets").json()) == 1
    assert client.post("/api/datasets/999999/revisions", json={"remove_indices": [0]}).status_code == 404


def test_other_projects_cannot_revise(other_project_client: TestClient, db_session: Session) -> None:
    _, version = make_skill_with_version(db_session)
    db_session.commit()
    response = other_project_client.post(
        f"/api/datasets/{version.id}/revisions", json={"remove_indices": [0]}
    )
    assert response.status_code == 404
