"""Login, logout, who am I, password, API tokens, browser sessions; projects and members
(project_routes) and account administration (user_routes) ride along."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from backend.auth import service, throttle
from backend.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE, Principal, PrincipalDep
from backend.auth.models import User
from backend.auth.project_routes import router as projects_router
from backend.auth.projects import list_projects, roles_of
from backend.auth.schemas import (
    LoginRequest,
    Me,
    PasswordChange,
    ProjectRole,
    SessionRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserRead,
)
from backend.auth.user_routes import router as users_router
from backend.db import Id, SessionDep, utcnow
from backend.errors import DomainError
from backend.settings import get_settings

router = APIRouter(prefix="/api", tags=["auth"])
router.include_router(projects_router)
router.include_router(users_router)


@router.post(
    "/auth/login",
    response_model=Me,
    operation_id="auth-login",
    responses={
        401: {"description": "wrong username or password"},
        429: {
            "description": "too many failed logins for this username or from this address; see Retry-After"
        },
    },
)
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep) -> Me:
    """Start a browser session: sets an HttpOnly session cookie and returns the CSRF token to send as
    `X-CSRF-Token` on every unsafe request made with that cookie.

    After LOGIN_MAX_FAILURES failed logins for a username (or LOGIN_MAX_FAILURES_PER_IP from one
    address) within LOGIN_WINDOW_S seconds, logins answer 429 with Retry-After until the oldest
    of them ages out; a successful login resets the username's count."""
    settings = get_settings()
    client_ip = request.client.host if request.client else ""
    throttle.refuse_if_throttled(session, body.username, client_ip, settings)
    user = service.authenticate(session, body.username, body.password)
    if user is None:
        throttle.record_failure(session, body.username, client_ip, settings)
        session.commit()  # the 401 below rolls the request's transaction back; the failure must stay
        # Say nothing about which part was wrong.
        raise DomainError(401, "invalid_credentials", "wrong username or password")
    throttle.clear_failures(session, body.username)
    _, secret = service.start_session(
        session,
        user,
        settings,
        user_agent=request.headers.get("user-agent", ""),
        client_ip=client_ip,
    )
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


@router.post(
    "/auth/password",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth-change_password",
    responses={429: {"description": "too many wrong passwords for this account; see Retry-After"}},
)
def change_password(
    body: PasswordChange, request: Request, session: SessionDep, principal: PrincipalDep
) -> None:
    """Change your password; your other browser sessions end. A wrong current password counts as a
    failed login (so a stolen session cannot guess it faster than the login form could)."""
    settings = get_settings()
    user = service.get_user(session, principal.user_id)
    client_ip = request.client.host if request.client else ""
    throttle.refuse_if_throttled(session, user.username, client_ip, settings)
    if not service.change_password(
        session, user, body.current_password, body.new_password, keep_session=principal.session_secret
    ):
        throttle.record_failure(session, user.username, client_ip, settings)
        session.commit()  # kept although the 403 below rolls the request back
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


@router.get("/auth/sessions", response_model=list[SessionRead], operation_id="auth-list_sessions")
def list_sessions(session: SessionDep, principal: PrincipalDep) -> list[SessionRead]:
    """Your live browser sessions: when each started and was last seen, from which browser and address."""
    current = service.token_digest(principal.session_secret) if principal.session_secret else None
    return [
        SessionRead.model_validate(row).model_copy(update={"current": row.token_sha256 == current})
        for row in service.list_sessions(session, principal.user_id)
    ]


@router.delete(
    "/auth/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-revoke_session"
)
def revoke_session(session_id: Id, session: SessionDep, principal: PrincipalDep) -> None:
    """End one of your browser sessions (this one too, if you name it): its cookie stops working at once."""
    service.revoke_session(session, principal.user_id, session_id)


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
