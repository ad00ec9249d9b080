"""The two ways an upload is refused; both render through the app's one DomainError handler."""

from __future__ import annotations

from backend.datasets.rows import RowError
from backend.errors import DomainError


class InvalidDataset(DomainError):
    """422 `invalid_dataset` with the first errors ({line, field, message}) and their total count."""

    def __init__(self, message: str, errors: list[RowError], error_count: int | None = None):
        super().__init__(
            422,
            "invalid_dataset",
            message,
            {
                "errors": [error.as_dict() for error in errors],
                "error_count": len(errors) if error_count is None else error_count,
            },
        )


class FileTooLarge(DomainError):
    """413, raised while the body is still streaming in: nothing past the limit is read."""

    def __init__(self, limit_bytes: int):
        super().__init__(
            413,
            "file_too_large",
            f"the upload is over the {limit_bytes}-byte limit",
            {"limit_bytes": limit_bytes},
        )
