"""Evaluation of a model on a skill's eval split or the general probe, and its KL from a reference.

Greedy accuracy with the skill's programmatic scorer; with `samples` > 1, also k samples per
prompt at temperature 1.0 and the unbiased pass@k. The forgetting signal that needs no
references: the mean per-token KL(model || reference) on the model's own greedy answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from worker.sdft.data import Example
from worker.sdft.logprobs import completion_logprobs
from worker.sdft.models import LoadedModel
from worker.sdft.probe import ProbeItem, score_general_probe
from worker.sdft.prompts import encode, render_prompt
from worker.sdft.rollout import TransformersRolloutEngine
from worker.sdft.scoring import Scorer, Verdict, mean_pass_at_k

MAX_STORED_SAMPLES = 200


@dataclass
class EvalResult:
    accuracy: float
    n: int
    pass_at_k: dict[str, float] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    # Greedy completions as token ids, one per example (for KL against a reference model).
    prompt_ids: list[list[int]] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)


def generate(
    loaded: LoadedModel,
    prompts: list[list[dict[str, str]]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    batch_size: int = 8,
) -> tuple[list[list[int]], list[list[int]], list[str]]:
    """Prompt ids, completion ids (EOS cut) and decoded texts, one per prompt; temperature 0 is greedy."""
    prompt_ids = [encode(loaded.tokenizer, render_prompt(loaded.tokenizer, messages)) for messages in prompts]
    # Similar lengths in one batch waste less padding; results are put back in input order.
    order = sorted(range(len(prompt_ids)), key=lambda index: len(prompt_ids[index]))
    engine = TransformersRolloutEngine(batch_size=batch_size)
    completions = engine.generate(
        loaded.model,
        [prompt_ids[index] for index in order],
        eos_token_ids=loaded.eos_token_ids,
        pad_token_id=loaded.pad_token_id,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
    )
    completion_ids: list[list[int]] = [[] for _ in prompts]
    for position, index in enumerate(order):
        completion_ids[index] = completions[position].token_ids
    texts = [loaded.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in completion_ids]
    return prompt_ids, completion_ids, texts


def _judge(scorer: Scorer, output: str, reference: str) -> Verdict:
    """A reference the scorer cannot read marks that row wrong with the reason, not the whole evaluation."""
    try:
        return scorer.judge(output, reference)
    except ValueError as error:
        return Verdict(correct=False, reason=f"reference not usable by this scorer: {error}")


def evaluate_examples(
    loaded: LoadedModel,
    examples: list[Example],
    *,
    scorer: Scorer,
    max_new_tokens: int,
    samples: int = 1,
    batch_size: int = 8,
    seed: int = 0,
) -> EvalResult:
    """Greedy accuracy of `examples` (their `reference`, else their demonstration) and pass@k for k = samples."""
    if not examples:
        return EvalResult(accuracy=0.0, n=0)
    references = [
        example.reference if example.reference is not None else example.demonstration for example in examples
    ]
    prompts = [example.prompt for example in examples]
    prompt_ids, completion_ids, outputs = generate(
        loaded, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    verdicts = [
        _judge(scorer, output, reference) for output, reference in zip(outputs, references, strict=True)
    ]
    correct = sum(verdict.correct for verdict in verdicts)
    pass_at_k: dict[str, float] = {}
    sampled_correct: list[int] = []
    if samples > 1:
        torch.manual_seed(seed)
        sampled_correct = [0] * len(examples)
        for _ in range(samples):
            _, _, sampled = generate(
                loaded, prompts, max_new_tokens=max_new_tokens, temperature=1.0, batch_size=batch_size
            )
            for index, (output, reference) in enumerate(zip(sampled, references, strict=True)):
                sampled_correct[index] += _judge(scorer, output, reference).correct
        counts = [(samples, c) for c in sampled_correct]
        pass_at_k = {f"pass@{k}": mean_pass_at_k(counts, k) for k in sorted({1, samples})}
    stored = [
        {
            "prompt": example.prompt[-1]["content"],
            "output": output,
            "reference": reference,
            "correct": verdict.correct,
            "reason": verdict.reason,
            **({"samples_correct": sampled_correct[index]} if sampled_correct else {}),
        }
        for index, (example, output, reference, verdict) in enumerate(
            zip(examples, outputs, references, verdicts, strict=True)
        )
    ][:MAX_STORED_SAMPLES]
    return EvalResult(
        accuracy=correct / len(examples),
        n=len(examples),
        pass_at_k=pass_at_k,
        samples=stored,
        prompt_ids=prompt_ids,
        completion_ids=completion_ids,
    )


@torch.no_grad()
def mean_kl_from_reference(
    loaded: LoadedModel, reference: LoadedModel, prompt_ids: list[list[int]], completion_ids: list[list[int]]
) -> float:
    """Mean over all completion tokens of KL(model || reference), full vocabulary, on the model's own answers."""
    total, count = 0.0, 0
    for prompt, completion in zip(prompt_ids, completion_ids, strict=True):
        if not completion:
            continue
        model_logprobs = completion_logprobs(
            loaded.model, prompt, completion, pad_token_id=loaded.pad_token_id
        )
        reference_logprobs = completion_logprobs(
            reference.model, prompt, completion, pad_token_id=reference.pad_token_id
        )  # (C, V)
        per_token = (model_logprobs.exp() * (model_logprobs - reference_logprobs)).sum(dim=-1)  # (C,)
        total += float(per_token.sum())
        count += per_token.numel()
    return total / count if count else 0.0


def probe_subset(items: list[ProbeItem], limit: int | None) -> list[ProbeItem]:
    """The first `limit` items taken evenly across categories (deterministic, so checkpoints compare)."""
    if limit is None or limit >= len(items):
        return list(items)
    by_category: dict[str, list[ProbeItem]] = {}
    for item in items:
        by_category.setdefault(item.category, []).append(item)
    chosen: list[ProbeItem] = []
    depth = 0
    while len(chosen) < limit:
        for category_items in by_category.values():
            if depth < len(category_items) and len(chosen) < limit:
                chosen.append(category_items[depth])
        depth += 1
    return chosen


def evaluate_probe(
    loaded: LoadedModel, items: list[ProbeItem], *, max_new_tokens: int, batch_size: int = 8
) -> EvalResult:
    """Greedy answers to the general probe, scored per item with its own scorer."""
    prompt_ids, completion_ids, outputs = generate(
        loaded, [item.prompt for item in items], max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    report = score_general_probe(items, outputs)
    samples = [
        {
            "id": item.id,
            "category": item.category,
            "prompt": item.prompt[-1]["content"],
            "output": output,
            "reference": item.reference,
            "correct": verdict.correct,
            "reason": verdict.reason,
        }
        for item, output, verdict in zip(items, outputs, report.verdicts, strict=True)
    ]
    return EvalResult(
        accuracy=report.accuracy,
        n=len(items),
        pass_at_k={f"category:{name}": value for name, value in report.per_category.items()},
        samples=samples[:MAX_STORED_SAMPLES],
        prompt_ids=prompt_ids,
        completion_ids=completion_ids,
    )
