"""The job protocol: claim as compare-and-set, fencing by attempt, leases and the reconciler."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.jobs import lifecycle
from backend.jobs.models import Job, JobEvent
from backend.tracks.models import Track
from backend.tracks.schemas import TrackCreate
from backend.tracks.service import create_track
from tests.backend.factories import make_skill_with_version


def _track_with_jobs(session: Session, n_jobs: int = 2) -> tuple[Track, list[Job]]:
    skill, version = make_skill_with_version(session)
    track = create_track(session, TrackCreate(name="t", base_model="tiny"), skill.project_id)
    jobs = [
        Job(kind="train", track_id=track.id, skill_id=skill.id, dataset_version_id=version.id, position=i + 1)
        for i in range(n_jobs)
    ]
    session.add_all(jobs)
    session.commit()
    return track, jobs


def test_only_the_first_queued_job_of_a_track_can_be_claimed(db_session: Session) -> None:
    track, (first, second) = _track_with_jobs(db_session)
    assert lifecycle.claim(db_session, second.id, worker_id="w", lease_seconds=60) is None
    claim = lifecycle.claim(db_session, first.id, worker_id="w", lease_seconds=60)
    assert claim is not None and claim.attempt == 1
    assert claim.start_checkpoint_id == track.head_checkpoint_id and not claim.fresh_start
    # While the first runs, the second stays blocked; a duplicate delivery of the first is a no-op.
    assert lifecycle.claim(db_session, second.id, worker_id="w2", lease_seconds=60) is None
    assert lifecycle.claim(db_session, first.id, worker_id="w2", lease_seconds=60) is None
    db_session.commit()
    assert db_session.get(Job, first.id).state == "running"  # type: ignore[union-attr]


def test_a_stale_attempt_cannot_write_after_a_new_attempt_claims(db_session: Session) -> None:
    _, (job, _) = _track_with_jobs(db_session)
    old = lifecycle.claim(db_session, job.id, worker_id="old", lease_seconds=1)
    assert old is not None
    db_session.commit()
    later = utcnow() + timedelta(seconds=5)
    requeued = lifecycle.reconcile(db_session, now=later)
    assert [j.id for j in requeued] == [job.id]
    new = lifecycle.claim(db_session, job.id, worker_id="new", lease_seconds=60)
    assert new is not None and new.attempt == old.attempt + 1
    assert (
        lifecycle.heartbeat(db_session, job.id, old.attempt, lease_seconds=60, step=3, metrics={"loss": 1.0})
        == "lost"
    )
    assert (
        lifecycle.succeed(
            db_session, job.id, old.attempt, checkpoint_path=None, manifest={}, metrics={}, summary={}
        )
        is None
    )
    assert not lifecycle.finish(db_session, job.id, old.attempt, state="failed", error="x")
    assert (
        lifecycle.heartbeat(db_session, job.id, new.attempt, lease_seconds=60, step=1, metrics={"loss": 2.0})
        == "ok"
    )
    db_session.commit()
    steps = [e for e in db_session.query(JobEvent).filter_by(job_id=job.id, kind="step")]
    assert [(e.attempt, e.step) for e in steps] == [(new.attempt, 1)]


def test_success_promotes_the_checkpoint_to_head_in_the_same_transaction(db_session: Session) -> None:
    track, (job, _) = _track_with_jobs(db_session)
    claim = lifecycle.claim(db_session, job.id, worker_id="w", lease_seconds=60)
    assert claim is not None
    checkpoint = lifecycle.succeed(
        db_session,
        job.id,
        claim.attempt,
        checkpoint_path="c/1",
        manifest={"files": {}},
        metrics={"loss": 0.5},
        summary={},
    )
    db_session.commit()
    assert checkpoint is not None and checkpoint.parent_id == claim.start_checkpoint_id
    db_session.refresh(track)
    assert track.head_checkpoint_id == checkpoint.id
    assert db_session.get(Job, job.id).result_checkpoint_id == checkpoint.id  # type: ignore[union-attr]


def test_lease_expiry_fails_the_job_after_max_attempts(db_session: Session) -> None:
    _, (job,) = _track_with_jobs(db_session, n_jobs=1)
    job.max_attempts = 2
    db_session.commit()
    now = utcnow()
    for attempt in (1, 2):
        claim = lifecycle.claim(db_session, job.id, worker_id="w", lease_seconds=1)
        assert claim is not None and claim.attempt == attempt
        db_session.commit()
        now += timedelta(seconds=10)
        lifecycle.reconcile(db_session, now=now)
        db_session.commit()
    db_session.refresh(job)
    assert job.state == "failed"
    assert "lease expired" in (job.error or "") and "attempt 2 of 2" in (job.error or "")


def test_reconcile_resends_only_the_head_of_each_idle_queue_and_not_too_often(db_session: Session) -> None:
    _, (first, _) = _track_with_jobs(db_session, n_jobs=2)
    now = utcnow()
    assert [j.id for j in lifecycle.reconcile(db_session, now=now, resend_after_s=60)] == [first.id]
    assert lifecycle.reconcile(db_session, now=now + timedelta(seconds=10), resend_after_s=60) == []
    assert [
        j.id for j in lifecycle.reconcile(db_session, now=now + timedelta(seconds=61), resend_after_s=60)
    ] == [first.id]


def test_non_finite_metrics_are_stored_as_null(db_session: Session) -> None:
    # A NaN loss is a result to show, not a reason to lose the step: PostgreSQL's JSON has no NaN.
    _, (job, _) = _track_with_jobs(db_session)
    claim = lifecycle.claim(db_session, job.id, worker_id="w", lease_seconds=60)
    assert claim is not None
    metrics = {"loss": float("nan"), "grad_norm": float("inf"), "lr": 1e-5, "per_seq": [1.0, float("-inf")]}
    assert (
        lifecycle.heartbeat(db_session, job.id, claim.attempt, lease_seconds=60, step=1, metrics=metrics)
        == "ok"
    )
    db_session.commit()
    db_session.expire_all()
    [event] = db_session.query(JobEvent).filter_by(job_id=job.id, kind="step")
    assert event.data == {"loss": None, "grad_norm": None, "lr": 1e-5, "per_seq": [1.0, None]}
