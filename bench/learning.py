"""Learning-quality benchmark: does SDFT learn a new skill while keeping old ones better than SFT?

    .venv/bin/python bench/learning.py --quick                      # tiny model, every phase, ~2 min
    .venv/bin/python bench/learning.py --quick --model smollm2-135m # real weights, smoke budget
    .venv/bin/python bench/learning.py                              # the full CPU run (FULL below)
    .venv/bin/python bench/learning.py --model smollm2-135m --phases comparison --skills tooluse \\
        --methods base,sft,sdft-paper --seeds 0,1 --steps 12 --tag tooluse-12 --resume
    .venv/bin/python bench/learning.py --device cuda --model Qwen/Qwen2.5-1.5B-Instruct   # GPU mode

Phases (every run goes into bench/results/learning-<tag>.json as soon as it ends, failures
included; --resume skips runs already recorded there):
  tuning      candidate variants train on train minus a held-out slice and are scored on that
              slice (never on eval); the best SDFT-family candidate becomes the method "best".
  comparison  base, SFT, SDFT (paper / frozen / live teacher), TRL's SDFT and "best", per skill and
              seed: new-task accuracy (the paper's scorers) on eval, general-probe score, KL from
              the base model on the probe's prompts, wall time.
  sequential  tool use, then science, then dates on one model, for SFT and SDFT: every skill and the
              probe after every skill; the regression matrix and the continual-learning summary.
Then learning.md and learning.png are rebuilt from every learning-*.json under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `bench` and the engine importable
    sys.path.insert(0, str(REPO_ROOT))

from bench.learning_methods import METHODS, VARIANTS, Budget, Method, find_method  # noqa: E402
from bench.learning_report import write_report  # noqa: E402
from bench.learning_runner import (  # noqa: E402
    Context,
    Settings,
    base_evaluation,
    evaluate,
    fresh_copy,
    load,
    measure,
    train_once,
)
from bench.learning_skills import SKILL_NAMES  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results"
PHASES = ("tuning", "comparison", "sequential")
# Budgets per mode. FULL is sized for 2 uncontended cores and smollm2-135m (see learning.md for
# what was actually run); QUICK is a smoke run of every phase.
QUICK: dict[str, Any] = {
    "model": "tiny",
    "seeds": [0],
    "skills": list(SKILL_NAMES),
    "methods": [*METHODS, "best"],
    "phases": ["tuning", "comparison", "sequential"],
    "tune_skill": "dates",
    "tune_variants": ["sdft-paper", "sdft-lr5e-5", "sdft-mix25"],
    "sequential_methods": ["sft", "sdft-paper"],
    "steps": 2,
    "batch_size": 2,
    "lr": 2e-5,
    "max_new_tokens": 8,
    "train_limit": 8,
    "eval_limit": 4,
    "holdout_limit": 4,
    "probe_items": 8,
    "probe_max_new_tokens": 8,
    "eval_max_new_tokens": 16,
    "sequential_steps": 1,
    "sequential_skills": ["tooluse", "science", "dates"],
}
FULL: dict[str, Any] = {
    "model": "smollm2-135m",
    "seeds": [0, 1],
    "skills": ["tooluse", "dates"],
    "methods": [*METHODS, "best"],
    "phases": ["tuning", "comparison", "sequential"],
    "tune_skill": "dates",
    "tune_variants": ["sdft-paper", *VARIANTS],
    "sequential_methods": ["sft", "sdft-paper"],
    "steps": 18,  # one epoch of tool use's 70 train rows at 4 prompts per step
    "batch_size": 4,
    "lr": 2e-5,
    "max_new_tokens": 64,
    "train_limit": None,
    "eval_limit": None,
    "holdout_limit": None,
    "probe_items": 60,
    "probe_max_new_tokens": 32,
    "eval_max_new_tokens": None,  # the skill's own (96 tool use and science, 24 dates)
    "sequential_steps": 12,
    "sequential_skills": ["tooluse", "science", "dates"],
}


# --------------------------------------------------------------------------- phases


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
    ranked = sorted(
        (run for run in runs if run["status"] == "ok" and sdft_family(find_method(run["variant"]))),
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
            "candidates": [run["variant"] for run in runs],
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


def run_comparison(ctx: Context) -> None:
    settings = ctx.settings
    for skill_name in settings.skills:
        skill = ctx.skill(skill_name)
        for name in settings.methods:
            if name == "base":
                measure(ctx, "comparison", skill, METHODS["base"], None, fit=False)
                continue
            label = None
            if name == "best":
                variant = resolve_best(ctx)
                if variant is None:
                    print(
                        "[comparison] no tuning choice for 'best': run --phases tuning or pass --best",
                        file=sys.stderr,
                    )
                    continue
                label = f"best:{variant}"
                name = variant
            for seed in settings.seeds:
                measure(ctx, "comparison", skill, find_method(name), seed, fit=False, label=label)


def run_sequential(ctx: Context) -> None:
    """Each method learns the three skills in order from the base; every skill and the probe after each."""
    from backend.evaluations.matrix import (
        CheckpointNode,
        GeneralResult,
        SkillResult,
        compute_regression_matrix,
    )

    settings = ctx.settings
    budget = Budget(**{**settings.budget.to_dict(), "steps": settings.sequential_steps})
    seed, order = settings.seeds[0], settings.sequential_skills
    for name in settings.sequential_methods:
        method = find_method(name)
        key = f"sequential|{settings.model}|{name}|{seed}|{budget.steps}x{budget.batch_size}@{budget.lr:g}"
        key += f"|{'>'.join(order)}|t{settings.train_limit}e{settings.eval_limit}p{settings.probe_items}"
        if settings.resume and any(
            r["key"] == key and r["status"] == "ok" for r in ctx.results["sequential"]
        ):
            continue
        record: dict[str, Any] = {"key": key, "method": name, "seed": seed, "budget": budget.to_dict()}
        record.update(skills=order, status="ok", rows=[])
        try:
            base = base_evaluation(ctx, order, holdout=False)
            record["rows"].append({"checkpoint": 0, "learned": None, "train_wall_s": 0.0, **_row(base)})
            loaded = fresh_copy(ctx.base)
            for checkpoint, skill_name in enumerate(order, start=1):
                loaded, info = train_once(
                    ctx, method, ctx.skill(skill_name), seed=seed, budget=budget, fit=False, start=loaded
                )
                evaluation = evaluate(ctx, loaded, order)
                row = {"checkpoint": checkpoint, "learned": skill_name, "train_wall_s": info["train_wall_s"]}
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
        ctx.results["sequential"] = [r for r in ctx.results["sequential"] if r["key"] != key] + [record]
        ctx.save()


def _row(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {
        "accuracy": {name: result["accuracy"] for name, result in evaluation["skills"].items()},
        "general_score": evaluation["general_score"],
        "kl_from_base": evaluation["kl_from_base"],
    }


# --------------------------------------------------------------------------- command line


def default_threads() -> int:
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] > cores - 0.5 else cores


def parse_args(argv: list[str] | None) -> tuple[Settings, bool]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: tiny model, tiny budget, every phase"
    )
    parser.add_argument("--model", help="tiny, smollm2-135m, qwen2.5-0.5b, a folder or an HF id")
    parser.add_argument("--seeds", help="comma-separated, e.g. 0,1")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on cuda, else float32"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--tag", help="results file name: learning-<tag>.json (default: the mode and model)")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "data" / "models")
    parser.add_argument("--phases", help=f"comma-separated of {', '.join(PHASES)}")
    parser.add_argument("--skills", help=f"comparison skills, comma-separated of {', '.join(SKILL_NAMES)}")
    parser.add_argument("--methods", help=f"comparison methods: {', '.join([*METHODS, 'best', *VARIANTS])}")
    parser.add_argument("--tune-skill", choices=SKILL_NAMES)
    parser.add_argument("--tune-variants", help="comma-separated candidates for 'best'")
    parser.add_argument("--sequential-methods", help="comma-separated, e.g. sft,sdft-paper")
    parser.add_argument(
        "--sequential-skills", help="the order skills are learned in (default tooluse,science,dates)"
    )
    parser.add_argument("--best", help="use this variant as 'best' instead of the tuning choice")
    for flag, kind in (
        ("steps", int),
        ("batch-size", int),
        ("lr", float),
        ("max-new-tokens", int),
        ("train-limit", int),
        ("eval-limit", int),
        ("holdout-limit", int),
        ("probe-items", int),
        ("probe-max-new-tokens", int),
        ("eval-max-new-tokens", int),
        ("sequential-steps", int),
    ):
        parser.add_argument(f"--{flag}", type=kind)
    parser.add_argument(
        "--eval-batch-size", type=int, default=32, help="greedy decoding is memory-bound on CPU: wide batches"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads; default: all cores, or 1 when the load average already fills them (on a shared "
        "2-core machine, 2 threads per process were 8x slower than 1 at load ~8)",
    )
    parser.add_argument("--resume", action="store_true", help="skip runs already in the results file")
    parser.add_argument("--report-only", action="store_true", help="only rebuild learning.md/png from --out")
    args = parser.parse_args(argv)

    preset = dict(QUICK if args.quick else FULL)
    scalars = ("model", "tune_skill", "best", "steps", "batch_size", "lr", "max_new_tokens", "train_limit")
    scalars += ("eval_limit", "holdout_limit", "probe_items", "probe_max_new_tokens", "eval_max_new_tokens")
    for name in (*scalars, "sequential_steps"):
        value = getattr(args, name)
        if value is not None:
            preset[name] = value
    for name in (
        "seeds",
        "skills",
        "methods",
        "phases",
        "tune_variants",
        "sequential_methods",
        "sequential_skills",
    ):
        value = getattr(args, name)
        if value is not None:
            items = [item.strip() for item in value.split(",") if item.strip()]
            preset[name] = [int(item) for item in items] if name == "seeds" else items
    for phase in preset["phases"]:
        if phase not in PHASES:
            parser.error(f"unknown phase {phase!r}; choose from {', '.join(PHASES)}")
    for name in [*preset["methods"], *preset["tune_variants"], *preset["sequential_methods"]]:
        if name != "best":
            try:
                find_method(name)
            except ValueError as error:
                parser.error(str(error))
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    budget = Budget(
        steps=preset["steps"],
        batch_size=preset["batch_size"],
        lr=preset["lr"],
        max_new_tokens=preset["max_new_tokens"],
        dtype=dtype,
    )
    mode = "quick" if args.quick else "full"
    model_tag = str(preset["model"]).replace("/", "_")
    return Settings(
        model=preset["model"],
        models_dir=args.models_dir,
        device=args.device,
        seeds=preset["seeds"],
        skills=preset["skills"],
        methods=preset["methods"],
        phases=preset["phases"],
        tune_skill=preset["tune_skill"],
        tune_variants=preset["tune_variants"],
        sequential_methods=preset["sequential_methods"],
        budget=budget,
        train_limit=preset["train_limit"],
        eval_limit=preset["eval_limit"],
        holdout_limit=preset["holdout_limit"],
        probe_items=preset["probe_items"],
        probe_max_new_tokens=preset["probe_max_new_tokens"],
        eval_max_new_tokens=preset["eval_max_new_tokens"],
        sequential_steps=preset["sequential_steps"],
        sequential_skills=preset["sequential_skills"],
        eval_batch_size=args.eval_batch_size,
        out=args.out,
        tag=args.tag or f"{mode}-{model_tag}",
        threads=args.threads or default_threads(),
        resume=args.resume,
        best=preset.get("best"),
        mode=mode,
    ), args.report_only


def main(argv: list[str] | None = None) -> int:
    settings, report_only = parse_args(argv)
    settings.out.mkdir(parents=True, exist_ok=True)
    if report_only:
        print(write_report(settings.out))
        return 0
    import torch

    from worker.sdft.evaluate import probe_subset
    from worker.sdft.probe import load_general_probe

    torch.set_num_threads(settings.threads)
    path = settings.out / f"learning-{settings.tag}.json"
    results: dict[str, Any] = {"runs": [], "sequential": []}
    if settings.resume and path.exists():
        results = json.loads(path.read_text())
    results["invocation"] = {
        "argv": sys.argv[1:] if argv is None else argv,
        "settings": settings.to_dict(),
        "started": time.time(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="learning-") as work_dir:
        ctx = Context(settings=settings, results=results, path=path, work_dir=Path(work_dir))
        ctx.probe = probe_subset(load_general_probe("v1"), settings.probe_items)
        ctx.base = load(settings)
        started = time.perf_counter()
        for phase, run in (
            ("tuning", run_tuning),
            ("comparison", run_comparison),
            ("sequential", run_sequential),
        ):
            if phase in settings.phases:
                run(ctx)
        results["invocation"]["wall_s"] = time.perf_counter() - started
        results["invocation"]["load_average_at_end"] = os.getloadavg()
        ctx.save()
    print(write_report(settings.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
