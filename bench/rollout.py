"""Rollout throughput on CPU: one `generate` per prompt against batched generation, with and without
length buckets.

    nice -n 10 .venv/bin/python bench/rollout.py                  # smollm2-135m, 8 prompts x 32 tokens
    nice -n 10 .venv/bin/python bench/rollout.py --model tiny --prompts 4 --max-new-tokens 8

The prompts mix the paper's tool-use (~540 tokens) and science (~230-380 tokens) questions, so a
batch that holds both pads the short ones. Variants, all through `TransformersRolloutEngine`:
- loop: batch_size=1, one `generate` per prompt (the plain loop a script would write);
- batched: every prompt in one left-padded `generate` (the engine's default in training);
- batch-K: K prompts per `generate` in the given order (mixed lengths in a batch);
- bucketed-K: K per `generate`, prompts sorted by length first (`bucket_by_length=True`).
- static: as batched, with a static (preallocated) KV cache instead of the growing one;
- static+compile: as static, the forward compiled by torch.compile (inductor, CPU) through
  transformers' CompileConfig; its first call, which compiles, is timed apart (`compile_s`) and the
  row is a second call.
Sampling at temperature 1 (the paper's), seeded; tokens/s counts completion tokens up to and
including the end-of-sequence token, per second of wall and of process CPU time (one torch
thread: on the shared machine CPU time moves far less than wall time). Writes bench/results/rollout.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_DATA = REPO_ROOT.parent / "shared" / "data" / "sdft-paper"
RESULTS = REPO_ROOT / "bench" / "results" / "rollout.json"
COLUMNS = [
    ("variant", "variant", "{}"),
    ("generate calls", "calls", "{}"),
    ("tokens", "tokens", "{}"),
    ("wall s", "wall_s", "{:.1f}"),
    ("cpu s", "cpu_s", "{:.1f}"),
    ("tok/s wall", "tokens_per_s", "{:.1f}"),
    ("tok/s cpu", "tokens_per_cpu_s", "{:.1f}"),
    ("x loop (cpu)", "speedup", "{:.2f}"),
    ("padding %", "padding_percent", "{:.0f}"),
    ("load", "load_average", "{}"),
]


def mixed_prompts(tokenizer: Any, count: int) -> list[list[int]]:
    """Alternating tool-use and science student prompts, tokenized with the chat template."""
    from worker.sdft.prompts import build_general_pair
    from worker.sdft.scoring.paper_data import load_paper_task

    tasks = [load_paper_task(PAPER_DATA, "tooluse"), load_paper_task(PAPER_DATA, "science")]  # type: ignore[arg-type]
    rows = [tasks[index % 2][index // 2] for index in range(count)]
    return [build_general_pair(tokenizer, list(row["prompt"])).student_ids for row in rows]


def padding_fraction(prompts: list[list[int]], batches: list[list[int]]) -> float:
    """Share of prompt positions in the batches that are left padding."""
    padded = sum(max(len(prompts[i]) for i in batch) * len(batch) for batch in batches)
    real = sum(len(prompts[i]) for batch in batches for i in batch)
    return 1.0 - real / padded


def run(
    engine: Any, loaded: Any, prompts: list[list[int]], *, max_new_tokens: int, seed: int
) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    completions = engine.generate(
        loaded.model,
        prompts,
        eos_token_ids=loaded.eos_token_ids,
        pad_token_id=loaded.pad_token_id,
        max_new_tokens=max_new_tokens,
        temperature=1.0,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tokens = sum(len(completion.token_ids) for completion in completions)
    return {
        "tokens": tokens,
        "wall_s": wall,
        "cpu_s": cpu,
        "tokens_per_s": tokens / wall,
        "tokens_per_cpu_s": tokens / cpu,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "data" / "models")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4, help="K of batch-K and bucketed-K")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO_ROOT))  # the engine, when the project is not pip-installed
    import torch

    from worker.sdft.models import load_model
    from worker.sdft.rollout import TransformersRolloutEngine

    torch.set_num_threads(args.threads)
    loaded = load_model(args.model, models_dir=args.models_dir)
    prompts = mixed_prompts(loaded.tokenizer, args.prompts)
    count, k = len(prompts), args.batch
    by_length = sorted(range(count), key=lambda index: len(prompts[index]))
    variants = {
        "loop": (TransformersRolloutEngine(batch_size=1), [[i] for i in range(count)]),
        "batched": (TransformersRolloutEngine(), [list(range(count))]),
        f"batch-{k}": (
            TransformersRolloutEngine(batch_size=k),
            [list(range(start, min(start + k, count))) for start in range(0, count, k)],
        ),
        f"bucketed-{k}": (
            TransformersRolloutEngine(batch_size=k, bucket_by_length=True),
            [by_length[start : start + k] for start in range(0, count, k)],
        ),
    }
    from transformers import CompileConfig

    compile_config = CompileConfig(mode="default", dynamic=False)
    compile_config._compile_all_devices = True  # transformers compiles on accelerators only unless told
    static = {"cache_implementation": "static"}
    variants["static"] = (TransformersRolloutEngine(generate_options=static), [list(range(count))])
    variants["static+compile"] = (
        TransformersRolloutEngine(generate_options={**static, "compile_config": compile_config}),
        [list(range(count))],
    )
    # Warm-up: the first generate pays one-off costs (allocations, kernels chosen) for everyone.
    run(TransformersRolloutEngine(), loaded, prompts[:1], max_new_tokens=2, seed=args.seed)
    rows = []
    for name, (engine, batches) in variants.items():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        row = {
            "variant": name,
            "calls": len(batches),
            "padding_percent": 100 * padding_fraction(prompts, batches),
        }
        if "compile" in name:  # the first call compiles: timed apart, the row is the next call
            first = run(engine, loaded, prompts, max_new_tokens=args.max_new_tokens, seed=args.seed)
            row["compile_s"] = first["wall_s"]
            row["compile_cpu_s"] = first["cpu_s"]
        rows.append(
            {**row, **run(engine, loaded, prompts, max_new_tokens=args.max_new_tokens, seed=args.seed)}
        )
    for row in rows:
        row["speedup"] = row["tokens_per_cpu_s"] / rows[0]["tokens_per_cpu_s"]

    header = " | ".join(title for title, _, _ in COLUMNS)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(" | ".join(fmt.format(row[key]) for _, key, fmt in COLUMNS))
    for row in rows:
        if "compile_s" in row:
            print(f"{row['variant']}: its first call (compiling) took {row['compile_s']:.1f} s wall")
    result = {
        "benchmark": "rollout throughput",
        "model": args.model,
        "prompts": count,
        "prompt_tokens": sorted(len(prompt) for prompt in prompts),
        "max_new_tokens": args.max_new_tokens,
        "threads": args.threads,
        "temperature": 1.0,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_after": list(os.getloadavg()),
        },
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
