"""The learning benchmark's runner: settings, the shared context, evaluation, and one measured run.

A run trains a fresh copy of the base model (or TRL's trainer) and evaluates it; its record goes
into the invocation's results file at once, a failure with its traceback, so nothing is lost when a
long run is stopped and `--resume` can skip what is done.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.learning_keys import SEQUENTIAL_PHASE, RunKey, budget_part, limits_part
from bench.learning_methods import Budget, Method, train_engine
from bench.learning_skills import Skill, load_skill
from bench.learning_trl import train_trl, trl_unavailable_reason
from worker.sdft.replay import ReplaySet


@dataclass
class Settings:
    model: str
    models_dir: Path
    device: str
    seeds: list[int]
    skills: list[str]
    methods: list[str]
    phases: list[str]
    tune_skill: str
    tune_variants: list[str]
    sequential_methods: list[str]
    budget: Budget
    train_limit: int | None
    eval_limit: int | None
    holdout_limit: int | None
    probe_items: int
    probe_max_new_tokens: int
    eval_max_new_tokens: int | None
    sequential_steps: int
    sequential_skills: list[str]
    eval_batch_size: int
    teacher_rows: int
    out: Path
    tag: str
    threads: int
    resume: bool
    best: str | None
    mode: str
    skill_methods: dict[str, list[str]] = field(default_factory=dict)  # per-skill method lists
    # Wall-clock budget for the invocation: a run expected to end past it is recorded as skipped.
    time_budget_s: float | None = None
    # Minutes a run takes on the reference machine, by (phase, skill, family), for that expectation.
    reference_minutes: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # Phase steps in priority order, each (phase, filter); see bench/learning.py's FULL.
    order: list[tuple[str, dict[str, list[Any]]]] = field(default_factory=list)

    @property
    def model_key(self) -> str:
        """The model as run keys name it: with the device and precision where they are not the CPU's
        float32 (the keys of earlier records stay as they were), so --resume never takes a CPU run for a
        GPU one."""
        if self.device == "cpu" and self.budget.dtype == "float32":
            return self.model
        return f"{self.model}@{self.device}/{self.budget.dtype}"

    def methods_for(self, skill: str) -> list[str]:
        """The comparison's methods on one skill: its own list where the preset gives one."""
        return self.skill_methods.get(skill, self.methods)

    def to_dict(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values["reference_minutes"] = {
            "/".join(key): minutes for key, minutes in self.reference_minutes.items()
        }
        values["budget"] = self.budget.to_dict()
        values["models_dir"] = str(self.models_dir)
        values["out"] = str(self.out)
        return values


@dataclass
class Context:
    """What the phases share: the settings, the results file, the base model and its cached evaluations."""

    settings: Settings
    results: dict[str, Any]
    path: Path
    work_dir: Path
    skills: dict[str, Skill] = field(default_factory=dict)
    base: Any = None
    probe: list[Any] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    attempted: set[str] = field(default_factory=set)  # run keys this invocation has measured or skipped
    # Wall seconds of this invocation's runs by (phase, skill, method), and the reference minutes of
    # those the reference table knows against what they took: the machine's speed relative to it,
    # over all of them and on the latest one (a job started beside the benchmark shows there first).
    measured_s: dict[tuple[str, str, str], float] = field(default_factory=dict)
    reference_done_s: float = 0.0
    measured_done_s: float = 0.0
    latest_slowdown: float = 0.0

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def took(self, kind: tuple[str, str, str], family: str, seconds: float) -> None:
        """Remember how long a (phase, skill, method) run of `family` took, for later expectations."""
        self.measured_s[kind] = seconds
        reference = self.settings.reference_minutes.get((kind[0], kind[1], family))
        if reference is not None:
            self.reference_done_s += 60 * reference
            self.measured_done_s += seconds
            self.latest_slowdown = seconds / (60 * reference)

    def expected_s(self, kind: tuple[str, str, str], family: str) -> float:
        """A run like one already measured here takes as long again; else the reference machine's time,
        scaled by how much slower this machine has been on the runs both know - overall or on the latest
        one, whichever is slower, so a machine that became busy is not trusted with its earlier pace;
        else nothing is known (0)."""
        if kind in self.measured_s:
            return self.measured_s[kind]
        reference = self.settings.reference_minutes.get((kind[0], kind[1], family))
        if reference is None:
            return 0.0
        overall = self.measured_done_s / self.reference_done_s if self.reference_done_s else 1.0
        return 60 * reference * max(overall, self.latest_slowdown)

    def over_budget(self, kind: tuple[str, str, str], family: str) -> str | None:
        """Why a run should not start (it would end past the time budget), or None."""
        budget = self.settings.time_budget_s
        if budget is None:
            return None
        elapsed, expected = self.elapsed_s(), self.expected_s(kind, family)
        if elapsed + expected <= budget:
            return None
        return (
            f"time budget: {elapsed / 60:.1f} min elapsed + about {expected / 60:.1f} min expected "
            f"> {budget / 60:.0f} min"
        )

    def skill(self, name: str) -> Skill:
        if name not in self.skills:
            self.skills[name] = load_skill(name)
        return self.skills[name]

    def done(self, key: str) -> dict[str, Any] | None:
        for run in self.results["runs"]:
            if run["key"] == key and run["status"] in ("ok", "unavailable"):
                return run
        return None

    def record(self, run: dict[str, Any]) -> None:
        self.results["runs"] = [r for r in self.results["runs"] if r["key"] != run["key"]] + [run]
        self.save()
        line = f"[{run['phase']}] {run['skill']:8s} {run['method']:20s} seed {run['seed']}: {run['status']}"
        if run["status"] == "ok":
            line += (
                f"  task {run['task_accuracy']:.3f}  general {run['general_score']:.3f}"
                f"  KL {run['kl_from_base']:.4f}  train {run['train_wall_s']:.0f}s  eval {run['eval_wall_s']:.0f}s"
            )
        else:
            line += f"  {run.get('error') or run.get('reason', '')}"[:202]
        print(line, file=sys.stderr, flush=True)

    def save(self) -> None:
        self.results["updated"] = time.time()
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=1, default=str))
        os.replace(tmp, self.path)


# --------------------------------------------------------------------------- evaluation


def load(settings: Settings) -> Any:
    from worker.sdft.models import load_model

    return load_model(settings.model, models_dir=settings.models_dir, device=settings.device)


def memory_gib() -> dict[str, Any]:
    """What this process holds in memory now, and the most it has held since reset_resident_peak() (the
    start of the run or sequential skill; records say so in `peak_resident_since`). An invocation's runs
    share one process: a 0.5B science invocation on a 23 GB machine was killed for memory in its
    twelfth run (24 GB resident), so each comparison record and each sequential row says both; a peak
    far above what is held after a run is a step's own need, a held amount that climbs run by run
    is growth."""
    resident = psutil.Process().memory_info().rss / 2**30
    # The kernel's high-water mark (KiB on Linux) is synced from per-thread counters now and then and
    # can trail the current figure by a few pages.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"resident_gib": resident, "peak_resident_gib": max(peak, resident)}


def reset_resident_peak() -> dict[str, str]:
    """Start the kernel's resident high-water mark over from the current size, as
    torch.cuda.reset_peak_memory_stats does on a GPU, so that memory_gib()'s peak is the run's own, not
    the largest of the runs before it in this process (records before 2026-12-06: the process's).
    Linux only (/proc/self/clear_refs resets VmHWM, which ru_maxrss reads); elsewhere nothing changes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return {"peak_resident_since": "process start"}
    return {"peak_resident_since": "run start"}


def fresh_copy(base: Any) -> Any:
    """An independent copy of the base model to train (cheaper than loading it again)."""
    import copy

    from worker.sdft.models import LoadedModel

    return LoadedModel(
        model=copy.deepcopy(base.model),
        tokenizer=base.tokenizer,
        name=base.name,
        base_conversion=base.base_conversion,
    )


def evaluate(ctx: Context, loaded: Any, skill_names: list[str], *, holdout: bool = False) -> dict[str, Any]:
    """Accuracy on each named skill's eval (or train holdout) set, the probe score and the KL from base."""
    from worker.sdft.evaluate import evaluate_examples, evaluate_probe, mean_kl_from_reference

    settings = ctx.settings
    started = time.perf_counter()
    skills: dict[str, Any] = {}
    for name in skill_names:
        skill = ctx.skill(name)
        examples = (
            skill.holdout_examples(limit=settings.holdout_limit)
            if holdout
            else skill.eval_examples(limit=settings.eval_limit)
        )
        result = evaluate_examples(
            loaded,
            examples,
            scorer=skill.scorer(),
            max_new_tokens=settings.eval_max_new_tokens or skill.eval_max_new_tokens,
            batch_size=settings.eval_batch_size,
        )
        skills[name] = {"accuracy": result.accuracy, "n": result.n, "samples": result.samples[:3]}
    probe = evaluate_probe(
        loaded, ctx.probe, max_new_tokens=settings.probe_max_new_tokens, batch_size=settings.eval_batch_size
    )
    kl = (
        0.0
        if loaded is ctx.base
        else mean_kl_from_reference(loaded, ctx.base, probe.prompt_ids, probe.completion_ids)
    )
    return {
        "skills": skills,
        "general_score": probe.accuracy,
        "general_per_category": {k.split(":", 1)[1]: v for k, v in probe.pass_at_k.items()},
        "general_samples": probe.samples[:4],
        # Which items were right, so that two checkpoints' probe scores can be compared item by item
        # (None when the probe is larger than the samples an evaluation keeps).
        "general_correct": (
            [sample["id"] for sample in probe.samples if sample["correct"]]
            if len(probe.samples) == probe.n
            else None
        ),
        "kl_from_base": kl,
        "eval_wall_s": time.perf_counter() - started,
    }


def base_evaluation(ctx: Context, skill_names: list[str], *, holdout: bool) -> dict[str, Any]:
    """The base model's evaluation is the same for every seed and phase: computed once per process."""
    key = f"{'holdout' if holdout else 'eval'}:{','.join(skill_names)}"
    if key not in ctx.cache:
        ctx.cache[key] = evaluate(ctx, ctx.base, skill_names, holdout=holdout)
    return ctx.cache[key]


# --------------------------------------------------------------------------- one training run


def train_once(
    ctx: Context,
    method: Method,
    skill: Skill,
    *,
    seed: int,
    budget: Budget,
    fit: bool,
    start: Any = None,
    replay: list[ReplaySet] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train a fresh copy of the base (or `start`, trained in place) with `method`; returns (model, train info).

    `replay`: the earlier skills' demonstrations, for a method that replays them (sequential runs)."""
    settings = ctx.settings
    tagged = method.science_tagged
    examples = (
        skill.fit_examples(tagged=tagged, limit=settings.train_limit)
        if fit
        else skill.train_examples(tagged=tagged, limit=settings.train_limit)
    )
    with tempfile.TemporaryDirectory(dir=ctx.work_dir) as work:
        if method.kind == "trl":
            source = ctx.base.model.config.name_or_path
            folder = Path(source) if source else ctx.work_dir / "base-model"
            if not (
                folder / "config.json"
            ).exists():  # built in code (tiny): TRL needs a folder to build its EMA teacher from
                folder = ctx.work_dir / "base-model"
                if not folder.exists():
                    ctx.base.model.save_pretrained(str(folder))
            loaded, outcome = train_trl(
                ctx.base, examples, budget=budget, seed=seed, work_dir=Path(work), model_folder=folder
            )
        else:
            loaded = start if start is not None else fresh_copy(ctx.base)
            outcome = train_engine(
                loaded,
                examples,
                method=method,
                budget=budget,
                seed=seed,
                work_dir=Path(work),
                replay=replay,
                # A fresh copy starts from the base, which the KL keeps anyway: SDFT's frozen copies share it.
                start_copy=ctx.base.model if start is None else None,
            )
    info = {
        "train_examples": len(examples),
        "train_wall_s": outcome.wall_s,
        "mean_step_s": outcome.mean_step_s,
        "steps_done": outcome.steps_done,
        "train_metrics": outcome.final_metrics,
        "monitor_warnings": outcome.monitor_warnings,
    }
    return loaded, info


def run_key(phase: str, skill: str, method: str, seed: int | None, budget: Budget, settings: Settings) -> str:
    shape = budget_part(budget.steps, budget.batch_size, budget.lr, budget.max_new_tokens)
    limits = limits_part(
        settings.train_limit, settings.eval_limit, settings.probe_items, holdout=settings.holdout_limit
    )
    return str(RunKey(phase, settings.model_key, skill, method, str(seed), shape, limits))


def sequential_run_key(method: str, seed: int, budget: Budget, order: list[str], settings: Settings) -> str:
    shape = budget_part(budget.steps, budget.batch_size, budget.lr)
    limits = limits_part(settings.train_limit, settings.eval_limit, settings.probe_items)
    return str(
        RunKey(SEQUENTIAL_PHASE, settings.model_key, ">".join(order), method, str(seed), shape, limits)
    )


def measure(
    ctx: Context,
    phase: str,
    skill: Skill,
    method: Method,
    seed: int | None,
    *,
    fit: bool,
    label: str | None = None,
) -> dict[str, Any]:
    """Train (unless base) and evaluate one (skill, method, seed); record it, failures included."""
    settings = ctx.settings
    budget = settings.budget.for_skill(skill.train_max_new_tokens)
    name = label or method.name
    key = run_key(phase, skill.name, name, seed, budget, settings)
    if key in ctx.attempted:  # an earlier step of the order measured (or skipped) it
        return next(run for run in ctx.results["runs"] if run["key"] == key)
    ctx.attempted.add(key)
    if settings.resume and (previous := ctx.done(key)):
        return previous
    kind = (phase, skill.name, name)
    started = time.perf_counter()
    run: dict[str, Any] = {
        "key": key,
        "phase": phase,
        "model": settings.model,
        "skill": skill.name,
        "method": name,
        "variant": method.name,
        "description": method.description,
        "seed": seed,
        "budget": budget.to_dict(),
        "settings": method.describe(budget, seed=seed or 0),
        "science_demonstration": "tagged" if method.science_tagged else "paper sentence",
        "split": "fit/holdout" if fit else "train/eval",
        "device": settings.device,
        "status": "ok",
    }
    if reason := ctx.over_budget(kind, method.family):
        run.update(status="skipped", reason=reason)
        ctx.record(run)
        return run
    cuda = settings.device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats(settings.device)
    run.update(reset_resident_peak())
    try:
        if method.kind == "trl" and (reason := trl_unavailable_reason()):
            run.update(status="unavailable", error=reason)
            ctx.record(run)
            return run
        if method.kind == "base":
            run.update(train_examples=0, train_wall_s=0.0, mean_step_s=0.0, steps_done=0, train_metrics={})
            evaluation = base_evaluation(ctx, [skill.name], holdout=fit)
        else:
            loaded, info = train_once(ctx, method, skill, seed=seed or 0, budget=budget, fit=fit)
            run.update(info)
            evaluation = evaluate(ctx, loaded, [skill.name], holdout=fit)
            del loaded
        task = evaluation["skills"][skill.name]
        run.update(
            task_accuracy=task["accuracy"],
            task_n=task["n"],
            task_samples=task["samples"],
            general_score=evaluation["general_score"],
            general_per_category=evaluation["general_per_category"],
            general_samples=evaluation["general_samples"],
            kl_from_base=evaluation["kl_from_base"],
            eval_wall_s=evaluation["eval_wall_s"],
        )
    except Exception as error:  # a failed configuration is a result too: keep it and go on
        run.update(
            status="failed",
            error=f"{type(error).__name__}: {error}",
            traceback=traceback.format_exc()[-3000:],
        )
    if cuda:  # the base model's copy included: what a user's GPU must hold for this run
        run["cuda_peak_gib"] = torch.cuda.max_memory_allocated(settings.device) / 2**30
    run.update(memory_gib())
    ctx.took(kind, method.family, time.perf_counter() - started)
    ctx.record(run)
    return run
