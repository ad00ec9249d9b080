"""Accounts: password hashing, login, bearer tokens and browser sessions.

Secrets (passwords, tokens, session ids) are never stored or logged: passwords as argon2id
hashes, tokens and sessions as the sha256 of a 256-bit random secret, which is returned once.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from backend.auth.models import AuthToken, ProjectMember, User
from backend.db import utcnow
from backend.errors import Conflict, NotFound
from backend.settings import Settings, get_settings

TOKEN_PREFIX = "apt_"  # makes a leaked token easy to find with a secret scanner
SESSION_PREFIX = "aps_"
TOUCH_EVERY = timedelta(minutes=1)


@lru_cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def password_hasher(settings: Settings | None = None) -> PasswordHasher:
    settings = settings or get_settings()
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token_for(session_secret: str) -> str:
    """The CSRF token of a browser session: derived from its secret, so nothing more is stored
    and a page on another site, which cannot read the cookie, cannot compute it."""
    return hmac.new(session_secret.encode(), b"apprentice-csrf", hashlib.sha256).hexdigest()


def create_user(session: Session, *, username: str, password: str, is_superuser: bool = False) -> User:
    """A new account; usernames are unique (case-insensitively)."""
    if get_user_by_name(session, username) is not None:
        raise Conflict(f"a user named {username!r} already exists", {"field": "username"})
    user = User(username=username, password_hash=hash_password(password), is_superuser=is_superuser)
    session.add(user)
    session.flush()
    return user


def get_user_by_name(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.lower()))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id)).all()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, or None; as slow for an unknown name as for a wrong password."""
    hasher = password_hasher()
    user = get_user_by_name(session, username)
    if user is None or not user.is_active:
        _burn_a_verification(hasher, password)
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(user.password_hash):  # cost settings were raised since
        user.password_hash = hasher.hash(password)
    return user


def change_password(
    session: Session, user: User, current: str, new: str, *, keep_session: str | None = None
) -> bool:
    """Set a new password if `current` is right; the user's other browser sessions end."""
    try:
        password_hasher().verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        return False
    user.password_hash = hash_password(new)
    end_sessions(session, user.id, keep=keep_session)
    return True


def end_sessions(session: Session, user_id: int, *, keep: str | None = None) -> None:
    """Revoke every live browser session of the user, except the one whose secret is `keep`."""
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.user_id == user_id,
            AuthToken.kind == "session",
            AuthToken.revoked_at.is_(None),
            AuthToken.token_sha256 != (token_digest(keep) if keep else ""),
        )
        .values(revoked_at=utcnow())
    )


def _live_superusers(session: Session, *, besides: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_superuser.is_(True), User.is_active.is_(True), User.id != besides)
        )
        or 0
    )


def _refuse_on_self_or_last_admin(session: Session, actor_id: int, user: User, what: str) -> None:
    if user.id == actor_id:
        raise Conflict(f"you cannot {what} your own account", {"field": "user_id"})
    if user.is_superuser and user.is_active and _live_superusers(session, besides=user.id) == 0:
        raise Conflict(f"cannot {what} the last active server admin", {"field": "user_id"})


def set_active(session: Session, actor_id: int, user_id: int, *, active: bool) -> User:
    """Disable (its sessions end; its API tokens stop working until re-enabled) or re-enable an account."""
    user = get_user(session, user_id)
    if not active:
        _refuse_on_self_or_last_admin(session, actor_id, user, "disable")
        end_sessions(session, user.id)
    user.is_active = active
    session.flush()
    return user


def delete_user(session: Session, actor_id: int, user_id: int) -> None:
    """Delete an account with its memberships, tokens and sessions (never oneself or the last admin)."""
    user = get_user(session, user_id)
    _refuse_on_self_or_last_admin(session, actor_id, user, "delete")
    session.execute(delete(AuthToken).where(AuthToken.user_id == user.id))
    session.execute(delete(ProjectMember).where(ProjectMember.user_id == user.id))
    session.delete(user)
    session.flush()


def reset_password(session: Session, user_id: int, new: str) -> User:
    """A server admin sets someone's password; all of that user's browser sessions end."""
    user = get_user(session, user_id)
    user.password_hash = hash_password(new)
    end_sessions(session, user.id)
    session.flush()
    return user


def _burn_a_verification(hasher: PasswordHasher, password: str) -> None:
    with contextlib.suppress(VerificationError, InvalidHashError):
        hasher.verify(_dummy_hash(hasher), password)


@lru_cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def issue_token(
    session: Session, user: User, *, kind: str, name: str = "", expires_at: datetime | None = None
) -> tuple[AuthToken, str]:
    """Make a token or session; returns the row and the secret (the only time it exists in clear)."""
    secret = (TOKEN_PREFIX if kind == "api" else SESSION_PREFIX) + secrets.token_urlsafe(32)
    row = AuthToken(
        user_id=user.id,
        kind=kind,
        name=name,
        token_sha256=token_digest(secret),
        prefix=secret[:10],
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, secret


def start_session(
    session: Session, user: User, settings: Settings, *, user_agent: str = "", client_ip: str = ""
) -> tuple[AuthToken, str]:
    expires = utcnow() + timedelta(hours=settings.session_hours)
    row, secret = issue_token(session, user, kind="session", name="browser", expires_at=expires)
    row.user_agent, row.client_ip, row.last_used_at = user_agent[:300], client_ip[:64], row.created_at
    session.flush()
    return row, secret


def user_for_secret(session: Session, secret: str, *, kind: str) -> tuple[User, AuthToken] | None:
    """The active user a live (unrevoked, unexpired) token or session belongs to."""
    if len(secret) > 200:
        return None
    row = session.scalar(
        select(AuthToken).where(AuthToken.token_sha256 == token_digest(secret), AuthToken.kind == kind)
    )
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    touch(session, row)
    return user, row


def touch(session: Session, row: AuthToken) -> None:
    """Record when a token or session was last used, writing at most once per TOUCH_EVERY per row
    (a conditional UPDATE, so concurrent requests do not pile up writes)."""
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < TOUCH_EVERY:
        return
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.id == row.id,
            (AuthToken.last_used_at.is_(None)) | (AuthToken.last_used_at < now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    row.last_used_at = now


def end_session(session: Session, secret: str) -> None:
    session.execute(
        update(AuthToken)
        .where(AuthToken.token_sha256 == token_digest(secret), AuthToken.kind == "session")
        .values(revoked_at=utcnow())
    )


def list_tokens(session: Session, user_id: int) -> Sequence[AuthToken]:
    """The user's API tokens (revoked ones too, marked), newest first; never their secrets."""
    return session.scalars(
        select(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.kind == "api")
        .order_by(AuthToken.id.desc())
    ).all()


def revoke_token(session: Session, user_id: int, token_id: int) -> AuthToken:
    """Revoke one of the user's API tokens (someone else's is a 404); revoking twice is harmless."""
    return _revoke_own(session, user_id, token_id, kind="api", what="token")


def _revoke_own(session: Session, user_id: int, ident: int, *, kind: str, what: str) -> AuthToken:
    row = session.get(AuthToken, ident)
    if row is None or row.user_id != user_id or row.kind != kind:
        raise NotFound(what, ident)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row


def list_sessions(session: Session, user_id: int) -> Sequence[AuthToken]:
    """The user's live browser sessions (not revoked, not expired), most recently used first."""
    return session.scalars(
        select(AuthToken)
        .where(
            AuthToken.user_id == user_id,
            AuthToken.kind == "session",
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > utcnow(),
        )
        .order_by(AuthToken.last_used_at.desc().nulls_last(), AuthToken.id.desc())
    ).all()


def revoke_session(session: Session, user_id: int, session_id: int) -> None:
    """End one of the user's browser sessions (someone else's is a 404); ending it twice is harmless."""
    _revoke_own(session, user_id, session_id, kind="session", what="session")
