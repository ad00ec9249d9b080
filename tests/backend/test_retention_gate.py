"""Retention-gated promotion on synthetic evaluation results: promoted, held, forced, failed evaluations."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.datasets.models import DatasetVersion
from backend.evaluations.matrix import CheckpointNode, GeneralResult, SkillResult, compute_regression_matrix
from backend.evaluations.service import record_evaluation
from backend.jobs import lifecycle
from backend.jobs.models import Job
from backend.retention.gate import Budget, breaches, describe, skill_tolerance
from backend.skills.models import Skill
from backend.tracks.models import Track
from tests.backend.factories import make_skill_with_version

BUDGET = {"max_skill_drop": 0.03, "max_general_drop": 0.02}


@dataclass
class World:
    track: Track
    root_id: int
    skills: list[tuple[Skill, DatasetVersion]]


def make_world(client: TestClient, session: Session, budget: dict | None = BUDGET) -> World:
    skills = [make_skill_with_version(session, name) for name in ("a", "b", "c")]
    session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    if budget is not None:
        response = client.put(f"/api/tracks/{track['id']}/retention-budget", json=budget)
        assert response.status_code == 200, response.text
    row = session.get(Track, track["id"])
    assert row is not None
    return World(row, track["head_checkpoint_id"], skills)


def queue_training(session: Session, world: World, skill_index: int, *, evaluate: bool = True) -> Job:
    skill, version = world.skills[skill_index]
    position = len(session.scalars(select(Job).where(Job.track_id == world.track.id)).all()) + 1
    job = Job(
        kind="train",
        track_id=world.track.id,
        skill_id=skill.id,
        dataset_version_id=version.id,
        position=position,
        summary={"evaluate": evaluate},
    )
    session.add(job)
    session.commit()
    return job


def finish_training(session: Session, job: Job) -> Checkpoint:
    claim = lifecycle.claim(session, job.id, worker_id="w", lease_seconds=60)
    assert claim is not None, "the job should be claimable"
    checkpoint = lifecycle.succeed(
        session, job.id, claim.attempt, checkpoint_path="ck", manifest={}, metrics={}, summary={}
    )
    assert checkpoint is not None
    session.commit()
    return checkpoint


def evaluate(
    session: Session,
    world: World,
    checkpoint_id: int,
    skills: dict[int, float],
    general: float | None = None,
    *,
    fail: bool = False,
) -> Job:
    """An evaluation job that records the given accuracies (skill index -> accuracy) and ends."""
    job = Job(
        kind="evaluate", track_id=world.track.id, checkpoint_id=checkpoint_id, method="eval", queue="cpu"
    )
    session.add(job)
    session.commit()
    claim = lifecycle.claim(session, job.id, worker_id="w", lease_seconds=60)
    assert claim is not None
    for index, accuracy in skills.items():
        record_evaluation(
            session,
            checkpoint_id=checkpoint_id,
            skill_id=world.skills[index][0].id,
            job_id=job.id,
            scorer="exact",
            accuracy=accuracy,
            n=100,
            pass_at_k={},
            kl_from_base=None,
            samples=[],
        )
    if general is not None:
        record_evaluation(
            session,
            checkpoint_id=checkpoint_id,
            skill_id=None,
            job_id=job.id,
            scorer="general_probe",
            accuracy=general,
            n=100,
            pass_at_k={},
            kl_from_base=0.0,
            samples=[],
        )
    if fail:
        lifecycle.finish(session, job.id, claim.attempt, state="failed", error="RuntimeError: out of memory")
    else:
        lifecycle.succeed(
            session, job.id, claim.attempt, checkpoint_path=None, manifest={}, metrics={}, summary={}
        )
    session.commit()
    return job


def head(session: Session, world: World) -> int | None:
    session.expire_all()
    track = session.get(Track, world.track.id)
    assert track is not None
    return track.head_checkpoint_id


def learn_first_skill(session: Session, world: World) -> Checkpoint:
    """Skill a learned and promoted: a at 0.80 (base 0.10), general probe 0.50 on both."""
    first = finish_training(session, queue_training(session, world, 0))
    evaluate(session, world, world.root_id, {0: 0.10}, general=0.50)
    evaluate(session, world, first.id, {0: 0.80}, general=0.50)
    session.refresh(first)
    assert first.promotion == "promoted" and head(session, world) == first.id
    return first


def test_without_a_budget_the_training_job_promotes_as_before(
    client: TestClient, db_session: Session
) -> None:
    world = make_world(client, db_session, budget=None)
    checkpoint = finish_training(db_session, queue_training(db_session, world, 0))
    assert checkpoint.promotion is None and head(db_session, world) == checkpoint.id
    evaluate(db_session, world, checkpoint.id, {0: 0.0})
    db_session.refresh(checkpoint)
    assert checkpoint.promotion is None


def test_within_budget_the_evaluation_promotes_and_the_queue_waits_for_it(
    client: TestClient, db_session: Session
) -> None:
    world = make_world(client, db_session)
    first_job = queue_training(db_session, world, 0)
    second_job = queue_training(db_session, world, 1)
    first = finish_training(db_session, first_job)
    assert first.promotion == "pending" and head(db_session, world) == world.root_id
    # The next skill must start from the decided head, so it waits for the verdict.
    assert lifecycle.claim(db_session, second_job.id, worker_id="w", lease_seconds=60) is None
    db_session.rollback()

    evaluate(db_session, world, world.root_id, {0: 0.10}, general=0.50)
    evaluate(db_session, world, first.id, {0: 0.80}, general=0.49)
    db_session.refresh(first)
    assert first.promotion == "promoted" and head(db_session, world) == first.id
    assert first.promotion_report is not None and first.promotion_report["violations"] == []
    db_session.refresh(first_job)
    assert first_job.summary["promotion"]["state"] == "promoted"

    # Exactly at the budget is within it: a drops 0.80 -> 0.77, the general probe 0.50 -> 0.48.
    second = finish_training(db_session, second_job)
    assert second.parent_id == first.id
    evaluate(db_session, world, second.id, {0: 0.77, 1: 0.9}, general=0.48)
    db_session.refresh(second)
    assert second.promotion == "promoted" and head(db_session, world) == second.id


def test_breaking_the_budget_holds_the_checkpoint_and_says_which_skill_by_how_much(
    client: TestClient, db_session: Session
) -> None:
    world = make_world(client, db_session)
    first = learn_first_skill(db_session, world)
    second_job = queue_training(db_session, world, 1)
    third_job = queue_training(db_session, world, 2)
    second = finish_training(db_session, second_job)
    evaluate(db_session, world, second.id, {0: 0.75, 1: 0.90}, general=0.47)

    db_session.refresh(second)
    assert second.promotion == "held" and head(db_session, world) == first.id
    report = second.promotion_report
    assert report is not None and report["budget"] == BUDGET
    skill_breach, general_breach = report["violations"]
    assert skill_breach["kind"] == "skill" and skill_breach["skill_id"] == world.skills[0][0].id
    assert skill_breach["change"] == pytest.approx(-0.05) and skill_breach["learned_at"] == first.id
    assert skill_breach["message"] == "skill 'a' dropped 5.0 points (budget 3.0)"
    assert general_breach["kind"] == "general" and general_breach["change"] == pytest.approx(-0.03)
    assert general_breach["message"] == "the general probe dropped 3.0 points (budget 2.0)"

    # The run page's data: the training job's summary and a warning event.
    db_session.refresh(second_job)
    assert second_job.summary["promotion"]["state"] == "held"
    detail = client.get(f"/api/jobs/{second_job.id}").json()
    assert any("skill 'a' dropped 5.0 points" in w["message"] for w in detail["warnings"])
    assert client.get(f"/api/checkpoints/{second.id}").json()["promotion"] == "held"

    # The queue goes on from the parent.
    claim = lifecycle.claim(db_session, third_job.id, worker_id="w", lease_seconds=60)
    assert claim is not None and claim.start_checkpoint_id == first.id
    db_session.rollback()


def test_force_promotes_a_held_checkpoint_and_the_matrix_records_it(
    client: TestClient, db_session: Session
) -> None:
    world = make_world(client, db_session)
    first = learn_first_skill(db_session, world)
    second_job = queue_training(db_session, world, 1)
    second = finish_training(db_session, second_job)
    evaluate(db_session, world, second.id, {0: 0.60, 1: 0.90}, general=0.50)

    refused = client.post(f"/api/checkpoints/{second.id}/promote", json={})
    assert refused.status_code == 409
    assert refused.json()["detail"]["promotion"] == "held"
    assert refused.json()["detail"]["violations"][0]["change"] == pytest.approx(-0.2)
    assert head(db_session, world) == first.id

    forced = client.post(f"/api/checkpoints/{second.id}/promote", json={"force": True})
    assert forced.status_code == 200, forced.text
    body = forced.json()
    assert body["head_checkpoint_id"] == second.id and body["promotion"] == "forced"
    assert body["promotion_report"]["forced_by"] == "admin" and body["promotion_report"]["was"] == "held"
    assert body["promotion_report"]["violations"][0]["skill_id"] == world.skills[0][0].id
    db_session.refresh(second_job)
    assert second_job.summary["promotion"]["state"] == "forced"

    matrix = client.get(f"/api/tracks/{world.track.id}/regression").json()
    rows = {row["checkpoint_id"]: row for row in matrix["checkpoints"]}
    assert rows[second.id]["promotion"] == "forced" and rows[second.id]["is_head"]
    assert rows[first.id]["promotion"] == "promoted" and rows[world.root_id]["promotion"] is None
    # The track's budget is the matrix's default tolerance.
    violation = rows[second.id]["retention_violations"][0]
    assert violation["skill_id"] == world.skills[0][0].id and violation["change"] == pytest.approx(-0.2)
    tree = client.get(f"/api/tracks/{world.track.id}").json()
    assert tree["retention_budget"] == BUDGET
    assert {c["id"]: c["promotion"] for c in tree["checkpoints"]}[second.id] == "forced"

    # Promoting an ungated checkpoint is a plain move of the head.
    back = client.post(f"/api/checkpoints/{first.id}/promote", json={})
    assert back.status_code == 200 and back.json()["head_checkpoint_id"] == first.id


def test_forcing_a_pending_checkpoint_wins_over_its_late_evaluation(
    client: TestClient, db_session: Session
) -> None:
    world = make_world(client, db_session)
    first = learn_first_skill(db_session, world)
    second = finish_training(db_session, queue_training(db_session, world, 1))
    assert client.post(f"/api/checkpoints/{second.id}/promote", json={}).status_code == 409
    forced = client.post(f"/api/checkpoints/{second.id}/promote", json={"force": True}).json()
    assert forced["promotion"] == "forced" and forced["promotion_report"]["was"] == "pending"
    evaluate(db_session, world, second.id, {0: 0.10, 1: 0.90}, general=0.50)  # would have been held
    db_session.refresh(second)
    assert second.promotion == "forced" and head(db_session, world) == second.id
    assert first.id != second.id


def test_a_failed_evaluation_holds_the_checkpoint(client: TestClient, db_session: Session) -> None:
    world = make_world(client, db_session)
    first = learn_first_skill(db_session, world)
    second = finish_training(db_session, queue_training(db_session, world, 1))
    evaluate(db_session, world, second.id, {}, fail=True)
    db_session.refresh(second)
    assert second.promotion == "held" and head(db_session, world) == first.id
    assert second.promotion_report is not None
    assert "out of memory" in second.promotion_report["message"]


def test_a_rollback_while_pending_is_respected(client: TestClient, db_session: Session) -> None:
    world = make_world(client, db_session)
    first = learn_first_skill(db_session, world)
    second = finish_training(db_session, queue_training(db_session, world, 1))
    rolled = client.post(f"/api/tracks/{world.track.id}/rollback", json={"checkpoint_id": world.root_id})
    assert rolled.status_code == 200
    evaluate(db_session, world, second.id, {0: 0.80, 1: 0.90}, general=0.50)
    db_session.refresh(second)
    assert second.promotion == "promoted" and head(db_session, world) == world.root_id
    assert second.promotion_report is not None and second.promotion_report["head_moved_meanwhile"]
    assert first.id != world.root_id


def test_a_job_queued_without_evaluation_skips_the_gate(client: TestClient, db_session: Session) -> None:
    world = make_world(client, db_session)
    checkpoint = finish_training(db_session, queue_training(db_session, world, 0, evaluate=False))
    assert checkpoint.promotion is None and head(db_session, world) == checkpoint.id


def test_budget_api(client: TestClient, db_session: Session) -> None:
    world = make_world(client, db_session, budget=None)
    url = f"/api/tracks/{world.track.id}/retention-budget"
    assert client.get(url).json() == {"track_id": world.track.id, "budget": None}
    assert client.put(url, json={"max_skill_drop": 1.5}).status_code == 422
    assert client.put(url, json={"max_skill_drop": 0.05, "other": 1}).status_code == 422
    set_one = client.put(url, json={"max_skill_drop": 0.05}).json()
    assert set_one["budget"] == {"max_skill_drop": 0.05, "max_general_drop": None}
    assert client.get(url).json()["budget"]["max_skill_drop"] == 0.05
    assert client.put(url, json={}).json()["budget"] is None
    assert client.get("/api/tracks/999999/retention-budget").status_code == 404


def test_gate_thresholds_on_a_computed_matrix() -> None:
    nodes = [CheckpointNode(1, None), CheckpointNode(2, 1, 10), CheckpointNode(3, 2, 20)]
    results = [SkillResult(2, 10, 0.80), SkillResult(3, 10, 0.77), SkillResult(3, 20, 0.5)]
    general = [GeneralResult(1, 0.50), GeneralResult(3, 0.48)]
    budget = Budget(max_skill_drop=0.03, max_general_drop=0.02)
    summary = compute_regression_matrix(
        nodes, results, general, retention_tolerance=skill_tolerance(budget)
    ).summary(3)
    assert breaches(summary, budget) == []  # 0.80 - 0.77 is 0.030000000000000027 in floating point
    tight = Budget(max_skill_drop=0.01, max_general_drop=0.01)
    summary = compute_regression_matrix(
        nodes, results, general, retention_tolerance=skill_tolerance(tight)
    ).summary(3)
    found = breaches(summary, tight)
    assert [(b.kind, b.skill_id) for b in found] == [("skill", 10), ("general", None)]
    assert describe(found[0], {10: "tools"}) == "skill 'tools' dropped 3.0 points (budget 1.0)"
    assert breaches(summary, Budget()) == []


def test_cancelling_the_queued_evaluation_holds_the_checkpoint(
    client: TestClient, db_session: Session
) -> None:
    world = make_world(client, db_session)
    first = learn_first_skill(db_session, world)
    second = finish_training(db_session, queue_training(db_session, world, 1))
    job = Job(kind="evaluate", track_id=world.track.id, checkpoint_id=second.id, method="eval", queue="cpu")
    db_session.add(job)
    db_session.commit()
    assert client.post(f"/api/jobs/{job.id}/cancel").status_code == 200
    db_session.refresh(second)
    assert second.promotion == "held" and head(db_session, world) == first.id
    assert second.promotion_report is not None and "cancelled" in second.promotion_report["message"]
