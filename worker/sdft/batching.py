"""Packing prompt + completion sequences and reading the hidden states that predict completion tokens.

Sequences are right-padded, so every real token sits at its natural position (0, 1, ...) and never
attends to padding. Completion token j of sequence i sits at position P_i + j and is predicted by
the hidden state at P_i + j - 1. Only loss positions are gathered, packed into one (N, H) tensor
in a fixed order (sequence, then token), so the student's and the teacher's rows line up even
though their prompts differ in length.
"""

from __future__ import annotations

import inspect
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


def left_padded(prompts: list[list[int]], *, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, W) ids and mask with every prompt ending in the last column (where generation continues)."""
    width = max(len(prompt) for prompt in prompts)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for index, prompt in enumerate(prompts):
        input_ids[index, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        attention_mask[index, width - len(prompt) :] = 1
    return input_ids, attention_mask


@torch.no_grad()
def shared_prompt_completion_hidden(
    model: Any,
    prompts: list[list[int]],
    completions: list[list[int]],
    *,
    pad_token_id: int,
    skip_first: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(N, H) like `completion_hidden(model, pack(...))`, each distinct prompt run through the model once.

    The teacher scores the n rollouts of one prompt behind the same (long: it holds the
    demonstration) teacher prompt. Here the distinct prompts run once, left-padded so each one's
    last hidden state (which predicts completion token 0) sits in the last column; their KV cache is
    then repeated for every completion of that prompt and the completions run on top of it, with
    explicit positions so each token sits where it would in the packed, right-padded batch.
    Inference only: the cache holds no graph.
    """
    distinct: dict[tuple[int, ...], int] = {}
    owners = [distinct.setdefault(tuple(prompt), len(distinct)) for prompt in prompts]
    unique_prompts = [list(prompt) for prompt in distinct]
    decoder = model.get_decoder()
    prompt_ids, prompt_mask = left_padded(unique_prompts, pad_token_id=pad_token_id)
    prompt_positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    prefix = decoder(
        input_ids=prompt_ids.to(device),
        attention_mask=prompt_mask.to(device),
        position_ids=prompt_positions.to(device),
        use_cache=True,
    )
    owner_index = torch.tensor(owners, dtype=torch.long, device=device)
    first = prefix.last_hidden_state[:, -1][owner_index]  # (B, H) predicts completion token 0
    columns = [first[:, None]]
    width = max((len(completion) for completion in completions), default=0)
    if width > 1:  # the last completion token predicts nothing the loss uses
        # transformers 5.x renamed past_key_values to cache (the old name warns until 5.40).
        cache_name = (
            "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"
        )
        cache = getattr(prefix, cache_name)
        cache.reorder_cache(owner_index)  # (U, ...) -> (B, ...): each prompt's cache for each of its rows
        completion_ids = torch.full((len(completions), width - 1), pad_token_id, dtype=torch.long)
        completion_mask = torch.zeros((len(completions), width - 1), dtype=torch.long)
        for index, completion in enumerate(completions):
            tokens = completion[: width - 1]
            completion_ids[index, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            completion_mask[index, : len(tokens)] = 1
        lengths = torch.tensor([len(prompts[index]) for index in range(len(prompts))], dtype=torch.long)
        positions = lengths[:, None] + torch.arange(width - 1)[None, :]  # (B, C - 1)
        attention_mask = torch.cat([prompt_mask[owners], completion_mask], dim=-1)
        rest = decoder(
            input_ids=completion_ids.to(device),
            attention_mask=attention_mask.to(device),
            position_ids=positions.to(device),
            use_cache=True,
            **{cache_name: cache},
        )
        columns.append(rest.last_hidden_state)  # (B, C - 1, H) predicts completion tokens 1..C-1
    hidden = torch.cat(columns, dim=1)  # (B, C, H): column j predicts completion token j
    rows = [index for index, completion in enumerate(completions) for _ in range(skip_first, len(completion))]
    offsets = [offset for completion in completions for offset in range(skip_first, len(completion))]
    as_long = lambda values: torch.tensor(values, dtype=torch.long, device=device)  # noqa: E731
    return hidden[as_long(rows), as_long(offsets)]  # (N, H), in pack's order


def scoring_hidden(
    model: Any,
    prompts: list[list[int]],
    completions: list[list[int]],
    *,
    pad_token_id: int,
    skip_first: int = 0,
    device: torch.device | str = "cpu",
    share_prompts: bool = True,
) -> torch.Tensor:
    """(N, H) hidden states for scoring completions without grad (the teacher's side), in pack's order.

    Prompts that repeat (n rollouts per prompt) run once through `shared_prompt_completion_hidden`;
    otherwise (nothing to share) one packed forward.
    """
    if share_prompts and len({tuple(prompt) for prompt in prompts}) < len(prompts):
        return shared_prompt_completion_hidden(
            model, prompts, completions, pad_token_id=pad_token_id, skip_first=skip_first, device=device
        )
    batch = pack(prompts, completions, pad_token_id=pad_token_id, skip_first=skip_first, device=device)
    return completion_hidden(model, batch)
