"""Who is calling, and may they touch this project? FastAPI dependencies used by every router.

Authentication, in order: an `Authorization: Bearer` token (API, CLI); else the browser's
session cookie, whose unsafe requests must also carry `X-CSRF-Token`; else, only with
AUTH_DISABLED on a loopback-bound server and a loopback client, the local admin. Anything else
is a 401.

Authorization: `authorize` is a router-level dependency. It reads the route's path ids, finds
the project each belongs to, and requires viewer for GET/HEAD and editor for anything else. A
resource of a project the caller is not a member of answers 404 as if it did not exist; a
member without the role gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth import projects, service
from backend.auth.models import Project, User
from backend.checkpoints.models import Checkpoint
from backend.datasets.models import DatasetVersion
from backend.db import ID_MAX, SessionDep
from backend.errors import DomainError, NotFound
from backend.evaluations.models import Evaluation
from backend.jobs.models import Job
from backend.settings import Settings, get_settings
from backend.skills.models import Skill
from backend.tracks.models import Track

SESSION_COOKIE = "apprentice_session"
CSRF_COOKIE = "apprentice_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Principal:
    user_id: int
    username: str
    is_superuser: bool
    via: Literal["token", "session", "disabled"]
    roles: dict[int, str] = field(default_factory=dict)
    session_secret: str | None = None

    def role_in(self, project_id: int) -> str | None:
        return "admin" if self.is_superuser else self.roles.get(project_id)

    def visible_project_ids(self) -> list[int] | None:
        """Projects whose data this caller may read; None means all of them."""
        return None if self.is_superuser else sorted(self.roles)

    def readable_project_ids(self, project_id: int | None) -> list[int] | None:
        """A list filter: one project (if the caller may read it; else nothing) or all visible ones."""
        if project_id is None:
            return self.visible_project_ids()
        return [project_id] if self.role_in(project_id) is not None else []

    def require(self, project_id: int, needed: str, *, what: str = "project", ident: object = None) -> None:
        """403 for a member without the role; 404 for a non-member (the resource is not theirs to know of)."""
        role = self.role_in(project_id)
        if role is None:
            raise NotFound(what, ident if ident is not None else project_id)
        if not projects.role_allows(role, needed):
            raise DomainError(
                403,
                "forbidden",
                f"this needs the {needed} role in project {project_id}; you are a {role}",
                {"needed_role": needed, "your_role": role},
            )


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail={"code": "not_authenticated", "message": message},
        headers={"WWW-Authenticate": "Bearer"},
    )


def is_loopback(host: str | None) -> bool:
    if host in ("localhost", "testclient"):
        # Starlette's TestClient calls itself "testclient": an in-process caller, never the network.
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def current_principal(request: Request, session: SessionDep) -> Principal:
    """The authenticated caller (401 otherwise); computed once per request."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    principal = _authenticate(request, session, get_settings())
    principal.roles = projects.roles_of(session, principal.user_id)
    request.state.principal = principal
    return principal


def _authenticate(request: Request, session: Session, settings: Settings) -> Principal:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, secret = authorization.partition(" ")
        found = (
            service.user_for_secret(session, secret.strip(), kind="api")
            if scheme.lower() == "bearer"
            else None
        )
        if found is None:
            raise _unauthenticated("the bearer token is invalid, expired or revoked")
        return _principal(found[0], "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = service.user_for_secret(session, cookie, kind="session")
        if found is None:
            raise _unauthenticated("your session has ended: log in again")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), service.csrf_token_for(cookie).encode()):
                raise DomainError(
                    403,
                    "csrf_failed",
                    f"a cookie-authenticated {request.method} needs the {CSRF_HEADER} header "
                    f"(the csrf_token from login or /api/auth/me)",
                )
        return _principal(found[0], "session", session_secret=cookie)
    if settings.auth_disabled and _is_local_request(request, settings):
        admin = session.scalar(
            select(User).where(User.is_superuser.is_(True), User.is_active.is_(True)).order_by(User.id)
        )
        if admin is not None:
            return _principal(admin, "disabled")
    raise _unauthenticated("log in, or send an API token as 'Authorization: Bearer <token>'")


def _is_local_request(request: Request, settings: Settings) -> bool:
    """A loopback client, addressing the server by a loopback name (no DNS rebinding), and for an
    unsafe method not sent by a page of another origin (no cross-site request forgery)."""
    if not is_loopback(settings.host) or request.client is None or not is_loopback(request.client.host):
        return False
    host = request.headers.get("host", "")
    hostname = host.rsplit(":", 1)[0].strip("[]") if not host.endswith("]") else host.strip("[]")
    if not (is_loopback(hostname) or hostname == "testserver"):
        return False
    origin = request.headers.get("origin")
    if request.method not in SAFE_METHODS and origin is not None:
        return origin.split("://", 1)[-1] == host
    return True


def _principal(
    user: User, via: Literal["token", "session", "disabled"], session_secret: str | None = None
) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        is_superuser=user.is_superuser,
        via=via,
        session_secret=session_secret,
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def _project_of_skill(session: Session, ident: int) -> int | None:
    return session.scalar(select(Skill.project_id).where(Skill.id == ident))


def _project_of_track(session: Session, ident: int) -> int | None:
    return session.scalar(select(Track.project_id).where(Track.id == ident))


def _project_of_version(session: Session, ident: int) -> int | None:
    return session.scalar(
        select(Skill.project_id)
        .join(DatasetVersion, DatasetVersion.skill_id == Skill.id)
        .where(DatasetVersion.id == ident)
    )


def _project_of_job(session: Session, ident: int) -> int | None:
    return session.scalar(select(Track.project_id).join(Job, Job.track_id == Track.id).where(Job.id == ident))


def _project_of_checkpoint(session: Session, ident: int) -> int | None:
    return session.scalar(
        select(Track.project_id)
        .join(Checkpoint, Checkpoint.track_id == Track.id)
        .where(Checkpoint.id == ident)
    )


def _project_of_evaluation(session: Session, ident: int) -> int | None:
    return session.scalar(
        select(Track.project_id)
        .join(Checkpoint, Checkpoint.track_id == Track.id)
        .join(Evaluation, Evaluation.checkpoint_id == Checkpoint.id)
        .where(Evaluation.id == ident)
    )


def _project_itself(session: Session, ident: int) -> int | None:
    return session.scalar(select(Project.id).where(Project.id == ident))


# Path parameter -> (what it names, how to find its project). A route whose path carries an id not
# listed here is refused outright (fail closed), so a new route cannot forget its access check.
PROJECT_OF: dict[str, tuple[str, Callable[[Session, int], int | None]]] = {
    "skill_id": ("skill", _project_of_skill),
    "track_id": ("track", _project_of_track),
    "version_id": ("dataset version", _project_of_version),
    "from_id": ("dataset version", _project_of_version),
    "to_id": ("dataset version", _project_of_version),
    "job_id": ("job", _project_of_job),
    "checkpoint_id": ("checkpoint", _project_of_checkpoint),
    "evaluation_id": ("evaluation", _project_of_evaluation),
    "project_id": ("project", _project_itself),
}


def authorize(request: Request, session: SessionDep, principal: PrincipalDep) -> None:
    """Require viewer (safe methods) or editor (others) in the project of every id in the path."""
    needed = "viewer" if request.method in SAFE_METHODS else "editor"
    for name, raw in request.path_params.items():
        rule = PROJECT_OF.get(name)
        if rule is None:
            raise DomainError(500, "no_access_rule", f"no access rule for the path parameter {name!r}")
        try:
            ident = int(raw)
        except (TypeError, ValueError):
            continue  # the route's own validation answers 422
        if not 1 <= ident <= ID_MAX:
            continue
        what, project_of = rule
        project_id = project_of(session, ident)
        if project_id is None:
            continue  # does not exist: the route answers 404 itself
        principal.require(project_id, needed, what=what, ident=ident)


Authorized = Depends(authorize)


def project_for_new_resource(session: Session, principal: Principal, requested: int | None) -> int:
    """The project a new skill or track goes to: the one asked for, else the caller's first project
    (the default project for a server admin who belongs to none). The caller must be an editor there."""
    if requested is not None:
        if session.get(Project, requested) is None:
            raise NotFound("project", requested)
        principal.require(requested, "editor", ident=requested)
        return requested
    candidates = sorted(pid for pid, role in principal.roles.items() if projects.role_allows(role, "editor"))
    if candidates:
        return candidates[0]
    if principal.is_superuser:
        return projects.ensure_default_project(session).id
    raise DomainError(
        403,
        "forbidden",
        "you are not an editor of any project: ask a project admin to add you",
        {"needed_role": "editor"},
    )
