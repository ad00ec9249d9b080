"""Projects own skills and tracks; members have a role in each (viewer, editor, admin)."""

from __future__ import annotations

from fastapi import APIRouter, status

from backend.auth import projects, service
from backend.auth.dependencies import PrincipalDep
from backend.auth.schemas import MemberRead, MemberSet, ProjectCreate, ProjectRead
from backend.db import Id, SessionDep
from backend.errors import NotFound

router = APIRouter(tags=["projects"])


@router.get("/projects", response_model=list[ProjectRead], operation_id="projects-list")
def list_projects(session: SessionDep, principal: PrincipalDep) -> list[ProjectRead]:
    """The projects you belong to (a server admin sees all), with your role in each."""
    return [
        ProjectRead(id=p.id, name=p.name, created_at=p.created_at, role=principal.role_in(p.id))  # type: ignore[arg-type]
        for p in projects.list_projects(session, principal.visible_project_ids())
    ]


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectRead,
    operation_id="projects-create",
)
def create_project(body: ProjectCreate, session: SessionDep, principal: PrincipalDep) -> ProjectRead:
    """Create a project; you become its admin."""
    project = projects.create_project(session, body.name, service.get_user(session, principal.user_id))
    return ProjectRead(id=project.id, name=project.name, created_at=project.created_at, role="admin")


@router.get("/projects/{project_id}", response_model=ProjectRead, operation_id="projects-get")
def get_project(project_id: Id, session: SessionDep, principal: PrincipalDep) -> ProjectRead:
    """One project you belong to."""
    project = projects.get_project(session, project_id)
    principal.require(project_id, "viewer")
    return ProjectRead(
        id=project.id,
        name=project.name,
        created_at=project.created_at,
        role=principal.role_in(project_id),  # type: ignore[arg-type]
    )


@router.get(
    "/projects/{project_id}/members", response_model=list[MemberRead], operation_id="projects-members"
)
def list_members(project_id: Id, session: SessionDep, principal: PrincipalDep) -> list[MemberRead]:
    """Who is in the project, with their roles."""
    projects.get_project(session, project_id)
    principal.require(project_id, "viewer")
    return [
        MemberRead(user_id=user.id, username=user.username, role=member.role)  # type: ignore[arg-type]
        for member, user in projects.list_members(session, project_id)
    ]


@router.post("/projects/{project_id}/members", response_model=MemberRead, operation_id="projects-set_member")
def set_member(project_id: Id, body: MemberSet, session: SessionDep, principal: PrincipalDep) -> MemberRead:
    """Add a user to the project or change their role (project admins only)."""
    projects.get_project(session, project_id)
    principal.require(project_id, "admin")
    user = service.get_user_by_name(session, body.username)
    if user is None:
        raise NotFound("user", body.username)
    member = projects.set_member(session, project_id, user, body.role)
    return MemberRead(user_id=user.id, username=user.username, role=member.role)  # type: ignore[arg-type]


@router.delete(
    "/projects/{project_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="projects-remove_member",
)
def remove_member(project_id: Id, user_id: Id, session: SessionDep, principal: PrincipalDep) -> None:
    """Remove a member (project admins only); the last admin stays."""
    projects.get_project(session, project_id)
    principal.require(project_id, "admin")
    projects.remove_member(session, project_id, user_id)
