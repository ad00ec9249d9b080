"""Rollouts: completions sampled from the current student.

`RolloutEngine` is the seam for faster engines (vLLM: rollout_vllm.py); `TransformersRolloutEngine`
batches prompts (left-padded) through `generate` with its KV cache. Sampling settings are passed
explicitly, so a checkpoint's own generation defaults (Qwen ships top_k=20, temperature 0.7,
repetition_penalty 1.1) never change what the student is trained on: the paper samples at
temperature 1.0 with top-p 1.0 and no top-k.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from worker.sdft.batching import left_padded


@dataclass
class Completion:
    token_ids: list[int]  # up to and including the first end-of-sequence token, no padding
    ended: bool  # stopped on end-of-sequence rather than on max_new_tokens
    # Log-prob of each token under the weights that sampled it (the raw distribution, before
    # temperature or top-p), when the engine reports them: an engine holding its own copy of the
    # weights (vLLM) samples from a policy the trainer corrects for (steps.importance_weights).
    logprobs: list[float] | None = None


class RolloutEngine(Protocol):
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
        """One completion per prompt; temperature 0 means greedy."""
        ...


def cut_at_eos(token_ids: list[int], eos_token_ids: list[int]) -> Completion:
    """Keep tokens up to and including the first end-of-sequence token; everything after is padding."""
    stops = set(eos_token_ids)
    for index, token_id in enumerate(token_ids):
        if token_id in stops:
            return Completion(token_ids=token_ids[: index + 1], ended=True)
    return Completion(token_ids=list(token_ids), ended=False)


class TransformersRolloutEngine:
    """HF `generate` on the model itself, `batch_size` prompts at a time (None: all at once).

    `bucket_by_length` batches prompts of similar length together (completions still come back in
    the prompts' order): less left padding to compute over when batches are smaller than the list.
    It changes which random numbers each prompt's sampling draws, not what is sampled from.
    """

    def __init__(
        self,
        *,
        batch_size: int | None = None,
        bucket_by_length: bool = False,
        report_logprobs: bool = False,
        generate_options: dict[str, Any] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.bucket_by_length = bucket_by_length
        # Extra `generate` arguments, e.g. a static KV cache and a compile config (bench/rollout.py
        # measures them; on CPU neither paid, so training uses none).
        self.generate_options = dict(generate_options or {})
        # Sampling from the trained model itself is exactly on-policy, so the log-probs are only
        # worth their cost as a reference (the vLLM parity check, the importance-weight tests).
        self.report_logprobs = report_logprobs
        self.last_seconds = 0.0

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
        started = time.perf_counter()
        step = self.batch_size or max(len(prompts), 1)
        order = list(range(len(prompts)))
        if self.bucket_by_length:
            order.sort(key=lambda index: len(prompts[index]))
        completions: list[Completion] = [Completion([], False)] * len(prompts)
        was_training = model.training
        model.eval()
        try:
            for start in range(0, len(prompts), step):
                batch = order[start : start + step]
                generated = self._generate_batch(
                    model,
                    [prompts[index] for index in batch],
                    eos_token_ids=eos_token_ids,
                    pad_token_id=pad_token_id,
                    max_new_tokens=max_new_tokens,
                    temperature=temperature,
                    top_p=top_p,
                )
                for index, completion in zip(batch, generated, strict=True):
                    completions[index] = completion
        finally:
            model.train(was_training)
        self.last_seconds = time.perf_counter() - started
        return completions

    def _generate_batch(
        self,
        model: Any,
        prompts: list[list[int]],
        *,
        eos_token_ids: list[int],
        pad_token_id: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
    ) -> list[Completion]:
        device = next(model.parameters()).device
        input_ids, attention_mask = left_padded(prompts, pad_token_id=pad_token_id)
        width = input_ids.shape[1]
        sampling: dict[str, Any]
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
        else:
            sampling = {"do_sample": False}
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=max_new_tokens,
            eos_token_id=eos_token_ids,
            pad_token_id=pad_token_id,
            repetition_penalty=1.0,
            num_beams=1,
            return_dict_in_generate=True,
            output_logits=self.report_logprobs,
            **sampling,
            **self.generate_options,
        )
        sequences = output.sequences[:, width:]  # (B, new)
        completions = [cut_at_eos(tokens, eos_token_ids) for tokens in sequences.tolist()]
        if self.report_logprobs:
            logits = torch.stack(output.logits, dim=1).float()  # (B, new, V): raw, before sampling's warpers
            chosen = torch.log_softmax(logits, dim=-1).gather(-1, sequences.unsqueeze(-1)).squeeze(-1)
            for completion, row in zip(completions, chosen.tolist(), strict=True):
                completion.logprobs = row[: len(completion.token_ids)]
        return completions
