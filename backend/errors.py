"""Domain errors carry their HTTP status; one handler renders them all the same way."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DisconnectionError, OperationalError


class DomainError(Exception):
    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers


class NotFound(DomainError):
    def __init__(self, what: str, ident: object):
        super().__init__(404, "not_found", f"{what} {ident} does not exist")


class Conflict(DomainError):
    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(409, "conflict", message, details)


class Invalid(DomainError):
    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        merged = dict(details or {})
        if field is not None:
            merged["field"] = field
        super().__init__(422, "invalid", message, merged)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": {"code": exc.code, "message": exc.message, **exc.details}},
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes the offending value back ("input"); a token or password sent in the wrong
        # field would then sit in the response and in whatever logs it. Location and reason suffice.
        errors = [
            {key: error[key] for key in ("type", "loc", "msg") if key in error} for error in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})

    @app.exception_handler(DataError)
    async def _unstorable_value(_request: Request, _exc: DataError) -> JSONResponse:
        # The database refused a value the schema let through (PostgreSQL text cannot hold NUL
        # characters; a number out of range): the request's fault. The driver's text may quote the
        # value, so it is not echoed.
        return JSONResponse(
            status_code=422,
            content={
                "detail": {
                    "code": "unstorable_value",
                    "message": "a value in the request cannot be stored (text with a NUL character?)",
                }
            },
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DisconnectionError)
    async def _database_unavailable(_request: Request, _exc: Exception) -> JSONResponse:
        # A restarting database is a temporary condition, not a server bug.
        return JSONResponse(
            status_code=503,
            content={"detail": {"code": "database_unavailable", "message": "database unavailable, retry"}},
            headers={"Retry-After": "2"},
        )
