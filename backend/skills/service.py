"""Skills: a named behaviour with its teacher template and scorer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid, NotFound
from backend.skills.models import Skill
from backend.skills.schemas import SkillCreate

TEMPLATE_FIELDS = ("{prompt}", "{demonstration}")


def create_skill(session: Session, data: SkillCreate, project_id: int) -> Skill:
    """Create a skill in a project; names are unique within it."""
    if (
        session.scalar(select(Skill.id).where(Skill.project_id == project_id, Skill.name == data.name))
        is not None
    ):
        raise Conflict(f"a skill named {data.name!r} already exists", {"field": "name"})
    if data.teacher_template:
        missing = [field for field in TEMPLATE_FIELDS if field not in data.teacher_template]
        if missing:
            raise Invalid(f"teacher_template must contain {' and '.join(missing)}", field="teacher_template")
    if data.scorer == "regex" and not isinstance(data.scorer_config.get("pattern"), str):
        raise Invalid("the regex scorer needs scorer_config.pattern", field="scorer_config.pattern")
    skill = Skill(**data.model_dump(exclude={"project_id"}), project_id=project_id)
    session.add(skill)
    session.flush()
    return skill


def list_skills(session: Session, project_ids: Sequence[int] | None = None) -> Sequence[Skill]:
    """Skills of these projects (None: all), oldest first."""
    query = select(Skill).order_by(Skill.id)
    if project_ids is not None:
        query = query.where(Skill.project_id.in_(project_ids))
    return session.scalars(query).all()


def get_skill(session: Session, skill_id: int) -> Skill:
    """One skill or 404."""
    skill = session.get(Skill, skill_id)
    if skill is None:
        raise NotFound("skill", skill_id)
    return skill
