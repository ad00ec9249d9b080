"""Hostile input the dataset refusal tests (test_datasets_refused.py) do not cover: each checks the
answer and that nothing was stored or changed. Uploads' own limits, NUL bytes, invalid UTF-8, deep
nesting and the 10 MB line are there; model roots and trust_remote_code are in test_auth_roles.py."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from backend.datasets.export import neutralise_formula
from backend.settings import get_settings
from backend.skills.models import Skill
from backend.tracks.models import Track
from tests.backend.datasets_support import create_skill, jsonl, stored_counts, upload

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "=cmd|' /C calc'!A0"]


def _count(session: Session, model: type) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _export(client: TestClient, version_id: int) -> list[dict[str, str]]:
    response = client.get(f"/api/datasets/{version_id}/export.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="dataset-{version_id}-v1.csv"'
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def test_exported_csv_neutralises_formulas_in_every_column(client: TestClient) -> None:
    rows = [
        {"prompt": f"{formula} prompt", "response": formula, "context": formula, "reference": formula}
        for formula in FORMULAS
    ]
    version = upload(client, create_skill(client), jsonl(*rows)).json()
    exported = _export(client, version["id"])
    stored = client.get(f"/api/datasets/{version['id']}/examples").json()["items"]
    assert len(exported) == len(stored) == len(FORMULAS)
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    for row, example in zip(exported, stored, strict=True):
        assert not any(cell.startswith(dangerous) for cell in row.values()), row
        assert row["response"] == neutralise_formula(example["demonstration"])
        assert row["reference"] == neutralise_formula(example["reference"])
    assert sum(row["response"].startswith("'") for row in exported) >= len(FORMULAS) - 1
    assert [neutralise_formula(text) for text in ("plain", " =spaced", "a=b", "")] == [
        "plain",
        " =spaced",
        "a=b",
        "",
    ]


def test_a_benign_export_uploads_back_as_the_same_version(client: TestClient, db_session: Session) -> None:
    skill_id = create_skill(client)
    rows = [
        {"prompt": f"What is {i}+{i}?", "response": f'{2 * i}, with "quotes",\ncommas', "split": "train"}
        for i in range(5)
    ]
    rows.append(
        {"prompt": "held out", "response": "yes", "split": "eval", "reference": "yes", "context": "ctx"}
    )
    version = upload(client, skill_id, jsonl(*rows)).json()
    exported = client.get(f"/api/datasets/{version['id']}/export.csv").content
    again = upload(client, skill_id, exported, filename="export.csv")
    assert again.status_code == 200 and again.json()["id"] == version["id"]
    assert stored_counts(db_session) == (1, 6)


def test_json_bodies_over_the_limit_are_cut_while_streaming(client: TestClient, db_session: Session) -> None:
    limit = get_settings().max_json_body_bytes
    big = json.dumps({"name": "big", "description": "x" * (limit + 10)})
    declared = client.post("/api/skills", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["detail"]["code"] == "body_too_large"

    pulled = 0

    async def receive() -> dict[str, Any]:  # no Content-Length: 64 KiB chunks, 100 MB offered
        nonlocal pulled
        pulled += 1
        body = b'{"name": "big", "description": "' if pulled == 1 else b"x" * 65536
        return {"type": "http.request", "body": body, "more_body": pulled < 1600}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/skills",
        "raw_path": b"/api/skills",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"host", b"testserver"),
            (b"authorization", client.headers["authorization"].encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    assert next(m for m in sent if m["type"] == "http.response.start")["status"] == 413
    assert pulled <= limit // 65536 + 2, f"read {pulled} chunks before cutting"
    assert _count(db_session, Skill) == 0


def test_deeply_nested_json_bodies_are_refused(client: TestClient, db_session: Session) -> None:
    deep = '{"name": "x", "scorer_config": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    response = client.post("/api/skills", content=deep, headers={"content-type": "application/json"})
    assert response.status_code in (400, 413, 422)
    assert _count(db_session, Skill) == 0


@pytest.mark.parametrize(
    "filename",
    [
        "../../../../etc/passwd",
        "..\\..\\windows\\system32\\evil.jsonl",
        "/absolute/path.jsonl",
        "nul\x00byte.jsonl",
        "bell\x07\x1b[31mred.jsonl",
        "a" * 1000 + ".jsonl",
        "..",
        "",
    ],
    ids=["traversal", "backslashes", "absolute", "nul", "control", "long", "dotdot", "empty"],
)
def test_odd_upload_file_names_are_only_a_display_name(client: TestClient, filename: str) -> None:
    data_dir = get_settings().data_dir
    before = {path for path in data_dir.rglob("*") if "uploads" not in path.parts}
    response = upload(
        client, create_skill(client), jsonl({"prompt": "q", "response": "a"}), filename=filename
    )
    assert response.status_code == 201, response.text
    stored = response.json()["filename"]
    assert "/" not in stored and "\\" not in stored and stored not in ("..", ".")
    assert not any(ord(char) < 32 or ord(char) == 127 for char in stored) and 1 <= len(stored) <= 255
    after = {path for path in data_dir.rglob("*") if "uploads" not in path.parts}
    new = {path.name for path in after - before}
    assert new <= {"apprentice.db-journal", "apprentice.db-wal", "apprentice.db-shm"}, new
    assert not list((data_dir / "uploads").glob("*"))


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "tab\there", "nul\x00", "new\nline", ""])
def test_names_with_path_or_control_characters_are_refused(
    client: TestClient, db_session: Session, name: str
) -> None:
    assert client.post("/api/skills", json={"name": name}).status_code == 422
    assert client.post("/api/tracks", json={"name": name, "base_model": "tiny"}).status_code == 422
    assert client.post("/api/projects", json={"name": name}).status_code == 422
    assert (_count(db_session, Skill), _count(db_session, Track)) == (0, 0)


def test_compressed_uploads_are_not_inflated(client: TestClient, db_session: Session) -> None:
    """No upload is decompressed: a gzip bomb stays a few kilobytes of binary that is refused."""
    bomb = gzip.compress(b'{"prompt": "q", "response": "' + b"a" * 20_000_000 + b'"}\n', compresslevel=9)
    assert len(bomb) < 100_000
    skill_id = create_skill(client)
    as_file = upload(client, skill_id, bomb, filename="demos.jsonl.gz")
    assert as_file.status_code == 422
    encoded = client.post(
        f"/api/skills/{skill_id}/datasets",
        files={"file": ("demos.jsonl", bomb)},
        headers={"content-encoding": "gzip"},
    )
    assert encoded.status_code == 422
    assert stored_counts(db_session) == (0, 0)


def _checkpoint(session: Session, client: TestClient, path: str) -> int:
    track = client.post(
        "/api/tracks", json={"name": f"t{path.count('/')}{len(path)}", "base_model": "tiny"}
    ).json()
    checkpoint = Checkpoint(
        track_id=track["id"], parent_id=track["head_checkpoint_id"], kind="skill", path=path
    )
    session.add(checkpoint)
    session.commit()
    return checkpoint.id


@pytest.mark.parametrize("path", ["../../../../etc", "/etc", "checkpoints/../../..", "checkpoints/\x00"])
def test_a_checkpoint_path_outside_the_artifact_store_is_never_served(
    client: TestClient, db_session: Session, path: str
) -> None:
    if "\x00" in path and db_session.get_bind().dialect.name == "postgresql":
        pytest.skip("PostgreSQL cannot even store a NUL in a path")
    checkpoint_id = _checkpoint(db_session, client, path)
    response = client.get(f"/api/checkpoints/{checkpoint_id}/download")
    assert response.status_code in (410, 422), response.text
    assert b"root:" not in response.content


def test_a_symlink_inside_a_checkpoint_is_not_followed_into_the_tar(
    client: TestClient, db_session: Session
) -> None:
    folder = get_settings().artifacts_dir / "checkpoints" / "evil"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    os.symlink("/etc/passwd", folder / "passwd")
    os.symlink("/etc", folder / "etc")
    checkpoint_id = _checkpoint(db_session, client, "checkpoints/evil")
    response = client.get(f"/api/checkpoints/{checkpoint_id}/download")
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        names = tar.getnames()
    assert names == [f"apprentice-checkpoint-{checkpoint_id}/model.safetensors"]


class _Trap:
    """Unpickling this writes a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (os.system, (f"touch {self.marker}", "x")[:1])  # type: ignore[return-value]


def _pickle_folder(folder: Path, marker: Path) -> None:
    import pickle

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 32}))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Trap(marker)))


def test_a_pickled_model_folder_is_refused_without_unpickling(tmp_path: Path) -> None:
    from worker.sdft.models import ModelError, load_model

    marker = tmp_path / "pwned"
    folder = tmp_path / "models" / "pickled"
    _pickle_folder(folder, marker)
    with pytest.raises(ModelError, match="pickled weights are refused"):
        load_model(str(folder), models_dir=tmp_path / "models")
    assert not marker.exists()


def test_a_pickle_offered_as_a_checkpoint_is_refused_without_unpickling(tmp_path: Path) -> None:
    from worker.sdft.checkpoints import CheckpointError, load_checkpoint, write_folder_atomically

    marker = tmp_path / "pwned"
    source = tmp_path / "source"
    _pickle_folder(source, marker)

    def copy(tmp: Path) -> None:
        for path in source.iterdir():
            (tmp / path.name).write_bytes(path.read_bytes())

    sealed = write_folder_atomically(tmp_path / "checkpoint", copy, manifest={"kind": "full"})
    with pytest.raises((CheckpointError, OSError, ValueError)):
        load_checkpoint(sealed, models_dir=tmp_path / "models")
    assert not marker.exists()


def test_nul_characters_in_json_fields_never_make_a_server_error(
    client: TestClient, db_session: Session
) -> None:
    """SQLite stores them; PostgreSQL's text cannot hold them, which must be a 422, not a 500."""
    skill = client.post("/api/skills", json={"name": "nul", "description": "before\u0000after"})
    assert skill.status_code in (201, 422), skill.text
    if skill.status_code == 422:
        assert skill.json()["detail"]["code"] == "unstorable_value"
        assert _count(db_session, Skill) == 0
    login = client.post("/api/auth/login", json={"username": "admin\u0000", "password": "x\u0000"})
    assert login.status_code in (401, 422)
    token = client.post("/api/auth/tokens", json={"name": "ok"})
    assert token.status_code == 201  # the session is usable after the refused statement
