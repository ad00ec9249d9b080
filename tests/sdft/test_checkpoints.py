"""Checkpoints: write, verify, load round trip (full and LoRA); torn or tampered folders are refused."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from worker.sdft import checkpoints
from worker.sdft.checkpoints import (
    BASE_CONVERSION_NOTICE,
    CheckpointError,
    load_checkpoint,
    load_warnings,
    verify_checkpoint,
    warn_if_base_converted_since,
    write_checkpoint,
)
from worker.sdft.config import TrainConfig
from worker.sdft.data import Example
from worker.sdft.models import LoadedModel, ModelError, load_model
from worker.sdft.sink import ListSink
from worker.sdft.train import train


def logits(loaded, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return loaded.model(torch.tensor([ids])).logits


def test_full_checkpoint_round_trip(tiny, models_dir: Path, tmp_path: Path) -> None:
    with torch.no_grad():
        next(tiny.model.parameters()).add_(0.5)  # differs from a freshly built tiny model
    manifest = {
        "parent": None,
        "config": TrainConfig().to_dict(),
        "data_hash": "abc",
        "metrics": {"loss": 1.5},
    }
    path = write_checkpoint(tiny, tmp_path / "ckpt", manifest=manifest)
    sealed = verify_checkpoint(path)
    assert sealed["kind"] == "full" and sealed["data_hash"] == "abc" and sealed["metrics"] == {"loss": 1.5}
    assert "model.safetensors" in sealed["files"]
    assert not [p for p in path.iterdir() if p.suffix in (".bin", ".pt")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind

    loaded = load_model(str(path), models_dir=models_dir)  # a checkpoint folder is a model name too
    ids = tiny.tokenizer("Hello there", add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(logits(loaded, ids), logits(tiny, ids))
    assert loaded.eos_token_ids == tiny.eos_token_ids
    with pytest.raises(CheckpointError, match="immutable"):
        write_checkpoint(tiny, path, manifest={})


def test_lora_checkpoint_holds_only_the_adapter(tiny, models_dir: Path, tmp_path: Path) -> None:
    examples = [Example(prompt=[{"role": "user", "content": "Hi"}], demonstration="Hello!")]
    config = TrainConfig(method="sft", steps=2, batch_size=1, lr=1e-2, lora_rank=4)
    train(loaded=tiny, examples=examples, config=config, sink=ListSink(), work_dir=tmp_path / "work")
    path = write_checkpoint(tiny, tmp_path / "lora", manifest={"config": config.to_dict()})
    sealed = verify_checkpoint(path)
    assert sealed["kind"] == "lora" and sealed["base_model"] == "tiny"
    assert "adapter_model.safetensors" in sealed["files"] and "model.safetensors" not in sealed["files"]
    assert sealed["files"]["adapter_model.safetensors"]["bytes"] < 100_000  # tiny's full weights: ~6 MB

    loaded = load_checkpoint(path, models_dir=models_dir)
    ids = tiny.tokenizer("Hi", add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(logits(loaded, ids), logits(tiny, ids))


def test_an_adapter_records_its_base_conversion_and_a_newer_one_is_noticed(
    tiny, models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = [Example(prompt=[{"role": "user", "content": "Hi"}], demonstration="Hello!")]
    config = TrainConfig(method="sft", steps=1, batch_size=1, lr=1e-2, lora_rank=4)
    train(loaded=tiny, examples=examples, config=config, sink=ListSink(), work_dir=tmp_path / "work")
    tiny.base_conversion = 2  # as a packaged GGUF base's cache says (models.CONVERSION_VERSIONS)
    path = write_checkpoint(tiny, tmp_path / "lora", manifest={})
    manifest = verify_checkpoint(path)
    assert manifest["base_conversion"] == 2

    base = load_model("tiny", models_dir=models_dir)
    base.base_conversion = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_base_converted_since(path, manifest, base)  # the same conversion: silent
    base.base_conversion = 3
    with pytest.warns(UserWarning, match="trained on conversion 2 of 'tiny', loaded now onto conversion 3"):
        warn_if_base_converted_since(path, manifest, base)
    without_record = {key: value for key, value in manifest.items() if key != "base_conversion"}
    with pytest.warns(UserWarning, match="trained on conversion 1 of 'tiny'"):
        warn_if_base_converted_since(path, without_record, base)

    # Loaded for a job, the notice rides on the model, for the job's warnings (worker/tasks/training.py).
    def converted_since(name: str, **kwargs: object) -> LoadedModel:
        loaded = load_model(name, **kwargs)
        loaded.base_conversion = 3
        return loaded

    monkeypatch.setattr(checkpoints, "load_model", converted_since)
    with pytest.warns(UserWarning, match="loaded now onto conversion 3"):
        loaded = load_checkpoint(path, models_dir=models_dir)
    assert "trained on conversion 2" in loaded.extra[BASE_CONVERSION_NOTICE]
    assert loaded.base_conversion == 3
    assert load_warnings(loaded) == [
        {"monitor": "base_conversion", "message": loaded.extra[BASE_CONVERSION_NOTICE]}
    ]
    assert load_warnings(base) == []  # nothing found: nothing to show


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "extra", "manifest"])
def test_a_damaged_checkpoint_is_refused(tiny, models_dir: Path, tmp_path: Path, damage: str) -> None:
    path = write_checkpoint(tiny, tmp_path / "ckpt", manifest={})
    weights = path / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "flip":
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "delete":
        weights.unlink()
    elif damage == "extra":
        (path / "pytorch_model.bin").write_bytes(b"pickle")
    else:
        (path / "manifest.json").write_text("{")
    with pytest.raises(CheckpointError):
        verify_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path, models_dir=models_dir)


def test_a_folder_without_manifest_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no manifest.json"):
        verify_checkpoint(tmp_path)


def test_pickled_weights_are_refused(tmp_path: Path, models_dir: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelError, match="pickled weights are refused"):
        load_model(str(tmp_path), models_dir=models_dir)


def test_unknown_model_names(models_dir: Path) -> None:
    with pytest.raises(ModelError, match="unknown model"):
        load_model("gpt-17", models_dir=models_dir)
