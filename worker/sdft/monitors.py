"""Failure-mode monitors: the known ways an SDFT run goes wrong, each checked every step.

- Teacher-phrase leakage: word n-grams of the teacher template's own text ("example for a
  response", "of your own") showing up in student rollouts. SmolLM2 learned to open every answer
  with "This is an example of a response" (DESIGN.md). Some phrases occur naturally, so the alarm
  is on the rise above the base rate, measured on the first step's rollouts (sampled from the
  starting weights, before any update).
- Entropy collapse: the student's mean per-token entropy on its rollouts (the `entropy` metric)
  falling below a fraction of its first-step value; reverse KL is known for it.
- Length collapse or explosion: mean completion length leaving [start / ratio, start * ratio].
- Truncated rollouts: more than a fraction of rollouts stopped by max_new_tokens rather than by
  end-of-sequence, from the first step on (a run that starts cut off never looks like it grew).
- Rising KL from the base model: the divergence on mixed-in general prompts (`general_divergence`,
  measured only when general_mix > 0) above an absolute bound, in nats per token.
- EMA teacher drift: the relative L2 distance of the teacher's weights from the starting weights,
  estimated on a fixed random sample of each tensor's elements (no second copy of the model).

A monitor warns when its condition starts to hold, and again only after it has recovered for WINDOW
steps in a row, not every step. Values are compared as the mean over the last WINDOW steps, so one
noisy step of four rollouts does not trigger, and a value hovering at a threshold does not warn
every few steps (SmolLM2-135M's cut-off share on dates did: four warnings in 20 steps). With `monitor_stop` the first warning stops the run: `Monitors.stop_reason` is set and
the loop raises MonitorStop after reporting the step. A run resumed from a step checkpoint takes its
baselines from its first step after the resume.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.distributed.tensor import DTensor

from worker.sdft.config import TEMPLATE_FIELD, TrainConfig
from worker.sdft.rollout import Completion, RolloutEngine

NGRAM = 3  # words per template phrase: "of your own", "example for a"
WINDOW = 3  # steps averaged before comparing with a threshold
DRIFT_SAMPLES_PER_TENSOR = 256
WORD = re.compile(r"[a-z0-9']+")


class MonitorStop(RuntimeError):
    """A monitor with `monitor_stop` fired: the run stops and the job fails with this reason."""

    def __init__(self, warning: dict[str, Any]) -> None:
        super().__init__(f"stopped by the {warning['monitor']} monitor: {warning['message']}")
        self.warning = warning


# --------------------------------------------------------------------------- pure functions


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def template_phrases(template: str, n: int = NGRAM) -> frozenset[tuple[str, ...]]:
    """The word n-grams of the template's own text, never crossing a {prompt}/{demonstration} slot."""
    phrases: set[tuple[str, ...]] = set()
    for segment in TEMPLATE_FIELD.split(template)[::2]:  # split keeps the slot names at odd positions
        phrases |= ngrams(words(segment), n)
    return frozenset(phrases)


def leaked_phrases(text: str, phrases: frozenset[tuple[str, ...]], n: int = NGRAM) -> set[tuple[str, ...]]:
    return ngrams(words(text), n) & phrases


def leakage_rate(texts: Iterable[str], phrases: frozenset[tuple[str, ...]], n: int = NGRAM) -> float:
    """Fraction of texts holding at least one template phrase (0 for no texts)."""
    collected = list(texts)
    if not collected:
        return 0.0
    return sum(bool(leaked_phrases(text, phrases, n)) for text in collected) / len(collected)


MIN_EXPLOSION_GROWTH = 1.5  # growth below this is never an explosion, whatever the length limit


def entropy_collapsed(*, start: float, current: float, ratio: float) -> bool:
    """Mean entropy below `ratio` times its starting value (a start of 0 can not collapse further)."""
    return start > 0 and current < ratio * start


def length_out_of_range(*, start: float, current: float, ratio: float, max_new_tokens: int) -> str | None:
    """Collapse below start / ratio, explosion above start * ratio (capped just under the length limit).

    The cap lets rollouts that run into max_new_tokens count as exploded, but only after growing by
    half at least: on the learning benchmark, SmolLM2's rollouts started at 28.5 of 32 tokens and
    the cap alone (30.4) called noise an explosion.
    """
    if start <= 0:
        return None
    if current < start / ratio:
        return "collapse"
    ceiling = min(start * ratio, 0.95 * max_new_tokens)
    if ceiling >= MIN_EXPLOSION_GROWTH * start and current > ceiling:
        return "explosion"
    return None


def truncation_message(fraction: float, *, max_new_tokens: int, demonstration_tokens: Sequence[int]) -> str:
    """Why cut-off rollouts matter, and the likelier remedy given the demonstrations' lengths.

    Demonstrations that need most of max_new_tokens: the limit is too short (Qwen2.5-0.5B on tool
    use, 48-token calls under 64). Demonstrations far shorter: the student runs on past where its
    answer should end (SmolLM2-135M on dates, 14-token answers run to 32 with the paper's template;
    with the format template three quarters of rollouts ended by step 20).
    """
    message = f"{fraction:.0%} of recent rollouts stopped at max_new_tokens={max_new_tokens} before ending"
    if not demonstration_tokens:
        return message + ": the teacher grades answers cut short; raise max_new_tokens if answers need more"
    mean = sum(demonstration_tokens) / len(demonstration_tokens)
    message += (
        f", while the demonstrations take {mean:.0f} tokens on average ({max(demonstration_tokens)} at most)"
    )
    if 2 * mean > max_new_tokens:
        return message + ": the teacher grades answers cut short; raise max_new_tokens so rollouts can finish"
    return message + (
        ": the student runs on past where its answers should end; check the rollouts, and whether the teacher "
        "answers in the demonstrated form (the pre-flight report; the skill form's 'Same format as the "
        "example' template)"
    )


def _local(parameter: torch.Tensor) -> torch.Tensor:
    """This process's elements: a shard when weights are split over processes (a sample of a shard is
    still a sample of the weights, and reading it needs no other process)."""
    return (parameter.to_local() if isinstance(parameter, DTensor) else parameter).detach()


@dataclass
class ParameterSample:
    """A fixed random sample of elements of some parameters, to estimate drift from the start cheaply."""

    indices: dict[str, torch.Tensor]  # name -> (k,) flat element indices
    start: dict[str, torch.Tensor]  # name -> (k,) their starting values (fp32)

    @classmethod
    def of(
        cls, model: Any, names: list[str], *, per_tensor: int = DRIFT_SAMPLES_PER_TENSOR, seed: int = 0
    ) -> ParameterSample:
        generator = torch.Generator().manual_seed(seed)
        parameters = dict(model.named_parameters())
        indices, start = {}, {}
        for name in names:
            flat = _local(parameters[name]).reshape(-1)
            count = min(flat.numel(), per_tensor)
            # randint, not randperm: an embedding has tens of millions of elements.
            chosen = torch.randint(flat.numel(), (count,), generator=generator).to(flat.device)
            indices[name], start[name] = chosen, flat[chosen].float().clone()
        return cls(indices=indices, start=start)

    @torch.no_grad()
    def relative_drift(self, model: Any) -> float:
        """||theta - theta_0|| / ||theta_0|| over the sampled elements (absolute when theta_0 is 0)."""
        parameters = dict(model.named_parameters())
        moved, norm = 0.0, 0.0
        for name, chosen in self.indices.items():
            now = _local(parameters[name]).reshape(-1)[chosen].float()
            moved += float(((now - self.start[name]) ** 2).sum())
            norm += float((self.start[name] ** 2).sum())
        return (moved / norm) ** 0.5 if norm > 0 else moved**0.5


# --------------------------------------------------------------------------- the loop's helper


@dataclass
class _Alarm:
    active: bool = False
    quiet_steps: int = 0  # checks in a row without the condition while active; WINDOW of them recover it


@dataclass
class StepReport:
    metrics: dict[str, float] = field(default_factory=dict)  # added to the step's metrics
    warnings: list[dict[str, Any]] = field(default_factory=list)


class _WatchedEngine:
    """A rollout engine that hands every batch of completions to the monitors."""

    def __init__(self, engine: RolloutEngine, monitors: Monitors) -> None:
        self._engine = engine
        self._monitors = monitors

    def generate(self, model: Any, prompts: list[list[int]], **kwargs: Any) -> list[Completion]:
        completions = self._engine.generate(model, prompts, **kwargs)
        self._monitors.record(completions)
        return completions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class Monitors:
    """What the training loop calls each step; thresholds come from TrainConfig (None turns one off)."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        tokenizer: Any,
        teacher: Any = None,
        teacher_parameter_names: list[str] | None = None,
        templates: Iterable[str] = (),
        demonstration_tokens: Sequence[int] = (),
    ) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.enabled = config.method == "sdft"
        self.phrases = frozenset().union(
            *(template_phrases(template) for template in (config.teacher_template, *templates))
        )
        self.demonstration_tokens = list(demonstration_tokens)  # each with its end-of-turn token
        self.teacher = teacher
        self.drift_sample = (
            ParameterSample.of(teacher, teacher_parameter_names or [], seed=config.seed)
            if teacher is not None and config.monitor_teacher_drift is not None and teacher_parameter_names
            else None
        )
        self.stop_reason: str | None = None
        self.stop_warning: dict[str, Any] | None = None
        self._texts: list[str] = []
        self._baseline: dict[str, float] = {}
        self._recent: dict[str, deque[float]] = {}
        self._alarms: dict[str, _Alarm] = {}
        self._steps_seen = 0

    def watch(self, engine: RolloutEngine) -> RolloutEngine:
        return _WatchedEngine(engine, self) if self.enabled else engine

    def record(self, completions: list[Completion]) -> None:
        self._texts += [
            self.tokenizer.decode(completion.token_ids, skip_special_tokens=True)
            for completion in completions
        ]

    def _smoothed(self, name: str, value: float) -> tuple[float, float]:
        """(baseline, mean of the last WINDOW values); the first value seen is the baseline."""
        self._baseline.setdefault(name, value)
        recent = self._recent.setdefault(name, deque(maxlen=WINDOW))
        recent.append(value)
        return self._baseline[name], sum(recent) / len(recent)

    def _raise(
        self, report: StepReport, monitor: str, holds: bool, message: str, **values: float | None
    ) -> None:
        alarm = self._alarms.setdefault(monitor, _Alarm())
        if not holds:
            alarm.quiet_steps += 1
            if alarm.quiet_steps >= WINDOW:
                alarm.active = False
            return
        alarm.quiet_steps = 0
        if alarm.active:
            return
        alarm.active = True
        warning = {
            "monitor": monitor,
            "message": message,
            **{key: round(value, 6) if isinstance(value, float) else value for key, value in values.items()},
            "stop": self.config.monitor_stop,
        }
        report.warnings.append(warning)
        if self.config.monitor_stop and self.stop_reason is None:
            self.stop_reason, self.stop_warning = f"{monitor}: {message}", warning

    def check(self, step: int, metrics: dict[str, float]) -> StepReport:
        """Measure this step (its rollouts and metrics); warnings for conditions that start to hold."""
        report = StepReport()
        if not self.enabled:
            return report
        config = self.config
        texts, self._texts = self._texts, []
        first = self._steps_seen == 0
        self._steps_seen += 1

        if texts and config.monitor_leakage is not None:
            rate = leakage_rate(texts, self.phrases)
            report.metrics["leakage_rate"] = rate
            base, recent = self._smoothed("leakage", rate)
            if not first:
                self._raise(
                    report,
                    "teacher_phrase_leakage",
                    recent - base > config.monitor_leakage,
                    f"{recent:.0%} of recent rollouts contain the teacher template's own phrases, "
                    f"against {base:.0%} from the starting model (allowed rise {config.monitor_leakage:.0%})",
                    value=recent,
                    baseline=base,
                    threshold=config.monitor_leakage,
                )

        entropy = metrics.get("entropy")
        if (
            entropy is not None
            and metrics.get("loss_tokens", 1) > 0
            and config.monitor_entropy_ratio is not None
        ):
            base, recent = self._smoothed("entropy", entropy)
            if not first:
                self._raise(
                    report,
                    "entropy_collapse",
                    entropy_collapsed(start=base, current=recent, ratio=config.monitor_entropy_ratio),
                    f"mean per-token entropy {recent:.3f} nats is below {config.monitor_entropy_ratio:g} x its "
                    f"starting {base:.3f}: the student is becoming deterministic",
                    value=recent,
                    baseline=base,
                    threshold=config.monitor_entropy_ratio,
                )

        length = metrics.get("completion_tokens")
        if length is not None and config.monitor_length_ratio is not None:
            base, recent = self._smoothed("length", length)
            verdict = length_out_of_range(
                start=base,
                current=recent,
                ratio=config.monitor_length_ratio,
                max_new_tokens=config.max_new_tokens,
            )
            if not first:
                self._raise(
                    report,
                    "length_collapse",
                    verdict == "collapse",
                    f"rollouts shrank to {recent:.1f} tokens on average from {base:.1f} at the start",
                    value=recent,
                    baseline=base,
                    threshold=config.monitor_length_ratio,
                )
                self._raise(
                    report,
                    "length_explosion",
                    verdict == "explosion",
                    f"rollouts grew to {recent:.1f} tokens on average from {base:.1f} at the start "
                    f"(max_new_tokens={config.max_new_tokens})",
                    value=recent,
                    baseline=base,
                    threshold=config.monitor_length_ratio,
                )

        # Absolute, not against the start: at Qwen2.5-0.5B on tool use every rollout ran into the
        # 64-token limit from the first step, the call never reached, and nothing else warned.
        ended = metrics.get("eos_fraction")
        if ended is not None and config.monitor_truncation is not None:
            _, recent = self._smoothed("truncated", 1.0 - ended)
            self._raise(
                report,
                "rollouts_truncated",
                recent > config.monitor_truncation,
                truncation_message(
                    recent,
                    max_new_tokens=config.max_new_tokens,
                    demonstration_tokens=self.demonstration_tokens,
                ),
                value=recent,
                threshold=config.monitor_truncation,
            )

        general = metrics.get("general_divergence")
        if general is not None and config.monitor_kl_max is not None:
            base, recent = self._smoothed("general_divergence", general)
            self._raise(
                report,
                "kl_from_base",
                recent > config.monitor_kl_max,
                f"the divergence from the starting model on general prompts rose to {recent:.3f} "
                f"nats/token (bound {config.monitor_kl_max:g}; {base:.3f} at the start)",
                value=recent,
                baseline=base,
                threshold=config.monitor_kl_max,
            )

        if self.drift_sample is not None and config.monitor_teacher_drift is not None:
            drift = self.drift_sample.relative_drift(self.teacher)
            report.metrics["teacher_drift"] = drift
            self._raise(
                report,
                "teacher_drift",
                drift > config.monitor_teacher_drift,
                f"the {config.teacher} teacher's weights moved {drift:.2%} from the starting model "
                f"(bound {config.monitor_teacher_drift:.2%})",
                value=drift,
                threshold=config.monitor_teacher_drift,
            )
        return report


def report_warnings(sink: Any, step: int, warnings: list[dict[str, Any]]) -> None:
    """Hand warnings to sinks that take them (the database sink stores them as job events)."""
    on_warning = getattr(sink, "on_warning", None)
    if on_warning is not None:
        for warning in warnings:
            on_warning(step, warning)
