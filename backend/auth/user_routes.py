"""Account administration (server admins only): list, create, disable, re-enable, delete, reset a password."""

from __future__ import annotations

from fastapi import APIRouter, status

from backend.auth import service
from backend.auth.dependencies import Principal, PrincipalDep
from backend.auth.schemas import PasswordReset, UserCreate, UserRead
from backend.db import Id, SessionDep
from backend.errors import DomainError

router = APIRouter(tags=["auth"])


def _require_superuser(principal: Principal) -> None:
    if not principal.is_superuser:
        raise DomainError(403, "forbidden", "only a server admin may manage accounts")


@router.get("/users", response_model=list[UserRead], operation_id="auth-list_users")
def list_users(session: SessionDep, principal: PrincipalDep) -> list[UserRead]:
    """Every account (server admins only)."""
    _require_superuser(principal)
    return [UserRead.model_validate(user) for user in service.list_users(session)]


@router.post(
    "/users", status_code=status.HTTP_201_CREATED, response_model=UserRead, operation_id="auth-create_user"
)
def create_user(body: UserCreate, session: SessionDep, principal: PrincipalDep) -> UserRead:
    """Create an account (server admins only); add it to projects under /api/projects/{id}/members."""
    _require_superuser(principal)
    user = service.create_user(
        session, username=body.username, password=body.password, is_superuser=body.is_superuser
    )
    return UserRead.model_validate(user)


@router.post("/users/{user_id}/disable", response_model=UserRead, operation_id="auth-disable_user")
def disable_user(user_id: Id, session: SessionDep, principal: PrincipalDep) -> UserRead:
    """Disable an account: its browser sessions end and its API tokens stop working at once (they
    work again if it is re-enabled). Not your own account, nor the last active server admin."""
    _require_superuser(principal)
    return UserRead.model_validate(service.set_active(session, principal.user_id, user_id, active=False))


@router.post("/users/{user_id}/enable", response_model=UserRead, operation_id="auth-enable_user")
def enable_user(user_id: Id, session: SessionDep, principal: PrincipalDep) -> UserRead:
    """Re-enable a disabled account."""
    _require_superuser(principal)
    return UserRead.model_validate(service.set_active(session, principal.user_id, user_id, active=True))


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-delete_user")
def delete_user(user_id: Id, session: SessionDep, principal: PrincipalDep) -> None:
    """Delete an account with its tokens, sessions and memberships; its projects' data stays. Not
    your own account, nor the last active server admin."""
    _require_superuser(principal)
    service.delete_user(session, principal.user_id, user_id)


@router.post(
    "/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-reset_password"
)
def reset_password(user_id: Id, body: PasswordReset, session: SessionDep, principal: PrincipalDep) -> None:
    """Set another user's password (server admins only): all of that user's browser sessions end."""
    _require_superuser(principal)
    service.reset_password(session, user_id, body.new_password)
