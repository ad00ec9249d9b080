"""Immutable checkpoint folders: written beside their destination, verified by a manifest of hashes.

Protocol (DESIGN.md): write every file into a temporary folder next to the destination, fsync each,
write `manifest.json` (sha256 and size of every file) last, rename the folder into place, fsync the
parent. A folder without a manifest, or whose files do not match it, is not a checkpoint. Weights
are safetensors only. A LoRA checkpoint holds the adapter alone and names its base model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from worker.sdft.models import LoadedModel, ModelError, load_model

MANIFEST = "manifest.json"
FORMAT = "apprentice-checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupted or incompatible."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_folder_atomically(
    dest: Path, write_files: Callable[[Path], None], *, manifest: dict[str, Any]
) -> Path:
    """Run `write_files(tmp)`, then seal `tmp` with a manifest and rename it to `dest`."""
    dest = Path(dest)
    if dest.exists():
        raise CheckpointError(f"{dest} already exists; checkpoints are immutable")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write_files(tmp)
        files: dict[str, dict[str, Any]] = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            relative = path.relative_to(tmp).as_posix()
            if relative == MANIFEST:
                raise CheckpointError("a checkpoint's files may not include manifest.json")
            _fsync(path)
            files[relative] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        sealed = {"format": FORMAT, "created_at": time.time(), **manifest, "files": files}
        manifest_path = tmp / MANIFEST
        manifest_path.write_text(json.dumps(sealed, indent=2, sort_keys=True, default=str))
        _fsync(manifest_path)
        for folder in sorted({p.parent for p in tmp.rglob("*")}, key=lambda p: len(p.parts), reverse=True):
            _fsync(folder)
        os.rename(tmp, dest)
        _fsync(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def verify_checkpoint(path: Path) -> dict[str, Any]:
    """Return the manifest if every listed file is present with its size and hash, and nothing else is."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{path} is not a checkpoint (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{manifest_path} is unreadable: {error}") from None
    files = manifest.get("files")
    if manifest.get("format") != FORMAT or not isinstance(files, dict):
        raise CheckpointError(f"{manifest_path} is not an {FORMAT} manifest")
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} - {MANIFEST}
    unexpected = present - set(files)
    if unexpected:
        raise CheckpointError(
            f"{path} holds files its manifest does not list: {', '.join(sorted(unexpected))}"
        )
    for relative, expected in files.items():
        file_path = path / relative
        if not file_path.is_file():
            raise CheckpointError(f"{path}: {relative} is missing")
        if file_path.stat().st_size != expected.get("bytes"):
            raise CheckpointError(
                f"{path}: {relative} is {file_path.stat().st_size} bytes, manifest says {expected.get('bytes')}"
            )
        if sha256_file(file_path) != expected.get("sha256"):
            raise CheckpointError(f"{path}: {relative} does not match its sha256 in the manifest")
    return manifest


def write_checkpoint(
    loaded: LoadedModel,
    dest: Path,
    *,
    manifest: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save the model (or only its LoRA adapter) and tokenizer as an immutable, verified folder.

    `manifest` carries what the caller knows (parent checkpoint, config, data version hash, metrics);
    kind, name and base model are added here. `state_dict`: the whole weights, when the model's own
    are sharded over processes (parallel.DataParallel.full_state).
    """

    def write_files(tmp: Path) -> None:
        loaded.model.save_pretrained(str(tmp), safe_serialization=True, state_dict=state_dict)
        loaded.tokenizer.save_pretrained(str(tmp))
        pickles = [p.name for p in tmp.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
        if pickles:
            raise CheckpointError(f"refusing to write pickled files: {', '.join(pickles)}")

    sealed = {
        **manifest,
        "kind": "lora" if loaded.is_lora else "full",
        "model_name": loaded.name,
        "base_model": loaded.base_name,
        "eos_token_ids": loaded.eos_token_ids,
    }
    if loaded.is_lora and loaded.base_conversion is not None:
        sealed["base_conversion"] = loaded.base_conversion
    return write_folder_atomically(Path(dest), write_files, manifest=sealed)


BASE_CONVERSION_NOTICE = "base_conversion_notice"  # LoadedModel.extra key: an adapter's base converted since


def load_checkpoint(
    path: Path,
    *,
    models_dir: Path,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> LoadedModel:
    """Verify, then load. A LoRA checkpoint loads its base model by name and puts the adapter on it (trainable)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    manifest = verify_checkpoint(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if manifest.get("kind") == "lora":
        from peft import PeftModel

        base_name = str(manifest["base_model"])
        try:
            base = load_model(base_name, models_dir=models_dir, dtype=dtype, device=device)
        except ModelError as error:
            raise CheckpointError(f"{path}: cannot load its base model {base_name!r}: {error}") from error
        notice = warn_if_base_converted_since(path, manifest, base)
        model = PeftModel.from_pretrained(base.model, str(path), is_trainable=True)
        base_conversion = base.base_conversion
    else:
        base_name, base_conversion, notice = str(path), None, None
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, use_safetensors=True)
    model.to(device)
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=str(path),
        base_name=base_name,
        eos_token_ids=[int(i) for i in manifest.get("eos_token_ids", [])],
        extra={"manifest": manifest} | ({BASE_CONVERSION_NOTICE: notice} if notice else {}),
        base_conversion=base_conversion,
    )


def load_warnings(loaded: LoadedModel) -> list[dict[str, str]]:
    """What loading found that a job's user should see among its warnings, in monitors' form: so far an
    adapter whose base was converted again since it was trained (warn_if_base_converted_since)."""
    notice = loaded.extra.get(BASE_CONVERSION_NOTICE)
    return [{"monitor": "base_conversion", "message": notice}] if notice else []


def warn_if_base_converted_since(path: Path, manifest: dict[str, Any], base: LoadedModel) -> str | None:
    """Warn when an adapter was trained on an older conversion of its packaged base than the one loaded
    (manifests before conversions were recorded: version 1), and return the warning's text (a job shows
    it, from the loaded model's extra[BASE_CONVERSION_NOTICE]). It still loads: a conversion changes the
    base's weights by about their quantization error (Qwen 2: the embedding Q8_0 instead of Q5_0)."""
    if base.base_conversion is None:
        return None
    trained_on = int(manifest.get("base_conversion", 1))
    if trained_on == base.base_conversion:
        return None
    notice = (
        f"{path}: this adapter was trained on conversion {trained_on} of {base.name!r}, loaded now onto "
        f"conversion {base.base_conversion}; its outputs may differ slightly from when it was saved"
    )
    warnings.warn(notice, stacklevel=2)
    return notice
