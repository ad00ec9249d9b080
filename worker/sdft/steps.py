"""One optimizer step's forward/backward work for SDFT and for SFT (the optimizer step itself is in train.py).

SDFT, per the paper: sample one completion per prompt from the student; score it with the teacher
on the teacher prompt (no grad) and with the student on the student prompt (grad); per token, a
divergence over the full vocabulary; mean over each sequence's loss tokens (the first
`skip_first_tokens` completion tokens excluded), then over the step's sequences.
SFT: next-token cross-entropy on the demonstration (then end-of-turn), same reduction.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch

from worker.sdft.batching import (
    PackedBatch,
    completion_hidden,
    final_hidden_states,
    output_head,
    pack,
    scoring_hidden,
)
from worker.sdft.config import TrainConfig
from worker.sdft.divergence import TokenStats, completion_nll_stats, completion_token_stats
from worker.sdft.fused_head import fused_completion_loss, fused_nll_loss, head_weights
from worker.sdft.logprobs import token_traces
from worker.sdft.models import LoadedModel
from worker.sdft.prompts import PromptPair, demonstration_ids
from worker.sdft.rollout import Completion, RolloutEngine
from worker.sdft.teacher import Teachers


class Totals:
    """Token- and sequence-level sums for one step's metrics."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add(self, name: str, value: float) -> None:
        self.values[name] = self.values.get(name, 0.0) + float(value)

    def get(self, name: str) -> float:
        return self.values.get(name, 0.0)

    def ratio(self, numerator: str, denominator: str) -> float:
        count = self.get(denominator)
        return self.get(numerator) / count if count else 0.0


class Lockstep(Protocol):
    """The processes of a run with sharded weights (parallel.py): every forward gathers weights from
    all of them, so all must run the same forwards and backwards in the same order, whatever their
    own share of the step holds. A process with nothing to score runs an idle pass instead."""

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any."""
        ...


def _idle_forwards(models: list[Any], *, pad_token_id: int, device: torch.device) -> torch.Tensor:
    """One-token forwards through `models` in order, the last one with grad; a zero loss to
    backpropagate, so that this process joins the others' weight gathers and gradient reductions."""
    ids = torch.full((1, 1), pad_token_id, dtype=torch.long, device=device)
    mask = torch.ones_like(ids)
    *scorers, student = models
    for model in scorers:
        with torch.no_grad():
            final_hidden_states(model, ids, mask)
    return final_hidden_states(student, ids, mask).sum() * 0.0


def _token_weights(batch: PackedBatch, sequences_with_tokens: int) -> torch.Tensor:
    """(N,) each loss token's weight in the paper's reduction: 1 / (its sequence's tokens x sequences)."""
    counts = torch.bincount(batch.rows, minlength=batch.num_sequences).clamp(min=1)
    return 1.0 / (counts[batch.rows].to(torch.float32) * sequences_with_tokens)


def importance_weights(
    trainer_logprobs: torch.Tensor,
    batch: PackedBatch,
    completions: list[Completion],
    *,
    skip_first: int,
    cap: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(S,) capped and (S,) uncapped sequence weights: mean over a sequence's loss tokens of
    exp(trainer log-prob - sampler log-prob), the paper's code's correction for rollouts sampled by
    another copy of the weights (vLLM: some steps old, other kernels). The capped weight multiplies the
    sequence's loss; a sequence without sampler log-probs keeps weight 1.

    `trainer_logprobs` (N,) are aligned with `batch`'s loss tokens; `completions` with its sequences.
    """
    sampler = torch.full_like(trainer_logprobs, float("nan"))
    position = 0
    for completion in completions:
        count = max(len(completion.token_ids) - skip_first, 0)
        known = (completion.logprobs or [])[skip_first:]
        known = known[:count]
        sampler[position : position + len(known)] = torch.tensor(known, dtype=sampler.dtype)
        position += count
    has_sampler = ~torch.isnan(sampler)
    ratios = torch.where(has_sampler, (trainer_logprobs - sampler).exp(), torch.zeros_like(sampler))
    sums = torch.bincount(batch.rows, weights=ratios.double(), minlength=batch.num_sequences)
    counts = torch.bincount(batch.rows, weights=has_sampler.double(), minlength=batch.num_sequences)
    raw = torch.where(counts > 0, sums / counts.clamp(min=1), torch.ones_like(sums)).to(
        trainer_logprobs.dtype
    )
    return raw.clamp(max=cap), raw


def divergence_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    batch: PackedBatch,
    token_weights: torch.Tensor,
    *,
    student: Any,
    teacher: Any,
    config: TrainConfig,
    fused: bool = True,
) -> tuple[torch.Tensor, TokenStats]:
    """The weighted divergence (a scalar to backpropagate) and per-token stats of one packed batch.

    Fused (fused_head.py: gradient formed with each chunk's logits, nothing recomputed) when both
    heads are plain linear layers; otherwise, or with `fused=False`, the checkpointed chunks.
    """
    student_head, teacher_head = (head_weights(student), head_weights(teacher)) if fused else (None, None)
    options: dict[str, Any] = {
        "divergence": config.divergence,
        "beta": config.beta,
        "top_k": config.top_k,
        "chunk_size": config.loss_chunk_size,
    }
    if student_head is not None and teacher_head is not None:
        return fused_completion_loss(
            student_hidden,
            teacher_hidden,
            batch.target_ids,
            token_weights,
            student_head=student_head,
            teacher_head=teacher_head,
            **options,
        )
    stats = completion_token_stats(
        student_hidden,
        teacher_hidden,
        batch.target_ids,
        student_head=output_head(student),
        teacher_head=output_head(teacher),
        **options,
    )
    return (stats.divergence * token_weights).sum(), stats


def _micro_batches(count: int, parts: int) -> list[range]:
    size = -(-count // parts)
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def sdft_step(
    *,
    loaded: LoadedModel,
    pairs: list[PromptPair],
    teachers: Teachers,
    config: TrainConfig,
    engine: RolloutEngine,
    autocast: AbstractContextManager[Any],
    want_traces: bool,
    fused: bool = True,
    share_teacher_prompts: bool = True,
    lockstep: Lockstep | None = None,
) -> tuple[Totals, list[dict[str, Any]]]:
    """Rollouts, teacher and student scoring, backward. Gradients are left in the student's .grad.

    `fused=False` forces the checkpointed (unfused) divergence, the reference the fused one is tested
    against; `share_teacher_prompts=False` runs the teacher prompt once per rollout instead of once
    per prompt (the reference for the shared KV cache). With `lockstep` (sharded weights), every
    process runs the same forwards: one packed teacher forward per group (its count would otherwise
    depend on which prompts repeat), an idle pass for a group or a trace it has nothing for.
    """
    if lockstep is not None:
        share_teacher_prompts = False
    student = loaded.model
    sequences = [pair for pair in pairs for _ in range(config.n_rollouts)]
    totals = Totals()

    started = time.perf_counter()
    with autocast:
        completions: list[Completion] = engine.generate(
            student,
            [pair.student_ids for pair in sequences],
            eos_token_ids=loaded.eos_token_ids,
            pad_token_id=loaded.pad_token_id,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
        )
    totals.add("rollout_s", time.perf_counter() - started)
    totals.add("sequences", len(sequences))
    totals.add("completion_tokens", sum(len(c.token_ids) for c in completions))
    totals.add("ended", sum(c.ended for c in completions))

    traces: list[dict[str, Any]] = []
    if want_traces:
        for pair, completion in list(zip(sequences, completions, strict=True))[: config.trace_samples]:
            teacher_model = teachers.reference if pair.general else teachers.teacher
            if lockstep is not None and not completion.token_ids:  # token_traces would run no forward
                with torch.no_grad(), autocast:
                    _idle_forwards(
                        [student, teacher_model], pad_token_id=loaded.pad_token_id, device=loaded.device
                    )
                continue
            with autocast:
                tokens = token_traces(
                    loaded,
                    student_prompt_ids=pair.student_ids,
                    teacher_prompt_ids=pair.teacher_ids,
                    completion_ids=completion.token_ids,
                    teacher_model=teacher_model,
                    top_k=config.trace_top_k,
                    divergence=config.divergence,
                    beta=config.beta,
                )
            traces.append(
                {
                    "prompt": pair.student_text,
                    "teacher_prompt": pair.teacher_text,
                    "demonstration": pair.demonstration,
                    "completion": loaded.tokenizer.decode(completion.token_ids),
                    "general": pair.general,
                    "tokens": tokens,
                }
            )

    # The loss is the mean over sequences that have loss tokens; micro-batches share that denominator.
    with_tokens = sum(len(c.token_ids) > config.skip_first_tokens for c in completions)
    for micro in _micro_batches(len(sequences), config.grad_accum):
        losses = []
        groups = [
            (False, [i for i in micro if not sequences[i].general]),
            (True, [i for i in micro if sequences[i].general]),
        ]
        for general, indices in groups:
            completion_ids = [completions[i].token_ids for i in indices]
            student_batch = pack(
                [sequences[i].student_ids for i in indices],
                completion_ids,
                pad_token_id=loaded.pad_token_id,
                skip_first=config.skip_first_tokens,
                device=loaded.device,
            )
            has_tokens = student_batch.target_ids.numel() > 0
            if not (lockstep.any(has_tokens) if lockstep is not None else has_tokens):
                continue
            teacher_model = teachers.reference if general else teachers.teacher
            if not has_tokens:  # another process scores this group: join its forwards and backward
                teacher_model.eval()
                student.train()
                with autocast:
                    losses.append(
                        _idle_forwards(
                            [teacher_model, student], pad_token_id=loaded.pad_token_id, device=loaded.device
                        )
                    )
                continue
            started = time.perf_counter()
            teacher_model.eval()  # the live teacher is the student itself: back to train mode below
            with torch.no_grad(), autocast:
                teacher_hidden = scoring_hidden(
                    teacher_model,
                    [sequences[i].teacher_ids for i in indices],
                    completion_ids,
                    pad_token_id=loaded.pad_token_id,
                    skip_first=config.skip_first_tokens,
                    device=loaded.device,
                    share_prompts=share_teacher_prompts,
                )  # (N, H)
            teacher_s = time.perf_counter() - started
            started = time.perf_counter()
            student.train()  # gradient checkpointing only runs in train mode
            with autocast:
                student_hidden = completion_hidden(student, student_batch)  # (N, H)
                token_weights = _token_weights(student_batch, with_tokens)
                if config.importance_cap and any(completions[i].logprobs is not None for i in indices):
                    with torch.no_grad():
                        trainer_logprobs = completion_nll_stats(
                            student_hidden.detach(),
                            student_batch.target_ids,
                            head=output_head(student),
                            chunk_size=config.loss_chunk_size,
                        ).student_logprob
                    capped, raw = importance_weights(
                        trainer_logprobs,
                        student_batch,
                        [completions[i] for i in indices],
                        skip_first=config.skip_first_tokens,
                        cap=config.importance_cap,
                    )
                    token_weights = token_weights * capped[student_batch.rows]
                    with_loss = torch.bincount(student_batch.rows, minlength=len(indices)) > 0
                    totals.add("importance_sequences", int(with_loss.sum()))
                    totals.add("importance_weight_sum", float(capped[with_loss].sum()))
                    totals.add("importance_capped", int((raw[with_loss] > config.importance_cap).sum()))
                loss, stats = divergence_loss(
                    student_hidden,
                    teacher_hidden,
                    student_batch,
                    token_weights,
                    student=student,
                    teacher=teacher_model,
                    config=config,
                    fused=fused,
                )
            totals.add("teacher_s", teacher_s)
            totals.add("student_s", time.perf_counter() - started)
            prefix = "general_" if general else ""
            totals.add(f"{prefix}loss_tokens", stats.divergence.numel())
            totals.add(f"{prefix}divergence_sum", float(stats.divergence.detach().sum()))
            totals.add("student_logprob_sum", float(stats.student_logprob.sum()))
            totals.add("teacher_logprob_sum", float(stats.teacher_logprob.sum()))
            totals.add("entropy_sum", float(stats.student_entropy.sum()))
            losses.append(loss)
        if not losses:
            continue
        started = time.perf_counter()
        loss = torch.stack(losses).sum()
        loss.backward()
        totals.add("loss", float(loss.detach()))
        totals.add("student_s", time.perf_counter() - started)
    student.eval()
    return totals, traces


def sft_step(
    *,
    loaded: LoadedModel,
    pairs: list[PromptPair],
    config: TrainConfig,
    autocast: AbstractContextManager[Any],
    fused: bool = True,
) -> Totals:
    """Cross-entropy on the demonstrations; gradients are left in the student's .grad.

    Fused with the LM head like the SDFT divergence when the head is a plain linear layer.
    """
    student = loaded.model
    totals = Totals()
    targets = [
        demonstration_ids(loaded.tokenizer, p.demonstration, eos_token_id=loaded.eos_token_id) for p in pairs
    ]
    totals.add("sequences", len(pairs))
    totals.add("completion_tokens", sum(len(t) for t in targets))
    fused_head = head_weights(student) if fused else None
    student.train()
    for micro in _micro_batches(len(pairs), config.grad_accum):
        started = time.perf_counter()
        batch = pack(
            [pairs[i].student_ids for i in micro],
            [targets[i] for i in micro],
            pad_token_id=loaded.pad_token_id,
            device=loaded.device,
        )
        with autocast:
            hidden = completion_hidden(student, batch)  # (N, H)
            token_weights = _token_weights(batch, len(pairs))  # every demonstration has tokens (its EOS)
            if fused_head is not None:
                loss, stats = fused_nll_loss(
                    hidden,
                    batch.target_ids,
                    token_weights,
                    head=fused_head,
                    chunk_size=config.loss_chunk_size,
                )
            else:
                stats = completion_nll_stats(
                    hidden, batch.target_ids, head=output_head(student), chunk_size=config.loss_chunk_size
                )
                loss = (stats.divergence * token_weights).sum()
        loss.backward()
        totals.add("loss", float(loss.detach()))
        totals.add("loss_tokens", stats.divergence.numel())
        totals.add("student_logprob_sum", float(stats.student_logprob.sum()))
        totals.add("entropy_sum", float(stats.student_entropy.sum()))
        totals.add("student_s", time.perf_counter() - started)
    student.eval()
    return totals
