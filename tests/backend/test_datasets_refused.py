"""Uploads that must be refused: the status, the error's line and field, and nothing stored.

Covers issue 2's "Bad input" rules and issue 8's hostile uploads (NUL bytes, invalid UTF-8, a
10 MB line, deep nesting, an oversized body streamed and cut at the limit).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.settings import get_settings
from tests.backend.datasets_support import create_skill, jsonl, refusal, stored_counts, upload, use_settings

GOOD = {"prompt": "What is 2+2?", "response": "4"}


def nested(depth: int) -> dict[str, Any]:
    value: Any = []
    for _ in range(depth - 2):  # the row object and the outermost list make two levels
        value = [value]
    return {**GOOD, "extra": value}


def assert_nothing_stored(db_session: Session) -> None:
    assert stored_counts(db_session) == (0, 0)
    uploads = get_settings().data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "temporary upload files left behind"


@pytest.mark.parametrize(
    ("content", "line", "field", "message"),
    [
        (b"", None, "file", "empty"),
        (b"\n  \r\n\t\n", None, "file", "empty"),
        (b"[]", None, "file", "no rows"),
        (b"prompt,response\r\n", None, "file", "no rows"),
        (b"question;answer\nq;a\n", 1, None, "unrecognised format"),
        (jsonl(GOOD) + b'{"prompt": "caf\xe9", "response": "a"}\n', 2, None, "not valid UTF-8"),
        (jsonl(GOOD) + b'{"prompt": "q\x00", "response": "a"}\n', 2, None, "NUL byte"),
        (jsonl(GOOD) + jsonl({"prompt": "q", "response": "a\u0000"}), 2, "response", "NUL character"),
        (jsonl(GOOD, {"prompt": " ", "response": "a"}), 2, "prompt", "is empty"),
        (jsonl(GOOD, {"prompt": "q", "response": ""}), 2, "response", "is empty"),
        (
            jsonl({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}),
            1,
            "messages[1].content",
            "is empty",
        ),
        (
            jsonl(
                {"messages": [{"role": "developer", "content": "q"}, {"role": "assistant", "content": "a"}]}
            ),
            1,
            "messages[0].role",
            "not one of system, user, assistant",
        ),
        (
            jsonl({"prompt": [{"role": "tool", "content": "q"}], "response": "a"}),
            1,
            "prompt[0].role",
            "not one of",
        ),
        (jsonl(GOOD, GOOD, {**GOOD, "split": "validation"}), 3, "split", "train, eval"),
        (b"prompt,response,split\nq,a,test\n", 2, "split", "train, eval"),
        (jsonl(GOOD, nested(33)), 2, None, "nested deeper than 32 levels"),
        (jsonl(GOOD) + b'{"prompt": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n", 2, None, "nested deeper"),
        (
            b"[\n" + json.dumps(GOOD).encode() + b",\n" + json.dumps(nested(40)).encode() + b"\n]",
            3,
            None,
            "nested",
        ),
        (b"[\n" + json.dumps(GOOD).encode() + b",\n" + json.dumps(GOOD).encode(), 3, None, "not closed"),
        (b"prompt,response\nq,a\nq,a,extra\n", 3, None, "3 fields, the header has 2"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "empty-array",
        "csv-header-only",
        "unknown-format",
        "invalid-utf8",
        "nul-byte",
        "nul-escape",
        "empty-prompt",
        "empty-response",
        "empty-demonstration-turn",
        "role-developer",
        "role-tool",
        "bad-split",
        "bad-split-csv",
        "depth-33",
        "depth-50000",
        "depth-array",
        "unclosed-array",
        "csv-extra-field",
    ],
)
def test_bad_input_is_refused_by_line_and_field(
    client: TestClient, db_session: Session, content: bytes, line: int | None, field: str | None, message: str
) -> None:
    detail = refusal(upload(client, create_skill(client), content))
    assert detail["code"] == "invalid_dataset"
    assert (detail["errors"][0]["line"], detail["errors"][0]["field"]) == (line, field)
    assert message in detail["errors"][0]["message"]
    assert detail["error_count"] == len(detail["errors"])
    assert_nothing_stored(db_session)


def test_ten_megabyte_single_line_is_refused(client: TestClient, db_session: Session) -> None:
    huge_line = b'{"prompt": "' + b"x" * (10 << 20) + b'", "response": "a"}\n'
    detail = refusal(upload(client, create_skill(client), jsonl(GOOD) + huge_line + jsonl(GOOD)))
    assert [(e["line"], e["field"]) for e in detail["errors"]] == [(2, None)]
    assert "over the 1048576-byte limit" in detail["errors"][0]["message"]
    assert_nothing_stored(db_session)


def test_errors_are_listed_up_to_100_with_the_total(client: TestClient, db_session: Session) -> None:
    content = jsonl(*[{"prompt": "q", "response": ""}] * 150, GOOD)
    detail = refusal(upload(client, create_skill(client), content))
    assert len(detail["errors"]) == 100 and detail["error_count"] == 150
    assert detail["errors"][-1]["line"] == 100
    assert "150 of 151 rows are invalid" in detail["message"] and "on_error=skip" in detail["message"]
    assert_nothing_stored(db_session)


def test_skip_still_refuses_a_file_with_no_valid_rows_or_an_unreadable_file(
    client: TestClient, db_session: Session
) -> None:
    skill_id = create_skill(client)
    detail = refusal(upload(client, skill_id, jsonl({"prompt": "q"}, {"response": "a"}), on_error="skip"))
    assert "no valid rows" in detail["message"] and detail["error_count"] == 2
    # An unclosed JSON array is not a row error: the rest of the file cannot be trusted.
    truncated = b"[" + json.dumps(GOOD).encode() + b",\n" + json.dumps(GOOD).encode()[:10]
    detail = refusal(upload(client, skill_id, truncated, on_error="skip"))
    assert detail["errors"][-1]["line"] == 2 and "not closed" in detail["errors"][-1]["message"]
    assert refusal(upload(client, skill_id, b"", on_error="skip"))["errors"][0]["field"] == "file"
    assert client.post(f"/api/skills/{skill_id}/datasets", params={"on_error": "ignore"}).status_code == 422
    assert_nothing_stored(db_session)


def test_configured_limits_are_applied(client: TestClient, db_session: Session) -> None:
    skill_id = create_skill(client)
    use_settings(client, max_line_bytes=100, max_json_depth=3, max_examples=2)
    long_line = refusal(upload(client, skill_id, jsonl(GOOD, {"prompt": "q" * 100, "response": "a"})))
    assert (
        long_line["errors"][0]["line"] == 2 and "over the 100-byte limit" in long_line["errors"][0]["message"]
    )
    deep = refusal(upload(client, skill_id, jsonl({**GOOD, "extra": [[[1]]]})))  # depth 4
    assert deep["errors"][0]["line"] == 1 and "deeper than 3 levels" in deep["errors"][0]["message"]
    many = refusal(upload(client, skill_id, jsonl(GOOD, GOOD, GOOD)))
    assert many["errors"][0]["line"] == 3 and "more than 2 rows" in many["errors"][0]["message"]
    assert_nothing_stored(db_session)


def test_declared_oversized_body_is_refused_before_reading(client: TestClient, db_session: Session) -> None:
    skill_id = create_skill(client)
    use_settings(client, max_upload_bytes=1000)
    detail = refusal(upload(client, skill_id, jsonl(GOOD) * 5000), 413)
    assert detail["code"] == "file_too_large" and detail["limit_bytes"] == 1000
    # A file just over the limit inside a body under the multipart allowance is cut at the file's limit.
    detail = refusal(upload(client, skill_id, b"x" * 1001), 413)
    assert detail["code"] == "file_too_large"
    assert upload(client, skill_id, jsonl(GOOD)).status_code == 201
    assert stored_counts(db_session) == (1, 1)


def test_oversized_chunked_body_is_cut_while_streaming(client: TestClient, db_session: Session) -> None:
    """No Content-Length: the body is counted as it arrives and the upload stops at the limit."""
    skill_id = create_skill(client)
    use_settings(client, max_upload_bytes=100_000)
    chunk = jsonl(GOOD) * 250  # ~10 KB
    offered_chunks = 5_000  # ~50 MB offered
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled == 1:
            body = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
        elif pulled <= offered_chunks:
            body = chunk
        else:
            return {"type": "http.request", "body": b"\r\n--cut--\r\n", "more_body": False}
        return {"type": "http.request", "body": body, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/skills/{skill_id}/datasets",
        "raw_path": f"/api/skills/{skill_id}/datasets".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=cut"),
            (b"host", b"testserver"),
            (b"authorization", client.headers["authorization"].encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    assert start["status"] == 413 and json.loads(body)["detail"]["code"] == "file_too_large"
    assert pulled < 20, f"read {pulled} chunks of {offered_chunks} before cutting"
    assert_nothing_stored(db_session)


def test_malformed_multipart_requests(client: TestClient, db_session: Session) -> None:
    skill_id = create_skill(client)
    url = f"/api/skills/{skill_id}/datasets"
    no_file = refusal(client.post(url, data={"other": "x"}, files={"attachment": ("a.jsonl", jsonl(GOOD))}))
    assert no_file["errors"][0]["field"] == "file" and "no field named 'file'" in no_file["message"]
    two = refusal(client.post(url, files=[("file", ("a", jsonl(GOOD))), ("file", ("b", jsonl(GOOD)))]))
    assert two["errors"][0]["field"] == "file"
    cut_short = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n' + jsonl(GOOD)
    truncated = refusal(
        client.post(url, content=cut_short, headers={"content-type": "multipart/form-data; boundary=b"})
    )
    assert "closing boundary" in truncated["message"]
    garbage = client.post(
        url, content=b"\x00\xff" * 100, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert garbage.status_code == 422
    json_body = refusal(client.post(url, json=GOOD), 415)
    assert json_body["code"] == "unsupported_media_type"
    assert_nothing_stored(db_session)


def test_preview_of_an_oversized_file_is_refused_too(client: TestClient, db_session: Session) -> None:
    skill_id = create_skill(client)
    use_settings(client, max_upload_bytes=1000)
    response = client.post(f"/api/skills/{skill_id}/datasets/preview", files={"file": ("x", b"y" * 5000)})
    assert refusal(response, 413)["code"] == "file_too_large"
    assert_nothing_stored(db_session)


@pytest.mark.parametrize("on_error", ["reject", "skip"])
def test_a_problem_after_many_stored_rows_leaves_nothing(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch, on_error: str
) -> None:
    """Rows are stored as the file is read (several batches, or one COPY, are already in when the
    last line is read): a refusal found there still leaves no version and no row."""
    from backend.datasets import service

    monkeypatch.setattr(service, "INSERT_BATCH_ROWS", 4)
    skill_id = create_skill(client)
    rows = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(30)]
    if on_error == "reject":
        detail = refusal(upload(client, skill_id, jsonl(*rows, {"prompt": "q", "response": 5})))
        assert [(e["line"], e["field"]) for e in detail["errors"]] == [(31, "response")]
        assert "1 of 31 rows are invalid" in detail["message"]
    else:
        # Skip stores every valid row, so the refusal comes only from the row limit at the end.
        use_settings(client, max_examples=29)
        detail = refusal(upload(client, skill_id, jsonl(*rows), on_error="skip"))
        assert detail["errors"][-1]["line"] == 30 and "more than 29 rows" in detail["errors"][-1]["message"]
    assert_nothing_stored(db_session)
