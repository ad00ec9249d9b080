"""Per-token divergences between the student's and the teacher's next-token distributions.

Pure functions of tensors. With p_T the teacher's and p_S the student's distribution at a position:
  forward_kl  KL(p_T || p_S) = sum_v p_T (log p_T - log p_S)   (the paper's published runs)
  reverse_kl  KL(p_S || p_T) = sum_v p_S (log p_S - log p_T)   (the paper's theory; mode-seeking)
  jsd         beta KL(p_T || M) + (1 - beta) KL(p_S || M), M = beta p_T + (1 - beta) p_S
              (the generalized JSD of GKD / TRL; beta -> 0 is not forward KL, so the ends are
              offered as their own divergences)
Sums run over the full vocabulary unless `top_k` is set: then over the student's top-k tokens plus one
bucket holding the rest of each distribution's mass (TRL's SDFT convention), so the value still
approximates the full divergence. Gradients flow into the student only; the teacher is a target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd")


def divergence_from_logprobs(
    student_logprobs: torch.Tensor, teacher_logprobs: torch.Tensor, *, divergence: str, beta: float = 0.5
) -> torch.Tensor:
    """(..., V) normalized log-probs -> (...) divergence, summed over the last axis."""
    if divergence == "forward_kl":
        pointwise = teacher_logprobs.exp() * (teacher_logprobs - student_logprobs)
    elif divergence == "reverse_kl":
        pointwise = student_logprobs.exp() * (student_logprobs - teacher_logprobs)
    elif divergence == "jsd":
        if not 0.0 < beta < 1.0:
            raise ValueError(f"the generalized JSD needs 0 < beta < 1, got {beta}")
        mixture_logprobs = torch.logaddexp(
            teacher_logprobs + torch.log(torch.tensor(beta, dtype=teacher_logprobs.dtype)),
            student_logprobs + torch.log(torch.tensor(1.0 - beta, dtype=student_logprobs.dtype)),
        )
        teacher_term = teacher_logprobs.exp() * (teacher_logprobs - mixture_logprobs)
        student_term = student_logprobs.exp() * (student_logprobs - mixture_logprobs)
        pointwise = beta * teacher_term + (1.0 - beta) * student_term
    else:
        raise ValueError(f"unknown divergence {divergence!r} (one of {', '.join(DIVERGENCES)})")
    # Pointwise terms can be negative (they cancel in the sum); the per-position sum is >= 0.
    return pointwise.sum(dim=-1)


def _with_tail_bucket(topk_logprobs: torch.Tensor) -> torch.Tensor:
    """(..., k) log-probs of a top-k subset -> (..., k + 1) with the left-over mass as one more category."""
    captured = torch.logsumexp(topk_logprobs, dim=-1, keepdim=True).clamp(max=-1e-7)
    tail = torch.log(-torch.expm1(captured))
    return torch.cat([topk_logprobs, tail], dim=-1)


def token_divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    divergence: str = "forward_kl",
    beta: float = 0.5,
    top_k: int | None = None,
) -> torch.Tensor:
    """(N, V) student and teacher logits -> (N,) divergence per position, in float32 or wider."""
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    student_logprobs = torch.log_softmax(student_logits.to(dtype), dim=-1)  # (N, V)
    teacher_logprobs = torch.log_softmax(teacher_logits.to(dtype), dim=-1)  # (N, V)
    if top_k is not None and top_k < student_logprobs.shape[-1]:
        support = student_logprobs.detach().topk(top_k, dim=-1).indices  # (N, k)
        student_logprobs = _with_tail_bucket(student_logprobs.gather(-1, support))  # (N, k + 1)
        teacher_logprobs = _with_tail_bucket(teacher_logprobs.gather(-1, support))  # (N, k + 1)
    return divergence_from_logprobs(student_logprobs, teacher_logprobs, divergence=divergence, beta=beta)


def masked_sequence_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T) values and 0/1 mask -> mean over each sequence's tokens, then over sequences that have any.

    This is the paper's reduction: a long completion weighs as much as a short one.
    """
    mask = mask.to(per_token.dtype)
    counts = mask.sum(dim=-1)  # (B,)
    has_tokens = counts > 0
    if not bool(has_tokens.any()):
        return per_token.sum() * 0.0
    per_sequence = (per_token * mask).sum(dim=-1)[has_tokens] / counts[has_tokens]
    return per_sequence.mean()


def flat_sequence_mean(
    per_token: torch.Tensor, sequence_index: torch.Tensor, num_sequences: int
) -> torch.Tensor:
    """(N,) values of packed tokens with (N,) owning-sequence ids -> the same reduction as masked_sequence_mean."""
    totals = per_token.new_zeros(num_sequences).index_add(0, sequence_index, per_token)
    counts = torch.bincount(sequence_index, minlength=num_sequences).to(per_token.dtype)
    has_tokens = counts > 0
    if not bool(has_tokens.any()):
        return per_token.sum() * 0.0
    return (totals[has_tokens] / counts[has_tokens]).mean()


@dataclass
class TokenStats:
    """Per packed completion token: the loss term (with grad) and detached diagnostics."""

    divergence: torch.Tensor  # (N,) differentiable w.r.t. the student
    student_logprob: torch.Tensor  # (N,) log p_S(sampled token)
    teacher_logprob: torch.Tensor  # (N,) log p_T(sampled token)
    student_entropy: torch.Tensor  # (N,)


def _chunk_stats(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    target_ids: torch.Tensor,
    student_head: Callable[[torch.Tensor], torch.Tensor],
    teacher_head: Callable[[torch.Tensor], torch.Tensor],
    divergence: str,
    beta: float,
    top_k: int | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    student_logits = student_head(student_hidden).float()  # (n, V)
    with torch.no_grad():  # a live teacher shares the student's head: never let gradient in through it
        teacher_logits = teacher_head(teacher_hidden).float()  # (n, V)
    per_token = token_divergence(
        student_logits, teacher_logits, divergence=divergence, beta=beta, top_k=top_k
    )
    with torch.no_grad():
        student_logprobs = torch.log_softmax(student_logits, dim=-1)
        teacher_logprobs = torch.log_softmax(teacher_logits, dim=-1)
        targets = target_ids.unsqueeze(-1)
        student_logprob = student_logprobs.gather(-1, targets).squeeze(-1)
        teacher_logprob = teacher_logprobs.gather(-1, targets).squeeze(-1)
        entropy = -(student_logprobs.exp() * student_logprobs).sum(-1)
    return per_token, student_logprob, teacher_logprob, entropy


def _run_chunked(
    function: Callable[..., tuple[torch.Tensor, ...]],
    tensors: tuple[torch.Tensor, ...],
    *,
    chunk_size: int | None,
    grad: bool,
) -> tuple[torch.Tensor, ...]:
    """Apply `function` to row chunks of `tensors` and concatenate; under `grad`, each chunk is
    checkpointed, so its logits are recomputed in backward instead of being kept alive."""
    rows = tensors[0].shape[0]
    if chunk_size is None or chunk_size >= rows:
        return function(*tensors)
    pieces = []
    for start in range(0, rows, chunk_size):
        chunk = tuple(tensor[start : start + chunk_size] for tensor in tensors)
        if grad:
            pieces.append(checkpoint(function, *chunk, use_reentrant=False))
        else:
            pieces.append(function(*chunk))
    return tuple(torch.cat(parts) for parts in zip(*pieces, strict=True))


def completion_token_stats(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    target_ids: torch.Tensor,
    *,
    student_head: Callable[[torch.Tensor], torch.Tensor],
    teacher_head: Callable[[torch.Tensor], torch.Tensor],
    divergence: str = "forward_kl",
    beta: float = 0.5,
    top_k: int | None = None,
    chunk_size: int | None = 256,
) -> TokenStats:
    """(N, H) final hidden states of student and teacher at the positions predicting (N,) target tokens.

    The lm head and the divergence run `chunk_size` positions at a time under activation
    checkpointing, so no (N, V) float32 logits tensor is kept for the backward pass: each chunk's
    logits are recomputed when its gradient is needed. `chunk_size=None` computes everything at once.
    """
    if student_hidden.shape[0] == 0:
        empty = student_hidden.new_zeros(0, dtype=torch.float32)
        return TokenStats(empty + student_hidden.sum() * 0.0, empty, empty, empty)

    def function(
        student_rows: torch.Tensor, teacher_rows: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        return _chunk_stats(
            student_rows, teacher_rows, targets, student_head, teacher_head, divergence, beta, top_k
        )

    grad = torch.is_grad_enabled() and student_hidden.requires_grad
    outputs = _run_chunked(
        function, (student_hidden, teacher_hidden, target_ids), chunk_size=chunk_size, grad=grad
    )
    return TokenStats(*outputs)


def completion_nll_stats(
    hidden: torch.Tensor,
    target_ids: torch.Tensor,
    *,
    head: Callable[[torch.Tensor], torch.Tensor],
    chunk_size: int | None = 256,
) -> TokenStats:
    """SFT's per-token negative log-likelihood, chunked like the divergence; reported in `divergence`."""
    if hidden.shape[0] == 0:
        empty = hidden.new_zeros(0, dtype=torch.float32)
        return TokenStats(empty + hidden.sum() * 0.0, empty, empty, empty)

    def function(rows: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logprobs = torch.log_softmax(head(rows).float(), dim=-1)  # (n, V)
        chosen = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (n,)
        with torch.no_grad():
            entropy = -(logprobs.exp() * logprobs).sum(-1)
        return -chosen, chosen.detach(), entropy

    grad = torch.is_grad_enabled() and hidden.requires_grad
    nll, logprob, entropy = _run_chunked(function, (hidden, target_ids), chunk_size=chunk_size, grad=grad)
    return TokenStats(
        divergence=nll,
        student_logprob=logprob,
        teacher_logprob=torch.zeros_like(logprob),
        student_entropy=entropy,
    )


def linear_head(
    module: torch.nn.Module, *, softcap: float | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """hidden -> logits through a model's output embedding (with Gemma-style soft-capping if configured)."""

    def head(hidden: torch.Tensor) -> torch.Tensor:
        logits = module(hidden)
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        return logits

    return head
