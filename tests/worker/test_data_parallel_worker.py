"""A job asking for num_gpus > 1 runs on that many processes started by the worker (here CPU processes)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.settings import get_settings
from tests.backend.factories import make_skill_with_version
from tests.worker.test_jobs_worker import FAST, TERMINAL, submit, wait_for
from worker.sdft.config import ConfigError
from worker.tasks.training import data_parallel_device, worker_device


def test_a_two_gpu_sharded_job_trains_on_two_processes_and_promotes_their_checkpoint(
    client: TestClient, db_session: Session, worker_factory: Any, db: None
) -> None:
    # Sharded: the job config the worker passes through whole; tests/sdft covers the replicated launch.
    worker = worker_factory()
    worker.env["WORKER_DEVICE"] = "cpu"  # two gloo processes stand in for two GPUs
    worker.start()
    skill, version = make_skill_with_version(db_session, "a")
    db_session.commit()
    track = client.post("/api/tracks", json={"name": "t", "base_model": "tiny"}).json()

    job = submit(
        client,
        track["id"],
        skill.id,
        version.id,
        config={**FAST, "num_gpus": 2, "shard_weights": True},
    )
    job = wait_for(client, job["id"], worker, lambda j: j["state"] in TERMINAL)

    assert job["state"] == "succeeded", job["error"]
    assert [step["step"] for step in job["steps"]] == [1, 2]
    assert {"loss", "divergence"} <= set(job["steps"][0]["metrics"])
    assert client.get(f"/api/jobs/{job['id']}/rollouts").json()["total"] >= 1
    detail = client.get(f"/api/tracks/{track['id']}").json()
    assert detail["head_checkpoint_id"] == job["result_checkpoint_id"]
    manifest = client.get(f"/api/checkpoints/{job['result_checkpoint_id']}").json()["manifest"]
    assert (manifest["num_gpus"], manifest["config"]["num_gpus"], manifest["job_id"]) == (2, 2, job["id"])
    assert manifest["config"]["shard_weights"] is True


def test_a_worker_without_enough_gpus_refuses_naming_num_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_DEVICE", "auto")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="asks for 2 GPUs but this worker sees 0") as raised:
            data_parallel_device(2)
        assert raised.value.field == "num_gpus"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("setting", "expected"), [("cpu", "cpu"), ("auto", "cpu")])
def test_worker_device_on_a_machine_without_cuda(
    monkeypatch: pytest.MonkeyPatch, setting: str, expected: str
) -> None:
    monkeypatch.setenv("WORKER_DEVICE", setting)
    get_settings.cache_clear()
    try:
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
        assert worker_device() == expected
        monkeypatch.setenv("WORKER_DEVICE", "cuda:1")
        get_settings.cache_clear()
        with pytest.raises(ConfigError, match="sees no CUDA device") as raised:
            worker_device()
        assert raised.value.field == "WORKER_DEVICE"
    finally:
        get_settings.cache_clear()
