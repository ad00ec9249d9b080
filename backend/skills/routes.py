from __future__ import annotations

from fastapi import APIRouter, status

from backend.db import Id, SessionDep
from backend.skills import service
from backend.skills.schemas import SkillCreate, SkillRead

router = APIRouter(prefix="/api", tags=["skills"])


@router.post(
    "/skills", status_code=status.HTTP_201_CREATED, response_model=SkillRead, operation_id="skills-create"
)
def create_skill(body: SkillCreate, session: SessionDep) -> SkillRead:
    """Create a skill (409 when the name is taken)."""
    return SkillRead.model_validate(service.create_skill(session, body))


@router.get("/skills", response_model=list[SkillRead], operation_id="skills-list")
def list_skills(session: SessionDep) -> list[SkillRead]:
    """List skills."""
    return [SkillRead.model_validate(skill) for skill in service.list_skills(session)]


@router.get("/skills/{skill_id}", response_model=SkillRead, operation_id="skills-get")
def get_skill(skill_id: Id, session: SessionDep) -> SkillRead:
    """One skill."""
    return SkillRead.model_validate(service.get_skill(session, skill_id))
