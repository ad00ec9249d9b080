"""Secrets scrubbing: `scrub_secrets` masks anything secret-looking in text before it is stored as a
job's error or written to a log.

Masked: Hugging Face tokens (hf_...), Apprentice's own tokens and session ids (apt_..., aps_...),
`Bearer ...` credentials, the password in URLs (postgresql://user:pass@host keeps user and host),
`password=...`/`token: ...`-style assignments, and the literal values of secret environment
variables and settings (HF_TOKEN, POSTGRES_PASSWORD, the database and broker URL passwords, ...),
wherever they appear. `install_log_scrubbing` applies it to every log record of the process.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"
# A secret value shorter than this is not searched for literally: masking "1" or "true" everywhere
# would destroy the text and protect nothing.
MIN_LITERAL = 6
SECRET_ENV_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:@/\s]*:)[^@/\s]+@"), rf"\g<head>{MASK}@"),
    (re.compile(r"\bhf_[A-Za-z0-9]{8,}"), f"hf_{MASK}"),
    (re.compile(r"\b(?P<kind>apt|aps)_[A-Za-z0-9_\-]{8,}"), rf"\g<kind>_{MASK}"),
    (re.compile(r"(?i)\b(?P<head>bearer\s+)[A-Za-z0-9._~+/=\-]{6,}"), rf"\g<head>{MASK}"),
    # password=..., "hf_token": "...", api_key: ..., Authorization: Basic ... (not pad_token=, max_tokens=)
    (
        re.compile(
            r"(?i)(?P<head>\b(?:[a-z0-9]+_)*(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|"
            r"secret[_-]?key|private[_-]?key|credentials?)"
            r"|\b(?:hf_|hub_|api_|auth_|access_|refresh_|bearer_|github_)?token"
            r"|\bauthorization)"
            r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?:basic\s+|bearer\s+)?(?P<value>[^\s\"',;&}\]]+)"
        ),
        rf"\g<head>\g<sep>{MASK}",
    ),
]


def secret_values() -> list[str]:
    """Literal secrets of this process: values of secret-named environment variables and the
    passwords inside the configured database and broker URLs; longest first. Recomputed only
    when the environment or those settings change (scrubbing runs on every log record)."""
    # os.environ's raw mapping changes whenever the environment does and is cheap to compare;
    # decoding every variable on every log record is not.
    raw = getattr(os.environ, "_data", None)
    fingerprint = tuple(raw.items()) if isinstance(raw, dict) else tuple(os.environ.items())
    urls = [os.environ.get("DATABASE_URL", ""), os.environ.get("CELERY_BROKER_URL", "")]
    try:
        from backend.settings import get_settings

        settings = get_settings()
        urls += [settings.database_url, settings.celery_broker_url]
    except Exception:  # noqa: BLE001 - scrubbing must work even when settings cannot be read
        pass
    key = (fingerprint, tuple(urls))
    if _cache.get("key") != key:
        _cache["key"], _cache["values"] = key, _secret_values(tuple(os.environ.items()), urls)
    return _cache["values"]  # type: ignore[return-value]


_cache: dict[str, object] = {}


def _secret_values(environ: tuple[tuple[str, str], ...], urls: list[str]) -> list[str]:
    found = {value for name, value in environ if SECRET_ENV_NAME.search(name)}
    for url in urls:
        password = _url_password(url)
        if password:
            found |= {password, unquote(password)}
    return sorted((v for v in found if len(v) >= MIN_LITERAL), key=len, reverse=True)


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password if "://" in url else None
    except ValueError:
        return None


def scrub_secrets(text: str, *, extra: Iterable[str] = ()) -> str:
    """`text` with every secret it contains replaced by ***; `extra` adds literal secrets."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for value in [*secret_values(), *(v for v in extra if len(v) >= MIN_LITERAL)]:
        if value in text:
            text = text.replace(value, MASK)
    return text


def _scrub_arg(value: Any) -> Any:
    return scrub_secrets(value) if isinstance(value, str) else value


def _scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is logging's to report, not ours
        message = None
    if message is not None and scrub_secrets(message) != message:
        _scrub_message(record, message)
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when it is set, so every handler prints the scrubbed traceback.
        record.exc_text = scrub_secrets(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub_secrets(record.stack_info)
    return record


def _scrub_message(record: logging.LogRecord, message: str) -> None:
    """Scrub the format string and the arguments separately when that suffices (formatters such as
    uvicorn's access log read the arguments); else keep the formatted, scrubbed text alone."""
    msg = scrub_secrets(record.msg) if isinstance(record.msg, str) else record.msg
    args: Any = record.args
    if isinstance(args, dict):
        args = {key: _scrub_arg(value) for key, value in args.items()}
    elif isinstance(args, tuple):
        args = tuple(_scrub_arg(value) for value in args)
    try:
        formatted = str(msg) % args if args else str(msg)
    except (TypeError, ValueError, KeyError):
        formatted = None
    if formatted is not None and scrub_secrets(formatted) == formatted:
        record.msg, record.args = msg, args
    else:  # a secret split across the format string and its arguments
        record.msg, record.args = scrub_secrets(message), None


def install_log_scrubbing() -> None:
    """Scrub every log record this process makes, whichever handler or formatter writes it
    (uvicorn's, Celery's, ours). Idempotent."""
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(previous, "scrubs_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _scrub_record(previous(*args, **kwargs))

    factory.scrubs_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
