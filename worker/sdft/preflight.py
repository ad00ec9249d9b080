"""Pre-flight check: does SDFT have a signal on these demonstrations with this model, before any training?

SDFT distils the model-with-the-demonstration-in-context (the teacher) into the model-without-it
(the student). That only teaches something where the teacher finds the demonstration much more
likely than the student does. For every demonstration this measures, on the starting weights
(at step 0 the student, the EMA teacher and the frozen teacher are the same model):

- student_logprob: mean over the demonstration's tokens (then end-of-turn, the SFT target) of
  log p(token | student prompt, earlier demonstration tokens);
- teacher_logprob: the same on the teacher prompt (the skill's template, demonstration in context);
- gap = teacher_logprob - student_logprob, in nats per token. Around 1.5 on SmolLM2-135M for a
  tool call (DESIGN.md); near zero or negative means the demonstration in context does not move
  the model toward it, so SDFT has nothing to distil there;
- the teacher's greedy answer on the teacher prompt, scored against the row's reference when it
  has one (the skill's scorer): can the teacher do the task at all with the demonstration shown?
- token counts of both prompts, with the warnings training would otherwise raise as errors
  (a prompt over max_prompt_tokens, a teacher prompt that leaves no room for max_new_tokens);
- whether the teacher's answer repeats the template's own words ("This is an example for a
  response..."): SmolLM2-135M's teacher opens most tool-use answers that way, and a student
  distilled from it learns the phrase (teacher-phrase leakage, DESIGN.md).

The report ranks demonstrations from most to least useful: rows training would refuse last,
then by gap, largest first. Pure computation on a LoadedModel; nothing is written.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from worker.sdft.batching import completion_hidden, output_head, pack
from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE
from worker.sdft.data import Example
from worker.sdft.divergence import completion_nll_stats
from worker.sdft.models import LoadedModel
from worker.sdft.monitors import leaked_phrases, ngrams, template_phrases, words
from worker.sdft.prompts import PromptPair, build_prompt_pair, demonstration_ids
from worker.sdft.rollout import TransformersRolloutEngine
from worker.sdft.scoring import Scorer

# A gap below this (nats per token) is "near zero": the teacher barely prefers the demonstration.
WEAK_GAP = 0.1
PROMPT_PREVIEW_CHARS = 200

# Flags: the first three are about the signal, the last two mean training would refuse the row.
WEAK_GAP_FLAG = "weak_gap"
NEGATIVE_GAP_FLAG = "negative_gap"
TEACHER_WRONG_FLAG = "teacher_wrong"
TEACHER_ECHO_FLAG = "teacher_echoes_template"
PROMPT_TOO_LONG_FLAG = "prompt_too_long"
CONTEXT_OVERFLOW_FLAG = "context_overflow"
BLOCKING_FLAGS = (PROMPT_TOO_LONG_FLAG, CONTEXT_OVERFLOW_FLAG)


@dataclass
class DemonstrationCheck:
    """What the pre-flight found for one demonstration (log-probs are None when it cannot be scored)."""

    index: int  # position in the list given (0-based)
    line: int | None  # where it came from in the uploaded file
    prompt: str  # the last user message, cut for display
    student_prompt_tokens: int
    teacher_prompt_tokens: int
    demonstration_tokens: int  # including the end-of-turn token
    student_logprob: float | None = None
    teacher_logprob: float | None = None
    gap: float | None = None
    teacher_answer: str | None = None
    teacher_correct: bool | None = None  # None: no reference to score against, or not generated
    teacher_reason: str | None = None
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rank: int = 0  # 1 = most useful


@dataclass
class PreflightReport:
    model: str
    demonstrations: list[DemonstrationCheck]  # ranked, most useful first
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "summary": self.summary,
            "demonstrations": [asdict(check) for check in self.demonstrations],
        }


def length_warnings(
    *,
    student_prompt_tokens: int,
    teacher_prompt_tokens: int,
    demonstration_tokens: int,
    max_prompt_tokens: int,
    max_new_tokens: int,
    context: int | None,
) -> tuple[list[str], list[str]]:
    """(flags, warnings) for prompts that training would refuse (it never cuts a prompt silently), and
    for a demonstration longer than SDFT's rollouts may run (a warning: training goes on)."""
    flags: list[str] = []
    warnings: list[str] = []
    longest = max(student_prompt_tokens, teacher_prompt_tokens)
    if longest > max_prompt_tokens:
        which = "teacher" if teacher_prompt_tokens >= student_prompt_tokens else "student"
        flags.append(PROMPT_TOO_LONG_FLAG)
        warnings.append(
            f"the {which} prompt is {longest} tokens, more than max_prompt_tokens={max_prompt_tokens}: "
            "training refuses this row"
        )
    if context is not None:
        if teacher_prompt_tokens + max_new_tokens > context:
            flags.append(CONTEXT_OVERFLOW_FLAG)
            warnings.append(
                f"the teacher prompt ({teacher_prompt_tokens} tokens) plus max_new_tokens={max_new_tokens} "
                f"exceeds the model's context of {context}: SDFT refuses this row"
            )
        elif student_prompt_tokens + demonstration_tokens > context:
            warnings.append(
                f"prompt plus demonstration is {student_prompt_tokens + demonstration_tokens} tokens, more "
                f"than the model's context of {context}: SFT refuses this row"
            )
    if demonstration_tokens > max_new_tokens:
        warnings.append(
            f"the demonstration is {demonstration_tokens} tokens, more than max_new_tokens={max_new_tokens}: "
            "SDFT's rollouts are cut off before an answer this long can end"
        )
    return flags, warnings


def gap_flags(gap: float | None, *, weak_gap: float = WEAK_GAP) -> list[str]:
    """negative_gap below 0, weak_gap in [0, weak_gap): the teacher adds (almost) nothing there."""
    if gap is None:
        return []
    if gap < 0:
        return [NEGATIVE_GAP_FLAG]
    if gap < weak_gap:
        return [WEAK_GAP_FLAG]
    return []


def rank_checks(checks: list[DemonstrationCheck]) -> list[DemonstrationCheck]:
    """Most useful first: rows training accepts before rows it refuses, then the largest gap first.

    A row with no gap (it could not be scored) sorts after every scored row of its group; ties keep
    the upload order. `rank` is set to the 1-based position.
    """

    def key(check: DemonstrationCheck) -> tuple[bool, bool, float, int]:
        blocked = any(flag in BLOCKING_FLAGS for flag in check.flags)
        return (blocked, check.gap is None, -(check.gap or 0.0), check.index)

    ranked = sorted(checks, key=key)
    for position, check in enumerate(ranked, start=1):
        check.rank = position
    return ranked


def template_echo(answer: str, *, template: str, prompt: str = "") -> list[str]:
    """The template's own phrases in the teacher's answer (those the prompt itself holds do not count)."""
    phrases = template_phrases(template) - ngrams(words(prompt))
    return sorted(" ".join(phrase) for phrase in leaked_phrases(answer, frozenset(phrases)))


def summarise(checks: list[DemonstrationCheck], *, weak_gap: float = WEAK_GAP) -> dict[str, Any]:
    """Counts and means over the report, and one sentence that says whether SDFT has a signal."""
    gaps = [check.gap for check in checks if check.gap is not None]
    judged = [check.teacher_correct for check in checks if check.teacher_correct is not None]
    counts = {
        flag: sum(flag in check.flags for check in checks)
        for flag in (WEAK_GAP_FLAG, NEGATIVE_GAP_FLAG, TEACHER_WRONG_FLAG, TEACHER_ECHO_FLAG, *BLOCKING_FLAGS)
    }
    with_signal = sum(gap >= weak_gap for gap in gaps)
    mean_gap = statistics.fmean(gaps) if gaps else None
    if not checks:
        verdict = "no demonstrations to check"
    elif not gaps:
        verdict = "no demonstration could be scored: every row is longer than the model's context"
    elif with_signal == 0:
        verdict = (
            f"no teacher signal: the demonstration in context raises its own log-prob by "
            f"{mean_gap:.3f} nats/token on average; SDFT would learn little. Try another teacher "
            "template or a larger model"
        )
    else:
        verdict = (
            f"the teacher signal exists on {with_signal} of {len(gaps)} scored demonstrations "
            f"(mean gap {mean_gap:.3f} nats/token)"
        )
    return {
        "n": len(checks),
        "n_scored": len(gaps),
        "n_with_signal": with_signal,
        "n_flagged": sum(bool(check.flags) for check in checks),
        "flag_counts": counts,
        "mean_gap": mean_gap,
        "median_gap": statistics.median(gaps) if gaps else None,
        "min_gap": min(gaps) if gaps else None,
        "max_gap": max(gaps) if gaps else None,
        "mean_student_logprob": _mean(check.student_logprob for check in checks),
        "mean_teacher_logprob": _mean(check.teacher_logprob for check in checks),
        "teacher_accuracy": sum(judged) / len(judged) if judged else None,
        "n_with_reference": len(judged),
        "weak_gap": weak_gap,
        "verdict": verdict,
    }


def _mean(values: Any) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.fmean(present) if present else None


@torch.no_grad()
def mean_completion_logprobs(
    loaded: LoadedModel,
    prompts: list[list[int]],
    completions: list[list[int]],
    *,
    batch_size: int = 8,
    chunk_size: int | None = 256,
) -> list[float]:
    """Per sequence, the mean over its completion tokens of log p(token | prompt, earlier tokens)."""
    model = loaded.model
    head = output_head(model)
    was_training = model.training
    model.eval()
    means = [0.0] * len(prompts)
    # Similar lengths in one batch waste less padding; results go back in input order.
    order = sorted(range(len(prompts)), key=lambda index: len(prompts[index]) + len(completions[index]))
    try:
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = pack(
                [prompts[index] for index in chosen],
                [completions[index] for index in chosen],
                pad_token_id=loaded.pad_token_id,
                device=loaded.device,
            )
            hidden = completion_hidden(model, batch)  # (N, H)
            stats = completion_nll_stats(hidden, batch.target_ids, head=head, chunk_size=chunk_size)
            sums = torch.zeros(len(chosen), dtype=torch.float64).index_add(
                0, batch.rows.cpu(), stats.student_logprob.double().cpu()
            )  # (B,)
            counts = torch.bincount(batch.rows.cpu(), minlength=len(chosen)).clamp(min=1)  # (B,)
            for position, index in enumerate(chosen):
                means[index] = float(sums[position] / counts[position])
    finally:
        model.train(was_training)
    return means


def preflight(
    loaded: LoadedModel,
    examples: list[Example],
    *,
    template: str = DEFAULT_TEACHER_TEMPLATE,
    max_prompt_tokens: int = 2048,
    max_new_tokens: int = 256,
    scorer: Scorer | None = None,
    teacher_answers: bool = True,
    answer_max_new_tokens: int | None = None,
    weak_gap: float = WEAK_GAP,
    batch_size: int = 8,
) -> PreflightReport:
    """Check every demonstration against `loaded` (see the module docstring); ranked, most useful first.

    max_prompt_tokens / max_new_tokens: the training settings the length warnings are about.
    scorer: the skill's scorer for the teacher's greedy answers (rows without a reference are not scored).
    teacher_answers: generate the teacher's greedy answers (the slow part); answer_max_new_tokens
    caps them (default max_new_tokens).
    """
    tokenizer = loaded.tokenizer
    context = loaded.max_positions
    pairs: list[PromptPair] = [
        build_prompt_pair(tokenizer, example, template=template) for example in examples
    ]
    targets = [
        demonstration_ids(tokenizer, example.demonstration, eos_token_id=loaded.eos_token_id)
        for example in examples
    ]
    checks: list[DemonstrationCheck] = []
    for index, (example, pair, target) in enumerate(zip(examples, pairs, targets, strict=True)):
        flags, warnings = length_warnings(
            student_prompt_tokens=len(pair.student_ids),
            teacher_prompt_tokens=len(pair.teacher_ids),
            demonstration_tokens=len(target),
            max_prompt_tokens=max_prompt_tokens,
            max_new_tokens=max_new_tokens,
            context=context,
        )
        checks.append(
            DemonstrationCheck(
                index=index,
                line=example.line,
                prompt=example.prompt[-1]["content"][:PROMPT_PREVIEW_CHARS],
                student_prompt_tokens=len(pair.student_ids),
                teacher_prompt_tokens=len(pair.teacher_ids),
                demonstration_tokens=len(target),
                flags=flags,
                warnings=warnings,
            )
        )

    # Only rows whose teacher prompt plus demonstration fits the model's positions can be scored.
    scorable = [
        check.index
        for check in checks
        if context is None or check.teacher_prompt_tokens + check.demonstration_tokens <= context
    ]
    scorable_set = set(scorable)
    for check in checks:
        if check.index not in scorable_set:
            check.warnings.append("longer than the model's context with the demonstration: not scored")
    student = mean_completion_logprobs(
        loaded,
        [pairs[i].student_ids for i in scorable],
        [targets[i] for i in scorable],
        batch_size=batch_size,
    )
    teacher = mean_completion_logprobs(
        loaded,
        [pairs[i].teacher_ids for i in scorable],
        [targets[i] for i in scorable],
        batch_size=batch_size,
    )
    for index, student_logprob, teacher_logprob in zip(scorable, student, teacher, strict=True):
        check = checks[index]
        check.student_logprob = round(student_logprob, 4)
        check.teacher_logprob = round(teacher_logprob, 4)
        check.gap = round(teacher_logprob - student_logprob, 4)
        check.flags += gap_flags(teacher_logprob - student_logprob, weak_gap=weak_gap)

    if teacher_answers:
        _teacher_answers(
            loaded,
            checks,
            pairs,
            examples,
            scorer=scorer,
            template=template,
            max_new_tokens=answer_max_new_tokens or max_new_tokens,
            batch_size=batch_size,
        )
    ranked = rank_checks(checks)
    summary = summarise(ranked, weak_gap=weak_gap)
    summary.update(
        {
            "template": template,
            "max_prompt_tokens": max_prompt_tokens,
            "max_new_tokens": max_new_tokens,
            "context": context,
            "teacher_answers": teacher_answers,
            "scorer": scorer.name if scorer is not None else None,
        }
    )
    return PreflightReport(model=loaded.name, demonstrations=ranked, summary=summary)


def _teacher_answers(
    loaded: LoadedModel,
    checks: list[DemonstrationCheck],
    pairs: list[PromptPair],
    examples: list[Example],
    *,
    scorer: Scorer | None,
    template: str,
    max_new_tokens: int,
    batch_size: int,
) -> None:
    """Greedy answers on the teacher prompts (rows that fit the context), scored when a reference exists."""
    context = loaded.max_positions
    fitting = [
        check.index
        for check in checks
        if context is None or check.teacher_prompt_tokens + max_new_tokens <= context
    ]
    order = sorted(fitting, key=lambda index: len(pairs[index].teacher_ids))
    completions = TransformersRolloutEngine(batch_size=batch_size).generate(
        loaded.model,
        [pairs[index].teacher_ids for index in order],
        eos_token_ids=loaded.eos_token_ids,
        pad_token_id=loaded.pad_token_id,
        max_new_tokens=max_new_tokens,
        temperature=0.0,
    )
    for index, completion in zip(order, completions, strict=True):
        check = checks[index]
        check.teacher_answer = loaded.tokenizer.decode(completion.token_ids, skip_special_tokens=True).strip()
        reference = examples[index].reference
        echoed = template_echo(
            check.teacher_answer, template=template, prompt=examples[index].prompt[-1]["content"]
        )
        if echoed:
            check.flags.append(TEACHER_ECHO_FLAG)
            check.warnings.append(
                f"the teacher's answer repeats the template's words ({'; '.join(echoed[:3])}): the student "
                "may learn them"
            )
        if scorer is not None and reference is not None:
            verdict = scorer.judge(check.teacher_answer, reference)
            check.teacher_correct, check.teacher_reason = verdict.correct, verdict.reason
            if not verdict.correct:
                check.flags.append(TEACHER_WRONG_FLAG)
