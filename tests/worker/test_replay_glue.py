"""Which earlier skills a training job replays: those on its starting checkpoint's path, latest version each."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.auth.projects import ensure_default_project
from backend.checkpoints.models import Checkpoint
from backend.tracks.schemas import TrackCreate
from backend.tracks.service import create_track
from tests.backend.factories import make_skill_with_version
from tests.worker.conftest import WorkerProcess
from tests.worker.test_jobs_worker import FAST, TERMINAL, submit, wait_for
from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE
from worker.tasks.replay import earlier_skills, replay_sets


def test_replay_follows_the_checkpoint_path(db_session: Session) -> None:
    skill_a, version_a = make_skill_with_version(db_session, "a", n_train=3, n_eval=1)
    skill_b, version_b = make_skill_with_version(db_session, "b", n_train=2, n_eval=1)
    skill_c, version_c = make_skill_with_version(db_session, "c", n_train=1, n_eval=1)
    skill_a.teacher_template = "{prompt}\nShown: {demonstration}"
    track = create_track(
        db_session, TrackCreate(name="t", base_model="tiny"), ensure_default_project(db_session).id
    )
    root = track.head_checkpoint_id

    def child(parent: int | None, skill_id: int, version_id: int) -> int:
        checkpoint = Checkpoint(
            track_id=track.id, parent_id=parent, skill_id=skill_id, dataset_version_id=version_id
        )
        db_session.add(checkpoint)
        db_session.flush()
        return checkpoint.id

    first = child(root, skill_a.id, version_a.id)
    second = child(first, skill_b.id, version_b.id)
    branch = child(root, skill_c.id, version_c.id)  # a rolled-back branch: not on second's path
    db_session.commit()

    assert earlier_skills(db_session, root) == []
    assert earlier_skills(db_session, second) == [(skill_a.id, version_a.id), (skill_b.id, version_b.id)]
    sets = replay_sets(db_session, second, exclude_skill_id=skill_c.id)
    assert [(s.name, len(s.examples)) for s in sets] == [("a", 3), ("b", 2)]
    assert (
        sets[0].template == "{prompt}\nShown: {demonstration}"
        and sets[1].template == DEFAULT_TEACHER_TEMPLATE
    )
    assert sets[0].examples[0].demonstration == "Hello, person 0!" and sets[0].examples[0].line == 1
    # Training b again from second: b itself is not replayed.
    assert [s.name for s in replay_sets(db_session, second, exclude_skill_id=skill_b.id)] == ["a"]
    assert [s.name for s in replay_sets(db_session, branch, exclude_skill_id=skill_a.id)] == ["c"]


def test_a_worker_replays_the_first_skill_while_training_the_second(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    skill_a, version_a = make_skill_with_version(db_session, "a")
    skill_b, version_b = make_skill_with_version(db_session, "b")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    replaying = {**FAST, "replay_fraction": 0.5}
    first = submit(client, track["id"], skill_a.id, version_a.id, config=replaying)  # nothing earlier yet
    second = submit(client, track["id"], skill_b.id, version_b.id, config=replaying)
    second = wait_for(client, second["id"], worker, lambda j: j["state"] in TERMINAL)
    first = client.get(f"/api/jobs/{first['id']}").json()
    assert first["state"] == second["state"] == "succeeded", (first["error"], second["error"])
    first_manifest = client.get(f"/api/checkpoints/{first['result_checkpoint_id']}").json()["manifest"]
    second_manifest = client.get(f"/api/checkpoints/{second['result_checkpoint_id']}").json()["manifest"]
    assert first_manifest["replay"] == [] and first_manifest["config"]["replay_fraction"] == 0.0
    assert second_manifest["replay"] == [{"skill": "a", "examples": 4}]
    assert second_manifest["config"]["replay_fraction"] == 0.5


def test_a_job_with_general_mix_trains_on_the_builtin_general_prompts(
    client: TestClient, db_session: Session, worker: WorkerProcess
) -> None:
    # The app has no general prompts of its own to send: the engine mixes in its built-in set. Before
    # that, every job with General mix > 0 failed ("no general prompts were given").
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    job = submit(client, track["id"], skill.id, version.id, config={**FAST, "general_mix": 0.5})
    job = wait_for(client, job["id"], worker, lambda j: j["state"] in TERMINAL)
    assert job["state"] == "succeeded", job["error"]
    assert all("general_divergence" in step["metrics"] for step in job["steps"]), job["steps"]
    manifest = client.get(f"/api/checkpoints/{job['result_checkpoint_id']}").json()["manifest"]
    assert manifest["config"]["general_mix"] == 0.5
    # Unset, the tiny model (under 0.3B parameters) mixes in none, and the checkpoint says so.
    auto = submit(client, track["id"], skill.id, version.id)
    auto = wait_for(client, auto["id"], worker, lambda j: j["state"] in TERMINAL)
    assert auto["state"] == "succeeded", auto["error"]
    assert "general_mix" not in auto["config"] and "general_divergence" not in auto["steps"][0]["metrics"]
    manifest = client.get(f"/api/checkpoints/{auto['result_checkpoint_id']}").json()["manifest"]
    assert manifest["config"]["general_mix"] == 0.0
