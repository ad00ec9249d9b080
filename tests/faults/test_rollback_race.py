"""Two people roll the same track back at the same moment, each from the head they saw: exactly one
wins, the other gets 409 with the new head, and the head is the winner's choice."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy.orm import Session

from backend.checkpoints.models import Checkpoint
from tests.faults.conftest import LiveApi

ROUNDS = 15


def test_racing_rollbacks_exactly_one_wins(
    database_url: str, db: None, db_session: Session, tmp_path: Path
) -> None:
    from backend.settings import get_settings

    api = LiveApi({"DATA_DIR": str(get_settings().data_dir)}, tmp_path / "api.log")
    api.start()
    try:
        with api.client() as client:
            track = client.post("/api/tracks", json={"name": "race", "base_model": "tiny"}).json()
        root = track["head_checkpoint_id"]
        branches = [Checkpoint(track_id=track["id"], parent_id=root, kind="skill") for _ in range(2)]
        db_session.add_all(branches)
        db_session.commit()
        targets = [branch.id for branch in branches]

        for round_number in range(ROUNDS):
            with api.client() as client:
                head = client.get(f"/api/tracks/{track['id']}").json()["head_checkpoint_id"]
            barrier = threading.Barrier(2)
            results: dict[int, tuple[int, dict]] = {}

            def roll(
                target: int, head: int = head, barrier: threading.Barrier = barrier, results: dict = results
            ) -> None:
                with api.client() as client:
                    barrier.wait()
                    response = client.post(
                        f"/api/tracks/{track['id']}/rollback",
                        json={"checkpoint_id": target, "expected_head_id": head},
                    )
                    results[target] = (response.status_code, response.json())

            # Each round both race away from the current head, to the two other nodes.
            candidates = [c for c in (root, *targets) if c != head]
            threads = [threading.Thread(target=roll, args=(target,)) for target in candidates]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            statuses = sorted(status for status, _ in results.values())
            assert statuses == [200, 409], (round_number, results)
            winner = next(target for target, (status, _) in results.items() if status == 200)
            loser_body = next(body for status, body in results.values() if status == 409)
            assert loser_body["detail"]["head_checkpoint_id"] == winner
            with api.client() as client:
                assert client.get(f"/api/tracks/{track['id']}").json()["head_checkpoint_id"] == winner
    finally:
        api.stop()
