"""Glue for playground generation jobs: one answer from one checkpoint, the model kept warm between turns."""

from __future__ import annotations

import logging
import time

from backend.checkpoints.models import Checkpoint
from backend.db import get_sessionmaker
from backend.jobs import lifecycle
from backend.jobs.models import Job
from backend.settings import get_settings
from backend.tracks.models import Track
from worker.sdft.adapters import load_adapter_set, set_active
from worker.sdft.evaluate import generate
from worker.sdft.models import LoadedModel
from worker.tasks.training import load_start_model, worker_device, worker_id

log = logging.getLogger(__name__)

# One warm model per worker process: a conversation's next turn skips the load. Training never
# uses this copy (it loads its own and changes it in place).
_warm: dict[int, LoadedModel] = {}
# A track's base with adapters loaded: switching a subset of them on or off needs no reload.
_warm_adapters: dict[tuple[int, frozenset[int]], LoadedModel] = {}


def _model_for(track: Track, checkpoint: Checkpoint) -> LoadedModel:
    if checkpoint.id not in _warm:
        _warm.clear()
        _warm[checkpoint.id] = load_start_model(track, checkpoint)
    return _warm[checkpoint.id]


def adapter_name(checkpoint: Checkpoint) -> str:
    return f"skill-{checkpoint.skill_id}-checkpoint-{checkpoint.id}"


def _model_with_adapters(track: Track, adapters: list[Checkpoint]) -> LoadedModel:
    """The base with at least these adapters loaded (a warm superset is reused), exactly these on."""
    wanted = frozenset(c.id for c in adapters)
    warm = next((key for key in _warm_adapters if key[0] == track.id and wanted <= key[1]), None)
    if warm is None:
        _warm_adapters.clear()
        settings = get_settings()
        warm = (track.id, wanted)
        _warm_adapters[warm] = load_adapter_set(
            track.base_model,
            {adapter_name(c): settings.artifacts_dir / str(c.path) for c in adapters},
            models_dir=settings.models_dir,
            device=worker_device(),
            trust_remote_code=track.trust_remote_code,
        )
    loaded = _warm_adapters[warm]
    set_active(loaded, [adapter_name(c) for c in adapters])
    return loaded


def run_generation_job(job_id: int) -> None:
    settings = get_settings()
    sessions = get_sessionmaker()
    with sessions.begin() as session:
        claim = lifecycle.claim(
            session, job_id, worker_id=worker_id(), lease_seconds=settings.job_lease_seconds
        )
    if claim is None:
        return
    try:
        with sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.checkpoint_id is not None
            checkpoint = session.get(Checkpoint, job.checkpoint_id)
            assert checkpoint is not None
            track = session.get(Track, checkpoint.track_id)
            assert track is not None
            request = dict(job.config)
            adapters = (
                [session.get(Checkpoint, i) for i in request["adapters"]] if "adapters" in request else None
            )
        started = time.perf_counter()
        if adapters is None:
            loaded = _model_for(track, checkpoint)
        else:  # a track of adapters: its base with the chosen adapters on (none: the base alone)
            loaded = _model_with_adapters(track, [c for c in adapters if c is not None])
        _, completion_ids, texts = generate(
            loaded,
            [request["messages"]],
            max_new_tokens=int(request["max_new_tokens"]),
            temperature=float(request["temperature"]),
        )
        summary = {
            "output": texts[0],
            "completion_tokens": len(completion_ids[0]),
            "seconds": round(time.perf_counter() - started, 3),
        }
        with sessions.begin() as session:
            lifecycle.succeed(
                session, job_id, claim.attempt, checkpoint_path=None, manifest={}, metrics={}, summary=summary
            )
    except Exception as exc:  # noqa: BLE001 - recorded on the job with its reason
        log.exception("generation job %s failed", job_id)
        with sessions.begin() as session:
            lifecycle.finish(
                session, job_id, claim.attempt, state="failed", error=f"{type(exc).__name__}: {exc}"
            )
