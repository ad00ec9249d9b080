"""Tracks: a base model and a head pointer into a tree of checkpoints."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.errors import Conflict, Invalid, NotFound
from backend.jobs.models import Job
from backend.settings import get_settings
from backend.tracks.models import Track
from backend.tracks.schemas import TrackCreate

BUILTIN_MODELS = ("tiny", "smollm2-135m", "qwen2.5-0.5b")
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,95}$")


def is_local_model_path(name: str) -> bool:
    return name.startswith(("/", ".", "~"))


def validate_model_name(name: str) -> str:
    """A built-in name, a Hugging Face id, or a folder under an allowed model root."""
    if name in BUILTIN_MODELS:
        return name
    if is_local_model_path(name):
        settings = get_settings()
        roots = [root.resolve() for root in (settings.models_dir, *settings.model_roots)]
        path = Path(name).expanduser().resolve()
        if not any(path.is_relative_to(root) for root in roots):
            raise Invalid(f"model path {name!r} is outside the allowed model roots", field="base_model")
        return str(path)
    if HF_ID.match(name) and ".." not in name:
        return name
    raise Invalid(
        f"unknown model {name!r}: use one of {', '.join(BUILTIN_MODELS)}, a Hugging Face id or a local folder",
        field="base_model",
    )


def create_track(session: Session, data: TrackCreate, project_id: int) -> Track:
    """Create a track in a project; its head is a root checkpoint standing for the base model."""
    name_taken = select(Track.id).where(Track.project_id == project_id, Track.name == data.name)
    if session.scalar(name_taken) is not None:
        raise Conflict(f"a track named {data.name!r} already exists", {"field": "name"})
    track = Track(
        project_id=project_id,
        name=data.name,
        base_model=validate_model_name(data.base_model),
        trust_remote_code=data.trust_remote_code,
        skill_adapters={} if data.adapter_per_skill else None,
    )
    session.add(track)
    session.flush()
    root = Checkpoint(track_id=track.id, parent_id=None, kind="base", metrics={})
    session.add(root)
    session.flush()
    track.head_checkpoint_id = root.id
    session.flush()
    return track


def list_tracks(session: Session, project_ids: Sequence[int] | None = None) -> Sequence[Track]:
    """Tracks of these projects (None: all), oldest first."""
    query = select(Track).order_by(Track.id)
    if project_ids is not None:
        query = query.where(Track.project_id.in_(project_ids))
    return session.scalars(query).all()


def get_track(session: Session, track_id: int) -> Track:
    """One track or 404."""
    track = session.get(Track, track_id)
    if track is None:
        raise NotFound("track", track_id)
    return track


def track_checkpoints(session: Session, track_id: int) -> Sequence[Checkpoint]:
    """Every checkpoint of the track (the whole tree, branches included), oldest first."""
    return session.scalars(
        select(Checkpoint).where(Checkpoint.track_id == track_id).order_by(Checkpoint.id)
    ).all()


def _running_job_exists(track_id: int):  # type: ignore[no-untyped-def]
    return exists().where(Job.track_id == track_id, Job.state == "running", Job.kind == "train")


def rollback(
    session: Session, track_id: int, checkpoint_id: int, expected_head_id: int | None = None
) -> Track:
    """Move the head to any checkpoint of the track; nothing is deleted. 409 while a job runs."""
    track = get_track(session, track_id)
    checkpoint = session.get(Checkpoint, checkpoint_id)
    if checkpoint is None or checkpoint.track_id != track_id:
        raise NotFound("checkpoint of this track", checkpoint_id)
    conditions = [Track.id == track_id, ~_running_job_exists(track_id)]
    if expected_head_id is not None:
        conditions.append(Track.head_checkpoint_id == expected_head_id)
    # One conditional UPDATE: a job that starts, or a rollback that lands, in between makes this one lose.
    result = session.execute(
        update(Track)
        .where(*conditions)
        .values(head_checkpoint_id=checkpoint_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(track)
        if expected_head_id is not None and track.head_checkpoint_id != expected_head_id:
            raise Conflict(
                "the head moved since you looked: reload and try again",
                {"head_checkpoint_id": track.head_checkpoint_id},
            )
        raise Conflict("a job of this track is running; cancel it or wait before rolling back")
    session.refresh(track)
    return track
