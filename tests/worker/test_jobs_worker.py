"""Training jobs run by a real Celery worker process on the `tiny` model."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.settings import get_settings
from tests.backend.factories import make_skill_with_version
from tests.worker.conftest import WorkerProcess
from worker.sdft.checkpoints import verify_checkpoint
from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE, PAPER_TEACHER_TEMPLATE

FAST = {"steps": 2, "batch_size": 2, "max_new_tokens": 8, "trace_every": 1, "trace_samples": 1}
TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for(
    client: TestClient, job_id: int, worker: WorkerProcess, predicate: Any, timeout: float = 420
) -> dict:
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if predicate(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} stuck in {job.get('state')}: {job.get('error')}\n{worker.log()}")


def submit(client: TestClient, track_id: int, skill_id: int, version_id: int, **extra: Any) -> dict:
    body = {
        "skill_id": skill_id,
        "dataset_version_id": version_id,
        "evaluate": False,
        "config": FAST,
        **extra,
    }
    response = client.post(f"/api/tracks/{track_id}/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def test_skills_run_in_order_each_from_the_head_and_rollback_branches(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    skill_a, version_a = make_skill_with_version(db_session, "a")
    skill_b, version_b = make_skill_with_version(db_session, "b")
    skill_b.teacher_template = PAPER_TEACHER_TEMPLATE  # as migration 0007 left skills made before it
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    root_id = track["head_checkpoint_id"]

    first = submit(client, track["id"], skill_a.id, version_a.id)
    second = submit(client, track["id"], skill_b.id, version_b.id, method="sft")
    second = wait_for(client, second["id"], worker, lambda j: j["state"] in TERMINAL)
    first = client.get(f"/api/jobs/{first['id']}").json()
    assert first["state"] == second["state"] == "succeeded", (first["error"], second["error"])
    assert first["start_checkpoint_id"] == root_id
    assert second["start_checkpoint_id"] == first["result_checkpoint_id"]
    assert second["started_at"] >= first["finished_at"]
    assert [s["step"] for s in first["steps"]] == [1, 2]
    assert {"loss", "divergence", "teacher_logprob", "student_logprob"} <= set(first["steps"][0]["metrics"])

    detail = client.get(f"/api/tracks/{track['id']}").json()
    assert detail["head_checkpoint_id"] == second["result_checkpoint_id"]
    parents = {c["id"]: c["parent_id"] for c in detail["checkpoints"]}
    assert parents[second["result_checkpoint_id"]] == first["result_checkpoint_id"]

    # Per-token traces were stored with both models' log-probs and top-5 alternatives.
    page = client.get(f"/api/jobs/{first['id']}/rollouts").json()
    assert page["total"] >= 1
    token = page["items"][0]["trace"]["tokens"][0]
    assert {"student_logprob", "teacher_logprob", "divergence", "student_top", "teacher_top"} <= set(token)

    # The checkpoint downloads as a tar of its folder, manifest included.
    download = client.get(f"/api/checkpoints/{first['result_checkpoint_id']}/download")
    assert download.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
        names = tar.getnames()
        manifest_name = next(n for n in names if n.endswith("manifest.json"))
        manifest = json.load(tar.extractfile(manifest_name))  # type: ignore[arg-type]
    assert any(n.endswith(".safetensors") for n in names)
    assert manifest["dataset_version"]["sha256"] == version_a.sha256
    # The memory estimate worked out before the first step travels with the checkpoint.
    memory = manifest["memory_estimate_gib"]
    assert memory["peak"] >= memory["certain"] > memory["weights"] > 0

    # Roll back to the first skill; a third job branches from there.
    rolled = client.post(
        f"/api/tracks/{track['id']}/rollback", json={"checkpoint_id": first["result_checkpoint_id"]}
    )
    assert rolled.status_code == 200
    third = submit(client, track["id"], skill_b.id, version_b.id)
    third = wait_for(client, third["id"], worker, lambda j: j["state"] in TERMINAL)
    assert third["state"] == "succeeded", third["error"]
    assert third["start_checkpoint_id"] == first["result_checkpoint_id"]
    detail = client.get(f"/api/tracks/{track['id']}").json()
    children = [c["id"] for c in detail["checkpoints"] if c["parent_id"] == first["result_checkpoint_id"]]
    assert sorted(children) == sorted([second["result_checkpoint_id"], third["result_checkpoint_id"]])
    assert detail["head_checkpoint_id"] == third["result_checkpoint_id"]

    # Neither SDFT job set skipped tokens: the skill's template decided, and the checkpoint says so.
    def ran_with(job: dict) -> tuple[str, int]:
        config = client.get(f"/api/checkpoints/{job['result_checkpoint_id']}").json()["config"]
        return config["teacher_template"], config["skip_first_tokens"]

    assert ran_with(first) == (DEFAULT_TEACHER_TEMPLATE, 0)
    assert ran_with(third) == (PAPER_TEACHER_TEMPLATE, 3)


def test_cancel_stops_a_running_job_within_a_step_and_keeps_the_head(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    long_job = submit(client, track["id"], skill.id, version.id, config={**FAST, "steps": 500})
    wait_for(client, long_job["id"], worker, lambda j: j["last_step"] >= 1)
    assert client.post(f"/api/jobs/{long_job['id']}/cancel").status_code == 200
    cancelled = wait_for(client, long_job["id"], worker, lambda j: j["state"] in TERMINAL, timeout=60)
    assert cancelled["state"] == "cancelled"
    assert cancelled["last_step"] < 500
    assert cancelled["result_checkpoint_id"] is None
    assert (
        client.get(f"/api/tracks/{track['id']}").json()["head_checkpoint_id"] == track["head_checkpoint_id"]
    )


def test_sse_stream_delivers_state_and_step_events(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    job = submit(client, track["id"], skill.id, version.id, config={**FAST, "steps": 3})
    kinds: list[str] = []
    steps: list[int] = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                kinds.append(event)
            elif line.startswith("data:") and event == "step":
                steps.append(json.loads(line.split(":", 1)[1])["step"])
            if event == "end":
                break
    assert kinds[0] == "state" and kinds[-1] == "end"
    assert steps == [1, 2, 3]


def test_a_worker_killed_mid_job_leaves_no_half_checkpoint_and_the_job_resumes(
    client: TestClient, db_session: Session, worker_factory: Any, db: None
) -> None:
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    config = {**FAST, "steps": 16, "checkpoint_every": 2}
    test_started = time.time()
    job = submit(client, track["id"], skill.id, version.id, config=config)
    first_worker = worker_factory()
    first_worker.start()
    wait_for(client, job["id"], first_worker, lambda j: j["last_step"] >= 5)
    first_worker.kill()
    killed_at = client.get(f"/api/jobs/{job['id']}").json()
    assert killed_at["state"] == "running"  # the row still says running: only the lease can tell

    # No half checkpoint: every sealed folder written during this test verifies; only dot-prefixed
    # temp folders may be partial. (The artifact store is shared by the session's tests.)
    for folder in (get_settings().artifacts_dir / "checkpoints").glob("track-*/*"):
        if not folder.name.startswith(".") and folder.stat().st_mtime >= test_started:
            verify_checkpoint(folder)
    assert (
        client.get(f"/api/tracks/{track['id']}").json()["head_checkpoint_id"] == track["head_checkpoint_id"]
    )

    second_worker = worker_factory()
    second_worker.start()
    done = wait_for(client, job["id"], second_worker, lambda j: j["state"] in TERMINAL)
    assert done["state"] == "succeeded", done["error"]
    assert done["attempt"] == 2
    resumed_steps = [s["step"] for s in done["steps"] if s["attempt"] == 2]
    assert resumed_steps and resumed_steps[0] > 1, "the second attempt resumed from a step checkpoint"
    assert [s["step"] for s in done["steps"]] == list(range(1, 17))
    assert (
        client.get(f"/api/tracks/{track['id']}").json()["head_checkpoint_id"] == done["result_checkpoint_id"]
    )


def test_two_skills_with_evaluation_fill_the_regression_matrix(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    skill_a, version_a = make_skill_with_version(db_session, "a")
    skill_b, version_b = make_skill_with_version(db_session, "b")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    evaluation = {"max_new_tokens": 4, "general_probe_items": 8}
    jobs = [
        submit(client, track["id"], skill.id, version.id, evaluate=True, evaluation=evaluation)
        for skill, version in ((skill_a, version_a), (skill_b, version_b))
    ]
    wait_for(client, jobs[1]["id"], worker, lambda j: j["state"] in TERMINAL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        evaluations = (
            client.get("/api/jobs", params={"state": "queued"}).json()
            + client.get("/api/jobs", params={"state": "running"}).json()
        )
        if not evaluations:
            break
        time.sleep(0.5)
    all_jobs = client.get("/api/jobs").json()
    assert [j["state"] for j in all_jobs if j["kind"] == "evaluate"] == ["succeeded", "succeeded"], (
        worker.log()
    )

    matrix = client.get(f"/api/tracks/{track['id']}/regression").json()
    assert [s["id"] for s in matrix["skills"]] == [skill_a.id, skill_b.id]
    assert len(matrix["checkpoints"]) == 3  # the base and one per skill
    filled = [c for c in matrix["cells"] if c["accuracy"] is not None]
    # Each trained checkpoint on each skill of the track (2 x 2), plus the base on both skills.
    assert len(filled) == 6
    for row in matrix["checkpoints"]:
        assert row["general_accuracy"] is not None
        assert row["kl_from_base"] is not None and row["kl_from_base"] >= 0
    head = next(row for row in matrix["checkpoints"] if row["is_head"])
    assert head["average_accuracy"] is not None and head["backward_transfer"] is not None
    sample = client.get(f"/api/evaluations/{filled[0]['evaluation_id']}").json()["samples"][0]
    assert {"prompt", "output", "reference", "correct"} <= set(sample)
