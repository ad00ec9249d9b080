"""Route a job row to its runner by kind."""

from __future__ import annotations

from backend.db import get_sessionmaker
from backend.jobs.models import Job


def run_any_job(job_id: int) -> None:
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        kind = job.kind if job is not None else None
    if kind == "train":
        from worker.tasks.training import run_training_job

        run_training_job(job_id)
    elif kind == "evaluate":
        from worker.tasks.evaluation import run_evaluation_job

        run_evaluation_job(job_id)
    elif kind == "preflight":
        from worker.tasks.preflight import run_preflight_job

        run_preflight_job(job_id)
    elif kind == "generate":
        from worker.tasks.generation import run_generation_job

        run_generation_job(job_id)
