"""PostgreSQL restarts (crash-like) while uploads stream in: every upload is either fully stored or
answered 503, a retry after a 503 stores it exactly once, and no temporary file is left behind."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from backend.checkpoints.cleanup import find_orphans
from backend.settings import Settings
from tests.faults.conftest import LiveApi, PrivatePostgres, migrate

ROWS_PER_FILE = 400
CLIENTS = 6


def _file(marker: str) -> bytes:
    rows = (
        {"prompt": f"{marker} question {i}", "response": f"answer {i} " + "x" * 200}
        for i in range(ROWS_PER_FILE)
    )
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_uploads_during_a_postgres_restart_are_stored_whole_or_refused_with_503(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": private_postgres.url, "DATA_DIR": str(tmp_path / "data")}
    migrate(env)
    api = LiveApi(env, tmp_path / "api.log")
    api.start()
    try:
        with api.client() as client:
            skill_id = client.post("/api/skills", json={"name": "restart"}).json()["id"]
        outcomes: dict[str, int] = {}
        stop = threading.Event()
        lock = threading.Lock()

        def upload_until_stopped(worker: int) -> None:
            with api.client() as client:
                n = 0
                while not stop.is_set():
                    marker = f"w{worker}-n{n}"
                    try:
                        status = client.post(
                            f"/api/skills/{skill_id}/datasets",
                            files={"file": (f"{marker}.jsonl", _file(marker))},
                        ).status_code
                    except httpx.TransportError:
                        status = -1  # the connection itself broke: counted, and retried below
                    with lock:
                        outcomes[marker] = status
                    n += 1

        threads = [threading.Thread(target=upload_until_stopped, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        private_postgres.restart()
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

        statuses = set(outcomes.values())
        assert statuses <= {201, 503}, f"{outcomes}\n{api.log.read_text()[-3000:]}"
        assert 201 in statuses and 503 in statuses, f"the restart did not meet an upload: {outcomes}"

        # Every stored version holds all its rows, and every 201 was stored.
        engine = create_engine(private_postgres.url)
        with engine.connect() as connection:
            stored = connection.execute(
                text(
                    "SELECT v.filename, v.n_examples, count(d.id) FROM dataset_version v "
                    "LEFT JOIN demonstration d ON d.dataset_version_id = v.id GROUP BY v.id"
                )
            ).all()
        engine.dispose()
        by_marker = {filename.removesuffix(".jsonl"): (n, rows) for filename, n, rows in stored}
        assert all(n == rows == ROWS_PER_FILE for n, rows in by_marker.values()), by_marker
        assert {m for m, status in outcomes.items() if status == 201} <= set(by_marker)

        # A client retries its 503s: each lands exactly once (identical content is found by its hash).
        with api.client() as client:
            for marker, status in outcomes.items():
                if status != 201:
                    retry = client.post(
                        f"/api/skills/{skill_id}/datasets", files={"file": (f"{marker}.jsonl", _file(marker))}
                    )
                    assert retry.status_code in (200, 201), retry.text
            versions = client.get(f"/api/skills/{skill_id}/datasets").json()
        assert len(versions) == len(outcomes)
        assert sorted(v["version"] for v in versions) == list(range(1, len(outcomes) + 1))

        uploads = tmp_path / "data" / "uploads"
        assert not list(uploads.glob("*.part")), "temporary upload files left behind"
        engine = create_engine(private_postgres.url)
        with Session(engine) as session:
            settings = Settings(database_url=private_postgres.url, data_dir=tmp_path / "data")
            assert find_orphans(session, settings, min_age_s=0).all() == []
        engine.dispose()
    finally:
        api.stop()
