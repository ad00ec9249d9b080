"""Secrets scrubbing: the function itself, the logs of a process that installed it, and a failed
job's error as stored and as the API returns it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.jobs import lifecycle
from backend.jobs.models import Job
from backend.scrub import install_log_scrubbing, scrub_secrets, secret_values
from backend.settings import get_settings
from tests.backend.datasets_support import jsonl

HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345"
DB_PASSWORD = "s3cr3t-Db-pass"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"401 Client Error for https://huggingface.co/api/models (token {HF})", HF),
        ("connection to postgresql+psycopg://apprentice:hunter2xyz@db:5432/apprentice failed", "hunter2xyz"),
        ("redis://:r3dis-pass@cache:6379/0 refused", "r3dis-pass"),
        (
            "headers={'Authorization': 'Bearer apt_q9W8e7R6t5Y4u3I2o1P0aSdFgHjKl'}",
            "apt_q9W8e7R6t5Y4u3I2o1P0aSdFgHjKl",
        ),
        ("Authorization: Basic YWRtaW46aHVudGVyMg==", "YWRtaW46aHVudGVyMg=="),
        ("cookie apprentice_session=aps_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2", "aps_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"),
        ('config {"hf_token": "abc123secretvalue", "steps": 3}', "abc123secretvalue"),
        ("login failed: password=correct-horse-battery", "correct-horse-battery"),
        ("AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMIK7MDENG", "wJalrXUtnFEMIK7MDENG"),
        ("api_key='sk-proj-1234567890abcdef'", "sk-proj-1234567890abcdef"),
    ],
)
def test_each_kind_of_secret_is_masked(text: str, secret: str) -> None:
    scrubbed = scrub_secrets(text)
    assert secret not in scrubbed and "***" in scrubbed


def test_ordinary_text_is_left_alone() -> None:
    for text in (
        "CUDA out of memory. Tried to allocate 2.00 GiB",
        "tokenizer has no pad_token=None; set tokenizer.pad_token = tokenizer.eos_token",
        "max_new_tokens=256 exceeds the model's context of 2048 tokens",
        "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct not found",
        "the bearer token is invalid, expired or revoked",
        "postgresql+psycopg://apprentice@db:5432/apprentice (no password in it)",
        "",
    ):
        assert scrub_secrets(text) == text
    # The URL keeps its user and host, so the message still says where it failed.
    assert scrub_secrets("postgresql://app:pw-long-1@db:5432/x") == "postgresql://app:***@db:5432/x"


def test_values_of_secret_env_vars_and_settings_are_masked_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "plain-token-without-prefix")
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "Tr0ub4dor&3")
    monkeypatch.setenv("SHORT_SECRET", "abc")  # too short to search for literally
    monkeypatch.setattr(get_settings(), "celery_broker_url", f"redis://:{DB_PASSWORD}@cache:6379/0")
    assert {"plain-token-without-prefix", "Tr0ub4dor&3", DB_PASSWORD} <= set(secret_values())
    assert "abc" not in secret_values()
    text = f"echoed plain-token-without-prefix, then Tr0ub4dor&3 and {DB_PASSWORD} (abc stays)"
    assert scrub_secrets(text) == "echoed ***, then *** and *** (abc stays)"
    assert scrub_secrets("user-supplied value", extra=["supplied"]) == "user-*** value"


@pytest.fixture()
def captured_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    install_log_scrubbing()
    install_log_scrubbing()  # idempotent
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_log_records_are_scrubbed_in_message_arguments_and_tracebacks(
    captured_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured_log
    logger.warning("download with %s failed", HF)
    logger.warning("database at %(url)s is down", {"url": "postgresql://u:pg-pass-123@db/x"})
    logger.warning("password=%s", "split-across-args")  # the secret only shows once formatted
    try:
        raise RuntimeError(f"hub said no to {HF}")
    except RuntimeError:
        logger.exception("job failed")
    output = stream.getvalue()
    for secret in (HF, "pg-pass-123", "split-across-args"):
        assert secret not in output, output
    assert "download with hf_*** failed" in output and "postgresql://u:***@db/x" in output
    assert "Traceback" in output and "RuntimeError: hub said no to hf_***" in output


def _failed_job(client: TestClient, db_session: Session, error: str) -> int:
    skill = client.post("/api/skills", json={"name": "s"}).json()
    version = client.post(
        f"/api/skills/{skill['id']}/datasets",
        files={"file": ("d.jsonl", jsonl(*[{"prompt": f"q{i}", "response": "a"} for i in range(3)]))},
    ).json()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()
    job = client.post(
        f"/api/tracks/{track['id']}/jobs",
        json={"skill_id": skill["id"], "dataset_version_id": version["id"], "evaluate": False},
    ).json()
    claim = lifecycle.claim(db_session, job["id"], worker_id="w", lease_seconds=60)
    assert claim is not None
    assert lifecycle.finish(db_session, job["id"], claim.attempt, state="failed", error=error)
    db_session.commit()
    return int(job["id"])


def test_a_failed_jobs_error_is_stored_and_served_without_secrets(
    client: TestClient, db_session: Session
) -> None:
    error = f"OSError: 401 for https://huggingface.co (token={HF}); db postgresql://app:{DB_PASSWORD}@db/x"
    job_id = _failed_job(client, db_session, error)
    stored = db_session.get(Job, job_id)
    assert stored is not None and stored.error is not None
    assert HF not in stored.error and DB_PASSWORD not in stored.error and "OSError: 401" in stored.error
    for path in (f"/api/jobs/{job_id}", "/api/jobs", f"/api/jobs/{job_id}/events"):
        body = client.get(path).text
        assert HF not in body and DB_PASSWORD not in body, path
    # An error stored before scrubbing existed is masked when it is served.
    db_session.execute(update(Job).where(Job.id == job_id).values(error=f"old: {HF}"))
    db_session.commit()
    assert client.get(f"/api/jobs/{job_id}").json()["error"] == "old: hf_***"
