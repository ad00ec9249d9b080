"""One LoRA adapter per skill over a shared base: several adapter checkpoints on one base model, any subset on.

Each adapter is a LoRA checkpoint (kind "lora") trained from the track's base model alone, so skills
trained independently combine without retraining: with several active, every adapted layer adds each
adapter's low-rank update to the base layer's output (peft's multi-adapter LoRA), exactly as if their
weight deltas were summed. Replacing one skill's adapter (a per-skill rollback) leaves the others'
weights untouched, and switching adapters on and off needs no reload.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from worker.sdft.checkpoints import CheckpointError, verify_checkpoint, warn_if_base_converted_since
from worker.sdft.models import LoadedModel, load_model


def check_adapter(path: Path, *, base_name: str) -> dict[str, object]:
    """The manifest of a LoRA checkpoint trained on `base_name`; anything else is a CheckpointError."""
    manifest = verify_checkpoint(path)
    if manifest.get("kind") != "lora":
        raise CheckpointError(f"{path} is a full checkpoint, not a LoRA adapter")
    if manifest.get("base_model") != base_name:
        raise CheckpointError(
            f"{path} is an adapter over {manifest.get('base_model')!r}, not over the base model {base_name!r}"
        )
    return manifest


def load_adapter_set(
    base_name: str,
    adapters: dict[str, Path],
    *,
    models_dir: Path,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """The base model with every adapter loaded under its name (verified first), all of them active."""
    manifests = {Path(path): check_adapter(Path(path), base_name=base_name) for path in adapters.values()}
    base = load_model(
        base_name, models_dir=models_dir, dtype=dtype, device=device, trust_remote_code=trust_remote_code
    )
    for path, manifest in manifests.items():
        warn_if_base_converted_since(path, manifest, base)
    if not adapters:
        base.extra["adapters"] = []
        return base
    from peft import PeftModel

    model = None
    for name, path in adapters.items():
        if model is None:
            model = PeftModel.from_pretrained(base.model, str(path), adapter_name=name)
        else:
            model.load_adapter(str(path), adapter_name=name)
    assert model is not None
    model.to(device)
    model.eval()
    loaded = LoadedModel(
        model=model,
        tokenizer=base.tokenizer,
        name=f"{base_name} + {', '.join(adapters)}",
        base_name=base_name,
        eos_token_ids=base.eos_token_ids,
        extra={"adapters": list(adapters)},
        base_conversion=base.base_conversion,
    )
    set_active(loaded, list(adapters))
    return loaded


def loaded_adapters(loaded: LoadedModel) -> list[str]:
    return list(loaded.extra.get("adapters", []))


def set_active(loaded: LoadedModel, names: Sequence[str]) -> None:
    """Turn exactly these adapters on (none: the base model alone)."""
    unknown = sorted(set(names) - set(loaded_adapters(loaded)))
    if unknown:
        raise ValueError(f"adapters not loaded: {', '.join(unknown)}")
    if not loaded_adapters(loaded):
        return  # the base model alone: nothing to switch
    tuner = loaded.model.base_model
    if names:
        tuner.enable_adapter_layers()
        tuner.set_adapter(list(names), inference_mode=True)
    else:
        tuner.disable_adapter_layers()
    loaded.extra["active"] = list(names)


@contextmanager
def active_adapters(loaded: LoadedModel, names: Sequence[str]) -> Iterator[LoadedModel]:
    """These adapters on for the block, then the previous set again."""
    previous = list(loaded.extra.get("active", loaded_adapters(loaded)))
    set_active(loaded, names)
    try:
        yield loaded
    finally:
        set_active(loaded, previous)
