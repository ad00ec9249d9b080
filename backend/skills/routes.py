from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from backend.auth.dependencies import Authorized, PrincipalDep, project_for_new_resource
from backend.db import ID_MAX, Id, SessionDep
from backend.skills import service
from backend.skills.schemas import SkillCreate, SkillRead

router = APIRouter(prefix="/api", tags=["skills"], dependencies=[Authorized])


@router.post(
    "/skills", status_code=status.HTTP_201_CREATED, response_model=SkillRead, operation_id="skills-create"
)
def create_skill(body: SkillCreate, session: SessionDep, principal: PrincipalDep) -> SkillRead:
    """Create a skill (409 when the name is taken in its project)."""
    project_id = project_for_new_resource(session, principal, body.project_id)
    return SkillRead.model_validate(service.create_skill(session, body, project_id))


@router.get("/skills", response_model=list[SkillRead], operation_id="skills-list")
def list_skills(
    session: SessionDep,
    principal: PrincipalDep,
    project_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> list[SkillRead]:
    """List the skills of your projects (or of one)."""
    skills = service.list_skills(session, principal.readable_project_ids(project_id))
    return [SkillRead.model_validate(skill) for skill in skills]


@router.get("/skills/{skill_id}", response_model=SkillRead, operation_id="skills-get")
def get_skill(skill_id: Id, session: SessionDep) -> SkillRead:
    """One skill."""
    return SkillRead.model_validate(service.get_skill(session, skill_id))
