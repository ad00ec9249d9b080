"""Rollouts in vLLM (optional, GPU only): the `RolloutEngine` seam with a vLLM engine behind it.

vLLM holds its own copy of the student's weights. Before a `generate` it copies the trained student
in when the student has taken `sync_every` optimizer steps since the last copy (1: always the
current policy, the paper's on-policy sampling). Every completion carries vLLM's log-prob of each
sampled token, and the training step weights each sequence's loss by the truncated importance
weight of the paper's code (steps.importance_weights): it corrects both for a policy up to
`sync_every - 1` steps old and for vLLM's kernels not computing exactly the trainer's numbers.

A LoRA student is merged for the copy and unmerged afterwards, so vLLM runs plain weights and needs
no adapter support. vLLM is imported only when the engine is built: without vllm or CUDA,
`VLLMRolloutEngine(...)` raises `VLLMUnavailable` with the reason, and the rest of the engine never
notices. The vLLM engine runs in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0), so weights are
copied by reference to the in-process model rather than serialised.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import torch

from worker.sdft.rollout import Completion, cut_at_eos


class VLLMUnavailable(RuntimeError):
    """vLLM cannot run here (not installed, no CUDA device, or an unsupported vLLM)."""


def vllm_unavailable_reason() -> str | None:
    """Why a vLLM engine cannot be built here, or None when it can."""
    if not torch.cuda.is_available():
        return "no CUDA device"
    try:
        importlib.import_module("vllm")
    except Exception as error:  # any import failure (missing, or built for another torch) is the reason
        return f"vllm does not import: {type(error).__name__}: {error}"
    return None


def hf_weights(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) in the plain transformers naming vLLM's loaders expect, LoRA already merged in.

    peft prefixes names with `base_model.model.` and moves a wrapped layer's weight under
    `.base_layer`; the adapter's own `lora_` tensors are skipped (they are folded into the weights).
    """
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        name = name.removeprefix("base_model.model.").replace(".base_layer", "")
        yield name, tensor


class VLLMRolloutEngine:
    """vLLM `generate` with the student's weights copied in every `sync_every` optimizer steps."""

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "bfloat16",
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        sync_every: int = 1,
        seed: int = 0,
        load_format: str = "auto",
    ) -> None:
        reason = vllm_unavailable_reason()
        if reason:
            raise VLLMUnavailable(reason)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: weights by reference
        from vllm import LLM  # type: ignore[import-not-found, unused-ignore]

        self.llm = LLM(
            model=model_path,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enable_prefix_caching=True,  # n rollouts of one prompt share its prefix
            seed=seed,
            load_format=load_format,
        )
        self.sync_every = sync_every
        self._calls = 0
        self.last_seconds = 0.0

    @classmethod
    def for_model(cls, loaded: Any, **options: Any) -> VLLMRolloutEngine:
        """An engine shaped like `loaded`'s model, its weights copied in before the first generate.

        vLLM gets only the architecture (config and tokenizer in a scratch folder) and random
        weights (`load_format="dummy"`): the first `generate` syncs the student in, so no weights
        file is read twice and a LoRA student needs no merged copy on disk.
        """
        model = loaded.model.get_base_model() if hasattr(loaded.model, "get_base_model") else loaded.model
        folder = tempfile.mkdtemp(prefix="apprentice-vllm-")
        model.config.save_pretrained(folder)
        loaded.tokenizer.save_pretrained(folder)
        options.setdefault("dtype", "bfloat16" if model.dtype == torch.bfloat16 else "float32")
        return cls(folder, load_format="dummy", **options)

    def sync_weights(self, model: Any) -> None:
        """Copy the student's current weights into vLLM (merging a LoRA adapter for the copy)."""
        merged = hasattr(model, "merge_adapter")
        if merged:
            model.merge_adapter()
        try:
            weights = [(name, tensor.detach()) for name, tensor in hf_weights(model)]
            self.llm.apply_model(lambda vllm_model: vllm_model.load_weights(weights))
        finally:
            if merged:
                model.unmerge_adapter()
        self.llm.reset_prefix_cache()  # cached prefixes were computed with the old weights

    @torch.no_grad()
    def generate(
        self,
        model: Any,
        prompts: list[list[int]],
        *,
        eos_token_ids: list[int],
        pad_token_id: int,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
    ) -> list[Completion]:
        """One completion per prompt from vLLM; `pad_token_id` is unused (vLLM does not pad)."""
        import time

        from vllm import SamplingParams  # type: ignore[import-not-found, unused-ignore]
        from vllm.inputs import TokensPrompt  # type: ignore[import-not-found, unused-ignore]

        started = time.perf_counter()
        if self._calls % self.sync_every == 0:
            self.sync_weights(model)
        self._calls += 1
        params = SamplingParams(
            n=1,
            temperature=temperature,
            top_p=top_p if temperature > 0 else 1.0,
            top_k=-1,  # no top-k: the paper samples from the whole distribution
            max_tokens=max_new_tokens,
            stop_token_ids=list(eos_token_ids),
            repetition_penalty=1.0,
            logprobs=0,  # the sampled token's own log-prob, for the trainer's importance weight
        )
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=prompt) for prompt in prompts], params, use_tqdm=False
        )
        self.last_seconds = time.perf_counter() - started
        return [_completion(output.outputs[0], eos_token_ids) for output in outputs]


def _completion(sample: Any, eos_token_ids: list[int]) -> Completion:
    """A vLLM sample as a Completion, its stop token kept like the transformers engine keeps it.

    Log-probs are vLLM's for the tokens it reports; a stop token it left out of `token_ids` has none,
    and the importance weight then averages over the tokens that have one.
    """
    completion = cut_at_eos(list(sample.token_ids), eos_token_ids)
    entries = sample.logprobs or []
    logprobs = [entry[token].logprob for entry, token in zip(entries, completion.token_ids, strict=False)]
    if not completion.ended and sample.finish_reason == "stop" and isinstance(sample.stop_reason, int):
        completion = Completion(token_ids=[*completion.token_ids, sample.stop_reason], ended=True)
    completion.logprobs = logprobs or None
    return completion
