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
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.auth.models import AuthToken, User
from backend.db import utcnow
from backend.errors import Conflict, NotFound
from backend.settings import Settings, get_settings

TOKEN_PREFIX = "apt_"  # makes a leaked token easy to find with a secret scanner
SESSION_PREFIX = "aps_"


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
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.user_id == user.id,
            AuthToken.kind == "session",
            AuthToken.revoked_at.is_(None),
            AuthToken.token_sha256 != (token_digest(keep_session) if keep_session else ""),
        )
        .values(revoked_at=utcnow())
    )
    return True


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


def start_session(session: Session, user: User, settings: Settings) -> tuple[AuthToken, str]:
    expires = utcnow() + timedelta(hours=settings.session_hours)
    return issue_token(session, user, kind="session", name="browser", expires_at=expires)


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
    return user, row


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
    row = session.get(AuthToken, token_id)
    if row is None or row.user_id != user_id or row.kind != "api":
        raise NotFound("token", token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row
