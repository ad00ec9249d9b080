"""The pre-training memory estimate (worker/sdft/memory.py) beside what a CPU process really needed.

    .venv/bin/python bench/memory.py                          # smollm2-135m cases, ~3 min
    .venv/bin/python bench/memory.py --model qwen2.5-0.5b --task science --cases sdft,sdft-lora16

Every case trains `--steps` steps of the engine's `train` in a fresh process on the paper's prompts
(the first `batch_size * steps` rows of the task) and records:

- estimate_peak_gib / estimate_certain_gib: what train() worked out before its first step (tensors);
- needed_gib: the process's peak resident set less what it held before training, plus the weights
  (they were loaded by then): what the run needed on top of an interpreter with torch imported;
- needed / estimate: how far the estimate is from that. Above 1 is memory the allocator kept or the
  interpreter used that no tensor accounts for; the product refuses only on the certain part.

Cases (TrainConfig settings over the defaults; the `:mmap` suffix runs the same case with glibc told
to serve every allocation from 128 KiB up with its own mapping, returned to the system when freed,
instead of keeping freed blocks in its heap; `:mmap4m` the same from 4 MiB up):
  sdft: the defaults (EMA teacher, auto general prompts and lr); sdft-ckpt: gradient checkpointing
  and 2 micro-batches; sdft-lora16: LoRA rank 16; sft: the SFT baseline.
Writes bench/results/memory-<model>-<task>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CASES: dict[str, dict[str, Any]] = {
    "sdft": {},
    "sdft-ckpt": {"gradient_checkpointing": True, "grad_accum": 2},
    "sdft-lora16": {"lora_rank": 16},
    "sft": {"method": "sft"},
}
# glibc: allocations from this size up get their own mapping, unmapped on free (no dynamic raise).
MALLOC_ENVS: dict[str, dict[str, str]] = {
    "mmap": {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)},
    "mmap4m": {"MALLOC_MMAP_THRESHOLD_": str(4 * 2**20)},
}
DEFAULT_CASES = "sdft,sdft:mmap,sdft-ckpt,sdft-lora16,sft"


def malloc_env(case: str) -> dict[str, str]:
    """The glibc settings a case's suffix asks for ({} without one)."""
    _, _, suffix = case.partition(":")
    return MALLOC_ENVS[suffix] if suffix else {}


COLUMNS = [
    ("case", "case", "{}"),
    ("estimate GiB", "estimate_peak_gib", "{:.2f}"),
    ("certain GiB", "estimate_certain_gib", "{:.2f}"),
    ("activations GiB", "estimate_activations_gib", "{:.2f}"),
    ("needed GiB", "needed_gib", "{:.2f}"),
    ("needed / estimate", "needed_over_estimate", "{:.2f}"),
    ("peak RSS GiB", "peak_rss_gib", "{:.2f}"),
    ("step s", "step_s", "{:.1f}"),
]


def run_case(args: argparse.Namespace) -> dict[str, Any]:
    """Child process: train one case, return the estimate beside the measured peak."""
    import torch

    from bench.learning_runner import memory_gib
    from bench.step import load_examples
    from worker.sdft.config import TrainConfig
    from worker.sdft.models import load_model
    from worker.sdft.sink import ListSink
    from worker.sdft.train import train

    torch.set_num_threads(args.threads)
    name = args.case.split(":")[0]
    examples = load_examples(args.task, args.batch_size * args.steps)
    loaded = load_model(args.model, models_dir=args.models_dir)
    held_before = memory_gib()["resident_gib"]
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        **CASES[name],
    )
    sink = ListSink()
    started = time.perf_counter()
    result = train(loaded=loaded, examples=examples, config=config, sink=sink, work_dir=Path(args.work_dir))
    wall = time.perf_counter() - started
    peak = memory_gib()["peak_resident_gib"]
    estimate = result.memory_estimate_gib
    needed = peak - held_before + estimate["weights"]
    return {
        "case": args.case,
        "settings": CASES[name],
        "malloc_env": {key: value for key, value in os.environ.items() if key.startswith("MALLOC_")},
        "estimate_peak_gib": estimate["peak"],
        "estimate_certain_gib": estimate["certain"],
        "estimate_activations_gib": estimate["activations"],
        "estimate_gib": estimate,
        "needed_gib": round(needed, 3),
        "needed_over_estimate": round(needed / estimate["peak"], 3),
        "held_before_training_gib": round(held_before, 3),
        "peak_rss_gib": round(peak, 3),
        "step_s": wall / max(1, len(sink.steps)),
        "completion_tokens": [round(metrics["completion_tokens"], 1) for _, metrics in sink.steps],
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "data" / "models")
    parser.add_argument("--task", default="tooluse", choices=["tooluse", "science"])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:
        sys.path.insert(0, str(REPO_ROOT))
        print(json.dumps(run_case(args)))
        return

    cases = args.cases.split(",")
    unknown = [
        case
        for case in cases
        if case.partition(":")[0] not in CASES or case.partition(":")[2] not in ("", *MALLOC_ENVS)
    ]
    if unknown:
        parser.error(
            f"unknown case {unknown[0]!r}: choose from {', '.join(CASES)}, "
            f"each optionally with {' or '.join(':' + suffix for suffix in MALLOC_ENVS)}"
        )
    rows = []
    for case in cases:
        with tempfile.TemporaryDirectory() as work_dir:
            command = [sys.executable, __file__, "--case", case, "--work-dir", work_dir]
            for flag in (
                "model",
                "models_dir",
                "task",
                "batch_size",
                "max_new_tokens",
                "steps",
                "threads",
                "seed",
            ):
                command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            env = {**os.environ, **malloc_env(case)}
            print(f"running {case} ...", file=sys.stderr, flush=True)
            output = subprocess.run(
                command, check=True, capture_output=True, text=True, cwd=REPO_ROOT, env=env
            )
            rows.append(json.loads(output.stdout.strip().splitlines()[-1]))

    header = " | ".join(title for title, _, _ in COLUMNS)
    print(header)
    print(" | ".join("---" for _ in COLUMNS))
    for row in rows:
        print(" | ".join(fmt.format(row[key]) for _, key, fmt in COLUMNS))
    out = args.out or REPO_ROOT / "bench" / "results" / f"memory-{args.model}-{args.task}.json"
    result = {
        "benchmark": "memory estimate against the measured peak (CPU)",
        "model": args.model,
        "task": args.task,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "steps": args.steps,
        "threads": args.threads,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")


if __name__ == "__main__":
    main()
