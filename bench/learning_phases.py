"""The learning benchmark's phases: teacher check, tuning, comparison, sequential.

Each phase takes the shared Context (settings, results file, base model) and records every run
through it; see bench/learning.py for what each phase measures and why.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import asdict, replace
from typing import Any

from bench.learning_methods import METHODS, Method, find_method
from bench.learning_runner import (
    Context,
    base_evaluation,
    evaluate,
    fresh_copy,
    measure,
    memory_gib,
    reset_resident_peak,
    sequential_run_key,
    train_once,
)
from bench.teacher_templates import TEACHER_TEMPLATES
from worker.sdft.replay import ReplaySet


def run_teacher_check(ctx: Context) -> None:
    """SDFT's precondition: does the starting model, as teacher, answer train rows with the demonstration in
    context? Greedy accuracy per teacher template, beside the student's (no demonstration) on the same rows."""
    from worker.sdft.evaluate import generate
    from worker.sdft.prompts import teacher_messages

    settings = ctx.settings
    for skill_name in settings.skills:
        skill = ctx.skill(skill_name)
        scorer = skill.scorer()
        max_new_tokens = settings.eval_max_new_tokens or skill.eval_max_new_tokens
        cases: list[tuple[str, bool, str | None]] = [("student", False, None)]
        cases += [(name, False, template) for name, template in TEACHER_TEMPLATES.items()]
        if skill.tagged_rows is not None:  # science: also the demonstration in the graded format
            cases += [(f"{name}+tagged", True, template) for name, template in TEACHER_TEMPLATES.items()]
        for label, tagged, template in cases:
            key = f"teacher|{settings.model}|{skill.name}|{label}|{settings.teacher_rows}|{max_new_tokens}"
            if settings.resume and any(r["key"] == key for r in ctx.results["teacher_checks"]):
                continue
            examples = skill.train_examples(tagged=tagged)[: settings.teacher_rows]
            prompts = [
                e.prompt if template is None else teacher_messages(e, template=template) for e in examples
            ]
            started = time.perf_counter()
            _, _, texts = generate(
                ctx.base, prompts, max_new_tokens=max_new_tokens, batch_size=settings.eval_batch_size
            )
            correct = sum(
                scorer.score(text, e.reference or "") for text, e in zip(texts, examples, strict=True)
            )
            record = {
                "key": key,
                "model": settings.model,
                "skill": skill.name,
                "prompt": label,
                "template": template,
                "n": len(examples),
                "max_new_tokens": max_new_tokens,
                "accuracy": correct / len(examples),
                "samples": texts[:3],
                "wall_s": time.perf_counter() - started,
            }
            ctx.results["teacher_checks"] = [r for r in ctx.results["teacher_checks"] if r["key"] != key] + [
                record
            ]
            ctx.save()
            print(
                f"[teacher] {skill.name:8s} {label:14s} {record['accuracy']:.3f}", file=sys.stderr, flush=True
            )


def sdft_family(method: Method) -> bool:
    return method.kind == "engine" and method.overrides.get("method", "sdft") == "sdft"


def run_tuning(ctx: Context) -> None:
    """Candidates on train's held-out slice; the best SDFT-family one (task + general, then lower KL) wins."""
    settings = ctx.settings
    skill = ctx.skill(settings.tune_skill)
    measure(ctx, "tuning", skill, METHODS["base"], None, fit=True)
    runs = [
        measure(ctx, "tuning", skill, find_method(name), settings.seeds[0], fit=True)
        for name in settings.tune_variants
    ]
    # Rank every candidate recorded for this model, skill and budget, not only this invocation's:
    # variants tried in a later --resume run compete with the earlier ones.
    budget = runs[0]["budget"] if runs else None
    recorded = [
        run
        for run in ctx.results.get("runs", [])
        if run["phase"] == "tuning"
        and run["model"] == settings.model
        and run["skill"] == skill.name
        and run["budget"] == budget
    ]
    ranked = sorted(
        (run for run in recorded if run["status"] == "ok" and sdft_family(find_method(run["variant"]))),
        key=lambda run: (-(run["task_accuracy"] + run["general_score"]), run["kl_from_base"]),
    )
    if ranked:
        winner = ranked[0]
        ctx.results["best"] = {
            "model": settings.model,
            "skill": skill.name,
            "variant": winner["variant"],
            "holdout_task_accuracy": winner["task_accuracy"],
            "general_score": winner["general_score"],
            "criterion": "max holdout task accuracy + general-probe score; ties: lower KL from base",
            "candidates": [run["variant"] for run in recorded],
        }
        ctx.save()


def resolve_best(ctx: Context) -> str | None:
    """--best, else this invocation's tuning, else the newest tuning choice for this model under --out."""
    settings = ctx.settings
    if settings.best:
        return settings.best
    if "best" in ctx.results:
        return str(ctx.results["best"]["variant"])
    newest: tuple[float, str] | None = None
    for path in settings.out.glob("learning-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        choice = data.get("best")
        if (
            choice
            and choice.get("model") == settings.model
            and (newest is None or data["updated"] > newest[0])
        ):
            newest = (data["updated"], choice["variant"])
    return newest[1] if newest else None


def matches(only: dict[str, list[Any]], skill: str, method: str, seed: int | None) -> bool:
    """Does a run fall under an order step's filter (skills / methods / seeds; base has every seed)?"""
    return (
        skill in only.get("skills", [skill])
        and method in only.get("methods", [method])
        and (seed is None or seed in only.get("seeds", [seed]))
    )


def run_comparison(ctx: Context, only: dict[str, list[Any]] | None = None) -> None:
    """Every (skill, method, seed) of the settings that `only` admits, seed by seed within a method."""
    settings, only = ctx.settings, only or {}
    for skill_name in settings.skills:
        skill = ctx.skill(skill_name)
        for name in settings.methods_for(skill_name):
            if name == "base":
                if matches(only, skill_name, name, None):
                    measure(ctx, "comparison", skill, METHODS["base"], None, fit=False)
                continue
            label, method_name = None, name
            if name == "best":
                if not any(matches(only, skill_name, name, seed) for seed in settings.seeds):
                    continue
                variant = resolve_best(ctx)
                if variant is None:
                    print(
                        "[comparison] no tuning choice for 'best': run --phases tuning or pass --best",
                        file=sys.stderr,
                    )
                    continue
                label, method_name = f"best:{variant}", variant
            method = find_method(method_name)
            for seed in settings.seeds:
                if matches(only, skill_name, name, seed):
                    measure(ctx, "comparison", skill, method, seed, fit=False, label=label)


def run_sequential(ctx: Context, only: dict[str, list[Any]] | None = None) -> None:
    """Each method learns the three skills in order from the base; every skill and the probe after each."""
    from backend.evaluations.matrix import (
        CheckpointNode,
        GeneralResult,
        SkillResult,
        compute_regression_matrix,
    )

    settings, only = ctx.settings, only or {}
    budget = replace(settings.budget, steps=settings.sequential_steps)
    seed, order = settings.seeds[0], settings.sequential_skills
    for name in settings.sequential_methods:
        if name not in only.get("methods", [name]):
            continue
        method = find_method(name)
        key = sequential_run_key(name, seed, budget, order, settings)
        if key in ctx.attempted:
            continue
        ctx.attempted.add(key)
        if settings.resume and any(
            r["key"] == key and r["status"] == "ok" for r in ctx.results["sequential"]
        ):
            continue
        record: dict[str, Any] = {
            "key": key,
            "method": name,
            "seed": seed,
            "budget": budget.to_dict(),
            "limits": {
                "train": settings.train_limit,
                "eval": settings.eval_limit,
                "probe": settings.probe_items,
            },
        }
        record.update(skills=order, status="ok", rows=[])
        record["replay_fraction"] = method.overrides.get("replay_fraction", 0.0)
        kind, started = ("sequential", ">".join(order), name), time.perf_counter()
        if reason := ctx.over_budget(kind, method.family):
            record.update(status="skipped", reason=reason)
            print(f"[sequential] {name}: skipped, {reason}", file=sys.stderr, flush=True)
            ctx.results["sequential"] = [r for r in ctx.results["sequential"] if r["key"] != key] + [record]
            ctx.save()
            continue
        try:
            base = base_evaluation(ctx, order, holdout=False)
            record["rows"].append({"checkpoint": 0, "learned": None, "train_wall_s": 0.0, **_row(base)})
            loaded = fresh_copy(ctx.base)
            first_budget = budget.for_skill(ctx.skill(order[0]).train_max_new_tokens)
            template = method.train_config(first_budget, seed=seed).teacher_template
            for checkpoint, skill_name in enumerate(order, start=1):
                earlier = [
                    ReplaySet(
                        name=name,
                        examples=ctx.skill(name).train_examples(
                            tagged=method.science_tagged, limit=settings.train_limit
                        ),
                        template=template,
                    )
                    for name in order[: checkpoint - 1]
                ]
                skill = ctx.skill(skill_name)
                skill_budget = budget.for_skill(skill.train_max_new_tokens)
                peak_since = reset_resident_peak()
                loaded, info = train_once(
                    ctx,
                    method,
                    skill,
                    seed=seed,
                    budget=skill_budget,
                    fit=False,
                    start=loaded,
                    replay=earlier,
                )
                evaluation = evaluate(ctx, loaded, order)
                row = {
                    "checkpoint": checkpoint,
                    "learned": skill_name,
                    "train_wall_s": info["train_wall_s"],
                    "max_new_tokens": skill_budget.max_new_tokens,
                    "monitor_warnings": info.get("monitor_warnings", []),
                    **memory_gib(),
                    **peak_since,
                }
                record["rows"].append({**row, **_row(evaluation)})
                print(
                    f"[sequential] {name} after {skill_name}: {record['rows'][-1]['accuracy']}",
                    file=sys.stderr,
                )
            skill_ids = {skill: index for index, skill in enumerate(order, start=1)}
            rows = record["rows"]
            matrix = compute_regression_matrix(
                [
                    CheckpointNode(
                        row["checkpoint"],
                        row["checkpoint"] - 1 if row["checkpoint"] else None,
                        skill_ids[row["learned"]] if row["learned"] else None,
                    )
                    for row in rows
                ],
                [
                    SkillResult(row["checkpoint"], skill_ids[s], acc)
                    for row in rows
                    for s, acc in row["accuracy"].items()
                ],
                [GeneralResult(row["checkpoint"], row["general_score"], row["kl_from_base"]) for row in rows],
            )
            record["summaries"] = [asdict(summary) for summary in matrix.summaries]
        except Exception as error:
            record.update(
                status="failed",
                error=f"{type(error).__name__}: {error}",
                traceback=traceback.format_exc()[-3000:],
            )
        record["wall_s"] = time.perf_counter() - started
        ctx.took(kind, method.family, record["wall_s"])
        ctx.results["sequential"] = [r for r in ctx.results["sequential"] if r["key"] != key] + [record]
        ctx.save()


def _row(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {
        "accuracy": {name: result["accuracy"] for name, result in evaluation["skills"].items()},
        "general_score": evaluation["general_score"],
        "general_per_category": evaluation["general_per_category"],
        "general_correct": evaluation["general_correct"],
        "kl_from_base": evaluation["kl_from_base"],
    }
