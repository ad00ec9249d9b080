from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Role = Literal["viewer", "editor", "admin"]
Username = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"),
    AfterValidator(str.lower),
]
# Bounded so a megabyte "password" cannot make argon2 (or the request) expensive.
Password = Annotated[str, Field(min_length=1, max_length=1024)]
NewPassword = Annotated[str, Field(min_length=12, max_length=1024, description="at least 12 characters")]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    is_superuser: bool
    is_active: bool
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: NewPassword
    is_superuser: bool = False


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: NewPassword


class ProjectRole(BaseModel):
    id: int
    name: str
    role: Role


class Me(BaseModel):
    user: UserRead
    projects: list[ProjectRole]
    auth: Literal["token", "session", "disabled"] = Field(description="how this request was authenticated")
    csrf_token: str | None = Field(
        description="for cookie sessions: send it as the X-CSRF-Token header on every POST/PUT/PATCH/DELETE"
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="none: until revoked")


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="the secret's first characters, to tell tokens apart")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="updated at most once a minute")


class SessionRead(BaseModel):
    """A live browser session of yours."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    last_used_at: datetime | None = Field(description="last seen; updated at most once a minute")
    expires_at: datetime | None
    user_agent: str = Field(description="the browser that logged in")
    client_ip: str = Field(description="the address it logged in from")
    current: bool = Field(default=False, description="the session this request came with")


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_password: NewPassword


class TokenCreated(TokenRead):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f/\\]+$")


class ProjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    role: Role = Field(description="your role in it")


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    role: Role


class MemberRead(BaseModel):
    user_id: int
    username: str
    role: Role
