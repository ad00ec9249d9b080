"""Per-token traces: for each completion token, the student's and the teacher's log-probabilities,
the divergence at that position and each side's top alternatives.

This is what the product shows to tell a healthy teacher signal from a leaking or collapsing one.
"""

from __future__ import annotations

from typing import Any

import torch

from worker.sdft.batching import completion_hidden, output_head, pack
from worker.sdft.divergence import token_divergence
from worker.sdft.models import LoadedModel


def _top(logprobs: torch.Tensor, tokenizer: Any, k: int) -> list[list[list[Any]]]:
    """(N, V) -> per position, the k most likely [token text, log-prob]."""
    values, indices = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)
    # One copy to the host, not one per element (each a device sync on a GPU).
    return [
        [[tokenizer.decode([i]), round(v, 4)] for v, i in zip(row_values, row_ids, strict=True)]
        for row_values, row_ids in zip(values.tolist(), indices.tolist(), strict=True)
    ]


@torch.no_grad()
def completion_logprobs(
    model: Any, prompt_ids: list[int], completion_ids: list[int], *, pad_token_id: int
) -> torch.Tensor:
    """(C, V) log-softmax of the model's next-token logits at each completion token's position."""
    batch = pack(
        [prompt_ids], [completion_ids], pad_token_id=pad_token_id, device=next(model.parameters()).device
    )
    hidden = completion_hidden(model, batch)  # (C, H)
    return torch.log_softmax(output_head(model)(hidden).float(), dim=-1)  # (C, V)


def token_traces(
    loaded: LoadedModel,
    *,
    student_prompt_ids: list[int],
    teacher_prompt_ids: list[int],
    completion_ids: list[int],
    teacher_model: Any = None,
    top_k: int = 5,
    divergence: str = "forward_kl",
    beta: float = 0.5,
) -> list[dict[str, Any]]:
    """One dict per completion token. `teacher_model=None` scores the teacher prompt with the student itself."""
    if not completion_ids:
        return []
    was_training = loaded.model.training
    loaded.model.eval()
    try:
        student = completion_logprobs(
            loaded.model, student_prompt_ids, completion_ids, pad_token_id=loaded.pad_token_id
        )  # (C, V)
        teacher = completion_logprobs(
            teacher_model if teacher_model is not None else loaded.model,
            teacher_prompt_ids,
            completion_ids,
            pad_token_id=loaded.pad_token_id,
        )  # (C, V)
    finally:
        loaded.model.train(was_training)
    divergences = token_divergence(student, teacher, divergence=divergence, beta=beta).tolist()  # (C,)
    targets = torch.tensor(completion_ids, device=student.device).unsqueeze(-1)
    student_chosen = student.gather(-1, targets).squeeze(-1).tolist()
    teacher_chosen = teacher.gather(-1, targets).squeeze(-1).tolist()
    student_top = _top(student, loaded.tokenizer, top_k)
    teacher_top = _top(teacher, loaded.tokenizer, top_k)
    return [
        {
            "token": loaded.tokenizer.decode([token_id]),
            "token_id": int(token_id),
            "student_logprob": round(student_chosen[index], 4),
            "teacher_logprob": round(teacher_chosen[index], 4),
            "divergence": round(divergences[index], 4),
            "student_top": student_top[index],
            "teacher_top": teacher_top[index],
        }
        for index, token_id in enumerate(completion_ids)
    ]
