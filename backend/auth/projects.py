"""Projects and their members: who may see (viewer), change (editor) or administer (admin) what."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.models import Project, ProjectMember, User
from backend.errors import Conflict, DomainError, NotFound

DEFAULT_PROJECT = "default"
ROLE_RANK = {"viewer": 1, "editor": 2, "admin": 3}


def role_allows(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[needed]


def create_project(session: Session, name: str, owner: User) -> Project:
    """A new project whose creator is its admin."""
    if session.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise Conflict(f"a project named {name!r} already exists", {"field": "name"})
    project = Project(name=name)
    session.add(project)
    session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=owner.id, role="admin"))
    session.flush()
    return project


def ensure_default_project(session: Session) -> Project:
    """The project that rows made before accounts existed (and the local admin's work) belong to."""
    project = session.scalar(select(Project).where(Project.name == DEFAULT_PROJECT))
    if project is None:
        project = Project(name=DEFAULT_PROJECT)
        session.add(project)
        session.flush()
    return project


def get_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("project", project_id)
    return project


def list_projects(session: Session, project_ids: Sequence[int] | None) -> Sequence[Project]:
    """Projects by id (None: every project), oldest first."""
    query = select(Project).order_by(Project.id)
    if project_ids is not None:
        query = query.where(Project.id.in_(project_ids))
    return session.scalars(query).all()


def roles_of(session: Session, user_id: int) -> dict[int, str]:
    rows = session.execute(
        select(ProjectMember.project_id, ProjectMember.role).where(ProjectMember.user_id == user_id)
    ).all()
    return {project_id: role for project_id, role in rows}


def list_members(session: Session, project_id: int) -> Sequence[tuple[ProjectMember, User]]:
    rows = session.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.id)
    ).all()
    return [(member, user) for member, user in rows]


def set_member(session: Session, project_id: int, user: User, role: str) -> ProjectMember:
    """Add a member or change their role; the last admin cannot step down."""
    member = session.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user.id)
    )
    if member is None:
        member = ProjectMember(project_id=project_id, user_id=user.id, role=role)
        session.add(member)
    else:
        if member.role == "admin" and role != "admin":
            _refuse_if_last_admin(session, project_id)
        member.role = role
    session.flush()
    return member


def remove_member(session: Session, project_id: int, user_id: int) -> None:
    member = session.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user_id)
    )
    if member is None:
        raise NotFound("member", user_id)
    if member.role == "admin":
        _refuse_if_last_admin(session, project_id)
    session.delete(member)
    session.flush()


def _refuse_if_last_admin(session: Session, project_id: int) -> None:
    admins = session.scalar(
        select(func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.project_id == project_id, ProjectMember.role == "admin")
    )
    if (admins or 0) <= 1:
        raise DomainError(409, "last_admin", "a project keeps at least one admin: name another one first")
