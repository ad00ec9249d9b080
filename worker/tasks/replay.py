"""Glue for replay: the earlier skills a training job may replay, read from its starting checkpoint's path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.datasets.models import Demonstration
from backend.skills.models import Skill
from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE
from worker.sdft.data import Example
from worker.sdft.replay import ReplaySet


def earlier_skills(session: Session, start_checkpoint_id: int | None) -> list[tuple[int, int]]:
    """(skill id, dataset version id) learned on the path root -> start, oldest first, latest version per skill.

    "Earlier" follows the checkpoint tree, like the regression matrix: a skill learned on another
    branch (rolled back) is not one this model knows.
    """
    path: list[Checkpoint] = []
    checkpoint = session.get(Checkpoint, start_checkpoint_id) if start_checkpoint_id is not None else None
    while checkpoint is not None:
        path.append(checkpoint)
        checkpoint = (
            session.get(Checkpoint, checkpoint.parent_id) if checkpoint.parent_id is not None else None
        )
    learned: dict[int, int] = {}
    for step in reversed(path):
        if step.skill_id is not None and step.dataset_version_id is not None:
            learned.pop(step.skill_id, None)  # a skill trained again moves to its latest training
            learned[step.skill_id] = step.dataset_version_id
    return list(learned.items())


def replay_sets(
    session: Session, start_checkpoint_id: int | None, *, exclude_skill_id: int | None
) -> list[ReplaySet]:
    """Each earlier skill's train rows with its teacher template (the skill being trained is left out)."""
    sets = []
    for skill_id, version_id in earlier_skills(session, start_checkpoint_id):
        skill = session.get(Skill, skill_id)
        if skill is None or skill_id == exclude_skill_id:
            continue
        rows: Any = session.scalars(
            select(Demonstration)
            .where(Demonstration.dataset_version_id == version_id, Demonstration.split == "train")
            .order_by(Demonstration.index)
        ).all()
        examples = [
            Example(prompt=row.prompt, demonstration=row.demonstration, context=row.context, line=row.line)
            for row in rows
        ]
        if examples:
            sets.append(
                ReplaySet(
                    name=skill.name,
                    examples=examples,
                    template=skill.teacher_template or DEFAULT_TEACHER_TEMPLATE,
                )
            )
    return sets
