"""The divergence fused with both LM heads, its gradient formed in the forward pass.

`divergence.completion_token_stats` already keeps (N, V) logits out of memory by running the head
chunk by chunk under activation checkpointing, but checkpointing recomputes every chunk in
backward: both heads' matmuls and log-softmaxes run twice. Here each chunk's logits produce the
loss *and* the gradient with respect to the student's logits while they are alive, and are then
freed (the trick of Liger's fused linear cross-entropy). With z_S the student's logits, p_S its
softmax and g = dL/dp_S,

    dL/dz_S = p_S * (g - sum_v p_S g)                                  (softmax's Jacobian)
    forward_kl   dL/dz_S = p_S - p_T
    reverse_kl   g = log p_S - log p_T                  -> p_S * (g - KL(p_S || p_T))
    jsd          g = (1 - beta) (log p_S - log M)       (the +1 / -1 terms cancel)

and, with top_k, the same derivative through the top-k-plus-tail categories, taken by autograd on
the chunk alone. Then d hidden = dL/dz W and d W += dL/dz^T hidden (dL/dz scaled by tanh's
derivative first when the model soft-caps its logits). Because the gradient is taken at forward
time, each token's weight in the loss must be known then: the caller passes `token_weights` (the
paper's reduction, 1 / (tokens in the sequence x sequences)) and gets back their weighted sum,
which must be used linearly (it is: it is the training loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from worker.sdft.divergence import TokenStats, divergence_from_logprobs, token_divergence


@dataclass
class HeadWeights:
    """An output embedding as tensors: logits = softcap(hidden @ weight.T + bias)."""

    weight: torch.Tensor  # (V, H)
    bias: torch.Tensor | None  # (V,)
    softcap: float | None = None


def head_weights(model: Any) -> HeadWeights | None:
    """The model's lm head as tensors, or None when it is not a plain linear layer (e.g. LoRA on it)."""
    module = model.get_output_embeddings()
    if type(module) is not torch.nn.Linear:
        return None
    softcap = getattr(model.config, "final_logit_softcapping", None)
    return HeadWeights(module.weight, module.bias, float(softcap) if softcap else None)


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The dtype the head's matmul runs in: autocast's when it is on, as the model's own head would."""
    device_type = hidden.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return torch.promote_types(hidden.dtype, weight.dtype)


class _Head:
    """One head prepared for the chunk loop: weight cast once, logits in float32."""

    def __init__(self, head: HeadWeights, hidden: torch.Tensor) -> None:
        self.dtype = _compute_dtype(hidden, head.weight)
        self.weight = head.weight.detach().to(self.dtype)  # (V, H)
        self.bias = None if head.bias is None else head.bias.detach().to(self.dtype)
        self.softcap = head.softcap

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(n, H) -> (n, V) float32 logits."""
        hidden = hidden.to(self.dtype)
        raw = torch.nn.functional.linear(hidden, self.weight, self.bias).float()
        if self.softcap:
            raw = torch.tanh(raw / self.softcap) * self.softcap
        return raw


def _value_and_logit_grad(
    student_logits: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    *,
    divergence: str,
    beta: float,
    top_k: int | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(n, V) -> per-token divergence (n,), its gradient w.r.t. the student's logits (n, V), and the
    student's log-probs (n, V)."""
    student_logprobs = torch.log_softmax(student_logits, dim=-1)
    if top_k is not None and top_k < student_logits.shape[-1]:
        with torch.enable_grad():
            leaf = student_logits.detach().requires_grad_()
            value = token_divergence(leaf, teacher_logprobs, divergence=divergence, beta=beta, top_k=top_k)
            (grad,) = torch.autograd.grad(value.sum(), leaf)
        return value.detach(), grad, student_logprobs
    student_probs = student_logprobs.exp()
    if divergence == "forward_kl":
        teacher_probs = teacher_logprobs.exp()
        value = (teacher_probs * (teacher_logprobs - student_logprobs)).sum(dim=-1)
        return value, student_probs - teacher_probs, student_logprobs
    value = divergence_from_logprobs(student_logprobs, teacher_logprobs, divergence=divergence, beta=beta)
    if divergence == "reverse_kl":
        pull = student_logprobs - teacher_logprobs
    else:  # jsd (divergence_from_logprobs has rejected anything else)
        mixture_logprobs = torch.logaddexp(
            teacher_logprobs + torch.log(torch.tensor(beta)),
            student_logprobs + torch.log(torch.tensor(1.0 - beta)),
        )
        pull = (1.0 - beta) * (student_logprobs - mixture_logprobs)
    grad = student_probs * (pull - (student_probs * pull).sum(dim=-1, keepdim=True))
    return value, grad, student_logprobs


def _chunk_loop(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    target_ids: torch.Tensor,
    token_weights: torch.Tensor,
    student: HeadWeights,
    teacher: HeadWeights | None,
    options: dict[str, Any],
    *,
    grad_hidden: torch.Tensor | None,
    grad_weight: torch.Tensor | None,
    grad_bias: torch.Tensor | None,
) -> tuple[torch.Tensor, ...]:
    """Loss, per-token stats; fills the gradient buffers given (None: that gradient is not wanted).

    Without a teacher the per-token value is SFT's cross-entropy: forward KL from the one-hot target,
    whose gradient is p_S - onehot.
    """
    student_head = _Head(student, student_hidden)
    teacher_head = None if teacher is None else _Head(teacher, teacher_hidden)
    rows = student_hidden.shape[0]
    chunk_size = options["chunk_size"] or rows
    pieces: list[tuple[torch.Tensor, ...]] = []
    device_type = student_hidden.device.type
    # Everything below is explicit about dtypes; autocast would recast the gradient matmuls too.
    with torch.autocast(device_type, enabled=False):
        for start in range(0, rows, chunk_size):
            stop = start + chunk_size
            hidden = student_hidden[start:stop]  # (n, H)
            student_logits = student_head.logits(hidden)  # (n, V)
            targets = target_ids[start:stop, None]
            if teacher_head is None:
                student_logprobs = torch.log_softmax(student_logits, dim=-1)
                student_chosen = student_logprobs.gather(-1, targets).squeeze(-1)
                value, teacher_chosen = -student_chosen, torch.zeros_like(student_chosen)
                logit_grad = student_logprobs.exp().scatter_add_(
                    -1, targets, -torch.ones_like(value[:, None])
                )
            else:
                teacher_logprobs = torch.log_softmax(teacher_head.logits(teacher_hidden[start:stop]), dim=-1)
                value, logit_grad, student_logprobs = _value_and_logit_grad(
                    student_logits,
                    teacher_logprobs,
                    divergence=options["divergence"],
                    beta=options["beta"],
                    top_k=options["top_k"],
                )
                student_chosen = student_logprobs.gather(-1, targets).squeeze(-1)
                teacher_chosen = teacher_logprobs.gather(-1, targets).squeeze(-1)
            entropy = -(student_logprobs.exp() * student_logprobs).sum(-1)
            pieces.append((value, student_chosen, teacher_chosen, entropy))
            if grad_hidden is None and grad_weight is None and grad_bias is None:
                continue
            logit_grad = logit_grad * token_weights[start:stop, None]  # (n, V)
            if student.softcap:
                logit_grad = logit_grad * (1.0 - (student_logits / student.softcap) ** 2)
            if grad_bias is not None:
                grad_bias += logit_grad.sum(dim=0).to(grad_bias.dtype)
            logit_grad = logit_grad.to(student_head.dtype)
            if grad_hidden is not None:
                grad_hidden[start:stop] = (logit_grad @ student_head.weight).to(grad_hidden.dtype)
            if grad_weight is not None:
                grad_weight += (logit_grad.T @ hidden.to(student_head.dtype)).to(grad_weight.dtype)
    per_token, student_logprob, teacher_logprob, entropy = (
        torch.cat(parts) for parts in zip(*pieces, strict=True)
    )
    loss = (per_token * token_weights).sum()
    return loss, per_token, student_logprob, teacher_logprob, entropy


class _FusedDivergence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        student_hidden: torch.Tensor,
        student_weight: torch.Tensor,
        student_bias: torch.Tensor | None,
        teacher_hidden: torch.Tensor,
        target_ids: torch.Tensor,
        token_weights: torch.Tensor,
        student_softcap: float | None,
        teacher: HeadWeights | None,
        options: dict[str, Any],
    ) -> tuple[torch.Tensor, ...]:
        def buffer(tensor: torch.Tensor | None, index: int) -> torch.Tensor | None:
            return torch.zeros_like(tensor) if tensor is not None and ctx.needs_input_grad[index] else None

        grad_hidden, grad_weight, grad_bias = (
            buffer(student_hidden, 0),
            buffer(student_weight, 1),
            buffer(student_bias, 2),
        )
        student = HeadWeights(student_weight, student_bias, student_softcap)
        outputs = _chunk_loop(
            student_hidden,
            teacher_hidden,
            target_ids,
            token_weights,
            student,
            teacher,
            options,
            grad_hidden=grad_hidden,
            grad_weight=grad_weight,
            grad_bias=grad_bias,
        )
        ctx.grads = (grad_hidden, grad_weight, grad_bias)
        ctx.mark_non_differentiable(*outputs[1:])
        return outputs

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        grads = tuple(None if grad is None else grad * grad_loss.to(grad.dtype) for grad in ctx.grads)
        ctx.grads = None
        return (*grads, None, None, None, None, None, None)


def _run(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    target_ids: torch.Tensor,
    token_weights: torch.Tensor,
    student: HeadWeights,
    teacher: HeadWeights | None,
    options: dict[str, Any],
) -> tuple[torch.Tensor, TokenStats]:
    token_weights = token_weights.detach().float()
    if student_hidden.shape[0] == 0:
        empty = student_hidden.new_zeros(0, dtype=torch.float32)
        return student_hidden.sum() * 0.0, TokenStats(empty, empty, empty, empty)
    if not torch.is_grad_enabled():
        loss, *stats = _chunk_loop(
            student_hidden,
            teacher_hidden,
            target_ids,
            token_weights,
            student,
            teacher,
            options,
            grad_hidden=None,
            grad_weight=None,
            grad_bias=None,
        )
        return loss, TokenStats(*stats)
    loss, *stats = _FusedDivergence.apply(  # type: ignore[no-untyped-call]
        student_hidden,
        student.weight,
        student.bias,
        teacher_hidden,
        target_ids,
        token_weights,
        student.softcap,
        teacher,
        options,
    )
    return loss, TokenStats(*stats)


def fused_completion_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    target_ids: torch.Tensor,
    token_weights: torch.Tensor,
    *,
    student_head: HeadWeights,
    teacher_head: HeadWeights,
    divergence: str = "forward_kl",
    beta: float = 0.5,
    top_k: int | None = None,
    chunk_size: int | None = 256,
) -> tuple[torch.Tensor, TokenStats]:
    """sum_t token_weights[t] * divergence[t] from (N, H) final hidden states, and per-token stats.

    Gradient flows to the student's hidden states and head (weight, bias) only; the teacher is a
    target, even when it shares the student's head (live teacher). The stats are detached; their
    `divergence` is the per-token value the loss weighs.
    """
    teacher = HeadWeights(
        teacher_head.weight.detach(),
        None if teacher_head.bias is None else teacher_head.bias.detach(),
        teacher_head.softcap,
    )
    options = {"divergence": divergence, "beta": beta, "top_k": top_k, "chunk_size": chunk_size}
    return _run(
        student_hidden, teacher_hidden.detach(), target_ids, token_weights, student_head, teacher, options
    )


def fused_nll_loss(
    hidden: torch.Tensor,
    target_ids: torch.Tensor,
    token_weights: torch.Tensor,
    *,
    head: HeadWeights,
    chunk_size: int | None = 256,
) -> tuple[torch.Tensor, TokenStats]:
    """SFT's sum_t token_weights[t] * -log p(target_t), fused like the divergence; per-token NLL in
    the stats' `divergence` (teacher_logprob is 0)."""
    options = {"divergence": "nll", "beta": 0.0, "top_k": None, "chunk_size": chunk_size}
    return _run(hidden, hidden.new_zeros(0), target_ids, token_weights, head, None, options)
