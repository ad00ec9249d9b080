"""Forward KL(teacher || student) fused with both LM heads, gradient computed during the forward pass.

A candidate for worker/sdft/divergence.py, kept in bench/ until it is adopted. The engine's
`completion_token_stats` already avoids full logits by chunking the head under activation
checkpointing, but checkpointing recomputes each chunk in backward: the student's and the teacher's
head matmuls and both log-softmaxes run twice. Forward KL's gradient has a closed form,

    d/dz_S  sum_v p_T (log p_T - log p_S)  =  p_S - p_T        (z_S: the student's logits)

so each chunk can produce its gradient while its logits are alive and then free them (the trick of
Liger's fused linear cross-entropy): d hidden = g W_S, d W_S += g^T hidden, with g = w (p_S - p_T)
scaled by the token's loss weight w. Nothing of size (N, V) exists beyond one chunk, and no matmul
runs twice. The gradient is taken at forward time, so the loss must be used linearly (it is: it is
the training loss, multiplied only by the scalar grad_output in backward).
"""

from __future__ import annotations

from typing import Any

import torch


class _FusedForwardKL(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        student_hidden: torch.Tensor,  # (N, H)
        student_weight: torch.Tensor,  # (V, H)
        teacher_hidden: torch.Tensor,  # (N, H)
        teacher_weight: torch.Tensor,  # (V, H)
        token_weights: torch.Tensor,  # (N,) each token's weight in the loss (the reduction)
        chunk_size: int,
        want_grad: bool,
    ) -> torch.Tensor:
        grad_hidden = torch.zeros_like(student_hidden) if want_grad else None
        grad_weight = torch.zeros_like(student_weight) if want_grad else None
        loss = student_hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, student_hidden.shape[0], chunk_size):
            stop = start + chunk_size
            hidden = student_hidden[start:stop]  # (n, H)
            weights = token_weights[start:stop, None]  # (n, 1)
            # In-place normalisation: each (n, V) buffer is reused instead of allocating another.
            student_logprobs = (hidden @ student_weight.T).float()  # (n, V)
            student_logprobs -= student_logprobs.logsumexp(dim=-1, keepdim=True)
            teacher_logprobs = (teacher_hidden[start:stop] @ teacher_weight.T).float()  # (n, V)
            teacher_logprobs -= teacher_logprobs.logsumexp(dim=-1, keepdim=True)
            teacher_probs = teacher_logprobs.exp()  # (n, V)
            # sum_v p_T (log p_T - log p_S), reusing the teacher's log-prob buffer for the difference.
            per_token = (teacher_probs * teacher_logprobs.sub_(student_logprobs)).sum(dim=-1, keepdim=True)
            loss += (per_token * weights).sum()
            if want_grad:
                assert grad_hidden is not None and grad_weight is not None
                logits_grad = student_logprobs.exp_().sub_(teacher_probs).mul_(weights)  # (n, V)
                logits_grad = logits_grad.to(student_weight.dtype)
                grad_hidden[start:stop] = logits_grad @ student_weight  # (n, H)
                grad_weight.addmm_(logits_grad.T, hidden)  # (V, H)
        ctx.save_for_backward(*(t for t in (grad_hidden, grad_weight) if t is not None))
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if not ctx.saved_tensors:
            return (None,) * 7
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None, None, None, None


def fused_forward_kl(
    student_hidden: torch.Tensor,
    student_weight: torch.Tensor,
    teacher_hidden: torch.Tensor,
    teacher_weight: torch.Tensor,
    token_weights: torch.Tensor,
    *,
    chunk_size: int = 512,
) -> torch.Tensor:
    """sum_t token_weights[t] * KL(p_T || p_S)[t], logits computed `chunk_size` rows at a time.

    student_hidden, teacher_hidden: (N, H) final hidden states; student_weight, teacher_weight:
    (V, H) output embeddings; token_weights: (N,), e.g. 1 / (tokens in the sequence * sequences)
    for the paper's per-sequence mean. Gradient flows to the student's hidden states and weight
    only; the teacher is a target.
    """
    want_grad = torch.is_grad_enabled() and (student_hidden.requires_grad or student_weight.requires_grad)
    loss: torch.Tensor = _FusedForwardKL.apply(  # type: ignore[no-untyped-call]
        student_hidden,
        student_weight,
        teacher_hidden.detach(),
        teacher_weight.detach(),
        token_weights.detach().float(),
        chunk_size,
        want_grad,
    )
    return loss
