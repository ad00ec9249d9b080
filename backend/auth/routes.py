"""Login, logout, who am I, API tokens, users; projects and members (project_routes) ride along."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response, status

from backend.auth import service
from backend.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE, Principal, PrincipalDep
from backend.auth.models import User
from backend.auth.project_routes import router as projects_router
from backend.auth.projects import list_projects, roles_of
from backend.auth.schemas import (
    LoginRequest,
    Me,
    PasswordChange,
    ProjectRole,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
)
from backend.db import Id, SessionDep, utcnow
from backend.errors import DomainError
from backend.settings import get_settings

router = APIRouter(prefix="/api", tags=["auth"])
router.include_router(projects_router)


@router.post(
    "/auth/login",
    response_model=Me,
    operation_id="auth-login",
    responses={401: {"description": "wrong username or password"}},
)
def login(body: LoginRequest, response: Response, session: SessionDep) -> Me:
    """Start a browser session: sets an HttpOnly session cookie and returns the CSRF token to send as
    `X-CSRF-Token` on every unsafe request made with that cookie."""
    user = service.authenticate(session, body.username, body.password)
    if user is None:
        # Say nothing about which part was wrong.
        raise DomainError(401, "invalid_credentials", "wrong username or password")
    settings = get_settings()
    _, secret = service.start_session(session, user, settings)
    csrf = service.csrf_token_for(secret)
    max_age = int(timedelta(hours=settings.session_hours).total_seconds())
    common = {"max_age": max_age, "path": "/", "samesite": "lax", "secure": settings.cookie_secure}
    response.set_cookie(SESSION_COOKIE, secret, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)  # type: ignore[arg-type]
    principal = Principal(
        user_id=user.id,
        username=user.username,
        is_superuser=user.is_superuser,
        via="session",
        roles=roles_of(session, user.id),
        session_secret=secret,
    )
    return _me(session, user, principal)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-logout")
def logout(response: Response, session: SessionDep, principal: PrincipalDep) -> None:
    """End this browser session (a bearer token stays valid: revoke it under /api/auth/tokens)."""
    if principal.session_secret is not None:
        service.end_session(session, principal.session_secret)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/auth/me", response_model=Me, operation_id="auth-me")
def me(session: SessionDep, principal: PrincipalDep) -> Me:
    """The caller, their projects and roles, and (for a cookie session) the CSRF token."""
    return _me(session, service.get_user(session, principal.user_id), principal)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-change_password")
def change_password(body: PasswordChange, session: SessionDep, principal: PrincipalDep) -> None:
    """Change your password; your other browser sessions end."""
    user = service.get_user(session, principal.user_id)
    if not service.change_password(
        session, user, body.current_password, body.new_password, keep_session=principal.session_secret
    ):
        raise DomainError(
            403, "invalid_credentials", "the current password is wrong", {"field": "current_password"}
        )


@router.get("/auth/tokens", response_model=list[TokenRead], operation_id="auth-list_tokens")
def list_tokens(session: SessionDep, principal: PrincipalDep) -> list[TokenRead]:
    """Your API tokens (never their secrets)."""
    return [TokenRead.model_validate(row) for row in service.list_tokens(session, principal.user_id)]


@router.post(
    "/auth/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    operation_id="auth-create_token",
)
def create_token(body: TokenCreate, session: SessionDep, principal: PrincipalDep) -> TokenCreated:
    """A new API token for `Authorization: Bearer`; the secret is in this answer only."""
    user = service.get_user(session, principal.user_id)
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    row, secret = service.issue_token(session, user, kind="api", name=body.name, expires_at=expires)
    return TokenCreated(**TokenRead.model_validate(row).model_dump(), token=secret)


@router.delete(
    "/auth/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-revoke_token"
)
def revoke_token(token_id: Id, session: SessionDep, principal: PrincipalDep) -> None:
    """Revoke one of your tokens: it stops working at once."""
    service.revoke_token(session, principal.user_id, token_id)


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


def _require_superuser(principal: Principal) -> None:
    if not principal.is_superuser:
        raise DomainError(403, "forbidden", "only a server admin may manage accounts")


def _me(session: SessionDep, user: User, principal: Principal) -> Me:
    roles = {**principal.roles}
    visible = None if user.is_superuser else sorted(roles)
    return Me(
        user=UserRead.model_validate(user),
        projects=[
            ProjectRole(id=p.id, name=p.name, role=roles.get(p.id, "admin"))  # type: ignore[arg-type]
            for p in list_projects(session, visible)
        ],
        auth=principal.via,
        csrf_token=service.csrf_token_for(principal.session_secret) if principal.session_secret else None,
    )
