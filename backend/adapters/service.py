"""One LoRA adapter per skill: a track option that keeps each skill's training as its own adapter.

On such a track every training job trains a LoRA adapter from the base model alone (or continues
its skill's active adapter), never from another skill's weights, so the skills stay independent.
`track.skill_adapters` maps each skill to its active adapter checkpoint: a job's success sets its
skill's entry, a per-skill rollback points one entry at an earlier adapter (or turns it off) and
leaves the others alone, and the playground answers with any subset of adapters on
(worker/sdft/adapters.py loads them over the base). The head and the checkpoint tree work as on any
track: each checkpoint is one adapter over the base, and that is what an evaluation of it measures.
With a retention budget a new adapter is activated only once its evaluation keeps the budget
(backend/retention: a held one leaves the previous adapter on; activating it anyway needs force).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.adapters.schemas import AdapterGenerateRequest, AdapterVersion, SkillAdapter, TrackAdapters
from backend.checkpoints import service as checkpoints_service
from backend.checkpoints.models import Checkpoint
from backend.errors import Invalid, NotFound
from backend.jobs.models import Job
from backend.skills.models import Skill
from backend.tracks.models import Track
from backend.tracks.service import get_track


def enabled(track: Track) -> bool:
    return track.skill_adapters is not None


def require_lora(track: Track, config: dict[str, Any]) -> None:
    """A job on a track of adapters must train one: 422 naming the field otherwise."""
    if enabled(track) and config.get("lora_rank") is None:
        raise Invalid(
            "this track keeps one LoRA adapter per skill: set lora_rank (e.g. 16)", field="config.lora_rank"
        )


def root_id(session: Session, track_id: int) -> int | None:
    return session.scalar(
        select(Checkpoint.id).where(Checkpoint.track_id == track_id, Checkpoint.parent_id.is_(None))
    )


def start_checkpoint_id(session: Session, track: Track, skill_id: int | None) -> int | None:
    """Where a job of `skill_id` starts on a track of adapters: its skill's active adapter, else the base."""
    active = (track.skill_adapters or {}).get(str(skill_id))
    return int(active) if active is not None else root_id(session, track.id)


def record(session: Session, track_id: int, skill_id: int, checkpoint_id: int | None) -> None:
    """Point one skill's entry at an adapter (None: remove it); the other skills' entries stay."""
    track = session.get(Track, track_id, populate_existing=True)
    if track is None or track.skill_adapters is None:
        return
    adapters = dict(track.skill_adapters)  # a new dict, so the JSON column is written
    if checkpoint_id is None:
        adapters.pop(str(skill_id), None)
    else:
        adapters[str(skill_id)] = checkpoint_id
    session.execute(
        update(Track)
        .where(Track.id == track_id)
        .values(skill_adapters=adapters)
        .execution_options(synchronize_session=False)
    )
    session.refresh(track)


def is_adapter(checkpoint: Checkpoint, track: Track) -> bool:
    """A LoRA checkpoint trained over this track's base model."""
    return (
        checkpoint.manifest.get("kind") == "lora"
        and checkpoint.manifest.get("base_model") == track.base_model
    )


def adapter_checkpoint(session: Session, track: Track, checkpoint_id: int, *, field: str) -> Checkpoint:
    checkpoint = session.get(Checkpoint, checkpoint_id)
    if checkpoint is None or checkpoint.track_id != track.id:
        raise NotFound("checkpoint of this track", checkpoint_id)
    if checkpoint.skill_id is None or not is_adapter(checkpoint, track):
        raise Invalid(
            f"checkpoint {checkpoint_id} is not a LoRA adapter over {track.base_model!r}", field=field
        )
    return checkpoint


def measured_set(track: Track, checkpoint: Checkpoint) -> list[int] | None:
    """What an evaluation of an adapter measures on a track of adapters: the base with this adapter on
    for its skill and every other skill's active adapter on too, the set the playground serves once it
    is active, so the regression matrix shows what activating it does to the other skills. None: not
    an adapter of such a track (the checkpoint alone is measured, the base model for the root)."""
    if not enabled(track) or checkpoint.skill_id is None or not is_adapter(checkpoint, track):
        return None
    others = sorted(
        (int(skill), int(ckpt))
        for skill, ckpt in (track.skill_adapters or {}).items()
        if int(skill) != checkpoint.skill_id
    )
    return [checkpoint.id, *(ckpt for _, ckpt in others)]


def track_adapters(session: Session, track_id: int) -> TrackAdapters:
    track = get_track(session, track_id)
    active = {int(skill): int(ckpt) for skill, ckpt in (track.skill_adapters or {}).items()}
    checkpoints = [
        c
        for c in session.scalars(
            select(Checkpoint)
            .where(Checkpoint.track_id == track_id, Checkpoint.skill_id.is_not(None))
            .order_by(Checkpoint.id.desc())
        )
        if is_adapter(c, track)
    ]
    skill_ids = sorted({c.skill_id for c in checkpoints if c.skill_id is not None} | set(active))
    names = dict(session.execute(select(Skill.id, Skill.name).where(Skill.id.in_(skill_ids))).tuples().all())
    return TrackAdapters(
        track_id=track_id,
        enabled=enabled(track),
        skills=[
            SkillAdapter(
                skill_id=skill_id,
                skill_name=names.get(skill_id, f"skill {skill_id}"),
                active_checkpoint_id=active.get(skill_id),
                versions=[
                    AdapterVersion(
                        checkpoint_id=c.id,
                        job_id=c.job_id,
                        dataset_version_id=c.dataset_version_id,
                        created_at=c.created_at,
                        promotion=c.promotion,
                        promotion_message=(c.promotion_report or {}).get("message"),
                    )
                    for c in checkpoints
                    if c.skill_id == skill_id
                ],
            )
            for skill_id in skill_ids
        ],
    )


def set_skill_adapter(
    session: Session, track_id: int, skill_id: int, checkpoint_id: int | None
) -> TrackAdapters:
    """Per-skill rollback: this skill's adapter becomes `checkpoint_id` (None: off); no other skill changes."""
    track = get_track(session, track_id)
    if not enabled(track):
        raise Invalid("this track does not keep one adapter per skill", field="track_id")
    if checkpoint_id is not None:
        checkpoint = adapter_checkpoint(session, track, checkpoint_id, field="checkpoint_id")
        if checkpoint.skill_id != skill_id:
            raise Invalid(f"checkpoint {checkpoint_id} is an adapter of another skill", field="checkpoint_id")
    record(session, track_id, skill_id, checkpoint_id)
    return track_adapters(session, track_id)


def queue_generation(session: Session, track_id: int, request: AdapterGenerateRequest) -> Job:
    """A playground turn on the base model with the chosen adapters on (a light job on the cpu queue)."""
    track = get_track(session, track_id)
    skills: set[int] = set()
    for checkpoint_id in request.adapters:
        checkpoint = adapter_checkpoint(session, track, checkpoint_id, field="adapters")
        if checkpoint.skill_id in skills:
            raise Invalid("at most one adapter per skill", field="adapters")
        skills.add(checkpoint.skill_id)  # type: ignore[arg-type]
    root = root_id(session, track.id)
    assert root is not None
    return checkpoints_service.queue_generation(session, root, request)  # the config carries the adapters
