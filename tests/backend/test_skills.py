from fastapi.testclient import TestClient


def test_health_names_database_and_broker(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] in {"sqlite", "postgresql"}
    assert body["broker"] in {"sqla+sqlite", "redis"}


def test_create_list_and_get_skill(client: TestClient) -> None:
    created = client.post("/api/skills", json={"name": "tool use", "description": "ToolAlpaca calls"})
    assert created.status_code == 201
    skill = created.json()
    assert skill["name"] == "tool use"
    assert skill["scorer"] == "exact"
    assert client.get(f"/api/skills/{skill['id']}").json() == skill
    assert [s["id"] for s in client.get("/api/skills").json()] == [skill["id"]]


def test_duplicate_skill_name_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/skills", json={"name": "science"}).status_code == 201
    response = client.post("/api/skills", json={"name": "science"})
    assert response.status_code == 409
    assert response.json()["detail"]["field"] == "name"
    assert len(client.get("/api/skills").json()) == 1


def test_teacher_template_must_name_prompt_and_demonstration(client: TestClient) -> None:
    response = client.post("/api/skills", json={"name": "x", "teacher_template": "{prompt} only"})
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "teacher_template"
    assert "{demonstration}" in response.json()["detail"]["message"]
    assert client.get("/api/skills").json() == []


def test_unknown_skill_is_404(client: TestClient) -> None:
    response = client.get("/api/skills/999")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "not_found"


def test_unknown_api_path_is_404_not_the_frontend(client: TestClient) -> None:
    assert client.get("/api/nothing-here").status_code == 404
