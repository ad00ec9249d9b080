"""Packing prompt + completion sequences and reading the hidden states that predict completion tokens.

Sequences are right-padded, so every real token sits at its natural position (0, 1, ...) and never
attends to padding. Completion token j of sequence i sits at position P_i + j and is predicted by
the hidden state at P_i + j - 1. Only loss positions are gathered, packed into one (N, H) tensor
in a fixed order (sequence, then token), so the student's and the teacher's rows line up even
though their prompts differ in length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from worker.sdft.divergence import linear_head


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    rows: torch.Tensor  # (N,) sequence of each gathered position
    columns: torch.Tensor  # (N,) position whose hidden state predicts the target
    target_ids: torch.Tensor  # (N,) the completion tokens being predicted
    num_sequences: int

    @property
    def sequence_index(self) -> torch.Tensor:
        return self.rows


def pack(
    prompts: list[list[int]],
    completions: list[list[int]],
    *,
    pad_token_id: int,
    skip_first: int = 0,
    device: torch.device | str = "cpu",
) -> PackedBatch:
    """Right-padded prompt + completion ids; gather indices for completion tokens j >= skip_first."""
    if len(prompts) != len(completions):
        raise ValueError("one completion per prompt")
    lengths = [len(prompt) + len(completion) for prompt, completion in zip(prompts, completions, strict=True)]
    width = max(max(lengths, default=1), 1)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    rows: list[int] = []
    columns: list[int] = []
    targets: list[int] = []
    for index, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        if not prompt:
            raise ValueError("a prompt needs at least one token")
        sequence = prompt + completion
        input_ids[index, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        attention_mask[index, : len(sequence)] = 1
        for offset in range(skip_first, len(completion)):
            rows.append(index)
            columns.append(len(prompt) + offset - 1)
            targets.append(completion[offset])
    as_long = lambda values: torch.tensor(values, dtype=torch.long, device=device)  # noqa: E731
    return PackedBatch(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        rows=as_long(rows),
        columns=as_long(columns),
        target_ids=as_long(targets),
        num_sequences=len(prompts),
    )


def final_hidden_states(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) ids -> (B, T, H) the decoder's last hidden states (after its final norm), no lm head."""
    decoder = model.get_decoder()
    output = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return output.last_hidden_state


def completion_hidden(model: Any, batch: PackedBatch) -> torch.Tensor:
    """(N, H) hidden states at the positions predicting the batch's target tokens."""
    hidden = final_hidden_states(model, batch.input_ids, batch.attention_mask)  # (B, T, H)
    return hidden[batch.rows, batch.columns]  # (N, H)


def output_head(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """hidden -> logits for this model, as its own forward would compute them."""
    softcap = getattr(model.config, "final_logit_softcapping", None)
    return linear_head(model.get_output_embeddings(), softcap=softcap)
