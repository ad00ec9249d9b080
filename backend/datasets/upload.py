"""Receive a multipart upload straight to a temporary file, cutting the body at the size limit.

Starlette has no global body limit, and FastAPI's `UploadFile` parses the whole multipart body
(spooling it to disk) before the route runs. So upload routes read `request.stream()`
themselves: a declared Content-Length over the limit is refused before a byte is read, and a
chunked body is counted as it arrives and cut (413) the moment it passes the limit. The part
named `file` is written to disk as it streams, never held in memory.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from backend.datasets.errors import FileTooLarge, InvalidDataset
from backend.datasets.rows import RowError
from backend.errors import DomainError

FILE_FIELD = "file"
# Boundaries, part headers and small form fields around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_FILENAME_CHARS = 255
_UNSAFE_FILENAME_CHARS = re.compile(r"[\x00-\x1f\x7f]")

# The request body the upload endpoints accept, for the OpenAPI document (the routes read the
# stream themselves, so FastAPI cannot infer it).
UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "JSONL, a JSON array of objects, or CSV (detected from the content)",
                        }
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class ReceivedFile:
    path: Path
    filename: str
    size: int


@dataclass
class _Parts:
    """State of the multipart callbacks: which part is being read and where the file goes."""

    out: BinaryIO
    max_file_bytes: int
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""
    in_file: bool = False
    found: bool = False
    filename: str = ""
    size: int = 0
    ended: bool = False

    def on_part_begin(self) -> None:
        self.disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        self.in_file = options.get(b"name") == FILE_FIELD.encode()
        if self.in_file:
            if self.found:
                raise InvalidDataset(
                    "send exactly one file", [RowError(None, FILE_FIELD, "more than one file")]
                )
            self.found = True
            self.filename = safe_filename(options.get(b"filename", b""))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            return  # other form fields are ignored; the body limit still bounds them
        self.size += end - start
        if self.size > self.max_file_bytes:
            raise FileTooLarge(self.max_file_bytes)
        # A plain blocking write: a chunk (at most 64 KiB from uvicorn) lands in the page cache in
        # microseconds, cheaper than a hop to the thread pool.
        self.out.write(data[start:end])

    def on_part_end(self) -> None:
        self.in_file = False

    def on_end(self) -> None:
        self.ended = True


def safe_filename(raw: bytes) -> str:
    """A display name only (never used as a path): last path component, no control characters."""
    name = raw.decode("utf-8", errors="replace").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME_CHARS.sub("", name).strip()
    if name in (".", ".."):
        name = ""
    return name[:MAX_FILENAME_CHARS] or "upload"


@asynccontextmanager
async def received_file(
    request: Request, *, dest_dir: Path, max_file_bytes: int
) -> AsyncIterator[ReceivedFile]:
    """Stream the multipart field `file` to a temporary file in dest_dir; deleted on exit."""
    media_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise DomainError(
            415,
            "unsupported_media_type",
            f"send multipart/form-data with the file in a field named {FILE_FIELD!r}",
        )
    max_body_bytes = max_file_bytes + MULTIPART_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        raise FileTooLarge(max_file_bytes)

    dest_dir.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=dest_dir, prefix="upload-", suffix=".part")
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as out:
            parts = _Parts(out=out, max_file_bytes=max_file_bytes)
            parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": parts.on_part_begin,
                    "on_header_field": parts.on_header_field,
                    "on_header_value": parts.on_header_value,
                    "on_header_end": parts.on_header_end,
                    "on_headers_finished": parts.on_headers_finished,
                    "on_part_data": parts.on_part_data,
                    "on_part_end": parts.on_part_end,
                    "on_end": parts.on_end,
                },
            )
            received = 0
            try:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > max_body_bytes:
                        raise FileTooLarge(max_file_bytes)
                    parser.write(chunk)
                parser.finalize()
            except FormParserError as exc:
                raise _invalid_upload(f"the body is not valid multipart/form-data ({exc})") from None
        if not parts.found:
            raise _invalid_upload(f"no field named {FILE_FIELD!r} in the form")
        if not parts.ended:
            raise _invalid_upload("the multipart body ended before its closing boundary (upload cut short?)")
        yield ReceivedFile(path=path, filename=parts.filename, size=parts.size)
    finally:
        path.unlink(missing_ok=True)


def _invalid_upload(message: str) -> InvalidDataset:
    return InvalidDataset(message, [RowError(None, FILE_FIELD, message)])
