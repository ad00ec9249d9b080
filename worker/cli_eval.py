"""`apprentice eval`: score a model or checkpoint on a skill file with the product's own evaluation code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_eval(parser: argparse.ArgumentParser) -> None:
    from worker.cli import _add_model_arguments

    _add_model_arguments(parser)
    parser.add_argument(
        "--skill-file", type=Path, required=True, help="JSONL / JSON / CSV rows with a reference"
    )
    parser.add_argument(
        "--scorer",
        required=True,
        choices=["exact", "contains", "regex", "json_match", "choice", "tool_calls"],
    )
    parser.add_argument(
        "--scorer-config", default="{}", help='scorer options as JSON, e.g. \'{"pattern": "..."}\''
    )
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--samples", type=int, default=1, help="k > 1 also reports pass@k from k samples")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N rows")
    parser.add_argument("--probe", action="store_true", help="also score the general-capability probe")
    parser.add_argument("--probe-items", type=int, default=100)
    parser.add_argument("--base", default=None, help="reference model for the probe's KL(model || base)")
    parser.add_argument("--samples-out", type=Path, default=None, help="write every scored output as JSONL")


def run_eval(args: argparse.Namespace) -> int:
    from worker.cli import UsageError, _emit, _load
    from worker.sdft.data import read_examples
    from worker.sdft.evaluate import evaluate_examples, evaluate_probe, mean_kl_from_reference, probe_subset
    from worker.sdft.probe import load_general_probe
    from worker.sdft.scoring import get_scorer

    if not args.skill_file.is_file():
        raise UsageError(f"{args.skill_file}: no such file")
    try:
        scorer_config: dict[str, Any] = json.loads(args.scorer_config)
        scorer = get_scorer(args.scorer, **scorer_config)
    except (ValueError, TypeError) as error:
        raise UsageError(f"--scorer-config: {error}") from error
    examples = read_examples(args.skill_file)[: args.limit]
    if not examples:
        raise UsageError(f"{args.skill_file}: no rows to evaluate")
    loaded = _load(args)
    result = evaluate_examples(
        loaded, examples, scorer=scorer, max_new_tokens=args.max_new_tokens, samples=args.samples
    )
    summary: dict[str, Any] = {
        "model": args.model,
        "skill_file": str(args.skill_file),
        "scorer": args.scorer,
        "accuracy": result.accuracy,
        "n": result.n,
        **result.pass_at_k,
    }
    samples = [{"kind": "skill", **sample} for sample in result.samples]
    if args.probe:
        probe = evaluate_probe(
            loaded, probe_subset(load_general_probe(), args.probe_items), max_new_tokens=64
        )
        summary["general_probe"] = probe.accuracy
        summary.update({f"general_{key}": value for key, value in probe.pass_at_k.items()})
        if args.base:
            base = _load(args, args.base)
            summary["kl_from_base"] = mean_kl_from_reference(
                loaded, base, probe.prompt_ids, probe.completion_ids
            )
        samples += [{"kind": "probe", **sample} for sample in probe.samples]
    if args.samples_out:
        with args.samples_out.open("w", encoding="utf-8") as out:
            for sample in samples:
                out.write(json.dumps(sample, ensure_ascii=False) + "\n")
    _emit(summary)
    return 0
