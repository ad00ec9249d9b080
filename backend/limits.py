"""A cap on every request body, counted while it streams in (Starlette has none of its own).

JSON bodies of this API are small (a skill, a job config); a client that sends megabytes is cut
at `max_json_body_bytes` with a 413 before the body is parsed or held whole. Multipart uploads
stream to disk under their own, larger limit (backend/datasets/upload.py), so they get that one
here, plus room for the multipart framing.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.settings import get_settings

MULTIPART_OVERHEAD_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised from the counted `receive`: an HTTPException, so FastAPI's body reading passes it on
    (any other error there becomes a 400) and the app's handler renders it."""

    def __init__(self, limit: int):
        super().__init__(
            status_code=413,
            detail={
                "code": "body_too_large",
                "message": f"the request body is over the {limit}-byte limit",
                "limit_bytes": limit,
            },
            headers={"Connection": "close"},
        )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(send, limit)


def _limit_for(scope: Scope) -> int:
    settings = get_settings()
    content_type = (_header(scope, b"content-type") or "").lower()
    if content_type.startswith("multipart/form-data"):
        return settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    return settings.max_json_body_bytes


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "detail": {
            "code": "body_too_large",
            "message": f"the request body is over the {limit}-byte limit",
            "limit_bytes": limit,
        }
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
