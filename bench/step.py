"""Seconds per SDFT step on CPU, split into rollout / teacher forward / student forward-backward.

    .venv/bin/python bench/step.py            # smollm2-135m, batch 4 x 64 new tokens, 4 variants
    .venv/bin/python bench/step.py --model tiny --steps 2 --variants live:none

For each variant (teacher live or EMA; divergence unchunked or chunked) a fresh process trains a few
steps on the paper's tool-use prompts (real tool docs, ~510 tokens each) and reports the mean of the
steps after the first (warm-up), plus its peak RSS. Prints a table and writes bench/results/step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_DATA = REPO_ROOT.parent / "shared" / "data" / "sdft-paper"
RESULTS = REPO_ROOT / "bench" / "results" / "step.json"
DEFAULT_VARIANTS = ["live:none", "live:64", "ema:none", "ema:64"]
COLUMNS = [
    ("teacher", "teacher", "{}"),
    ("chunk", "loss_chunk_size", "{}"),
    ("step s", "step_s", "{:.2f}"),
    ("rollout s", "rollout_s", "{:.2f}"),
    ("teacher s", "teacher_s", "{:.2f}"),
    ("student s", "student_s", "{:.2f}"),
    ("tokens/seq", "completion_tokens", "{:.1f}"),
    ("gen tok/s", "rollout_tokens_per_s", "{:.1f}"),
    ("step tok/s", "tokens_per_s", "{:.1f}"),
    ("peak RSS MiB", "peak_rss_mib", "{:.0f}"),
    ("load", "load_average", "{}"),
]


def load_examples(task: str, count: int) -> list[Any]:
    from worker.sdft.data import Example
    from worker.sdft.scoring.paper_data import load_paper_task

    rows = load_paper_task(PAPER_DATA, task)  # type: ignore[arg-type]
    return [Example(prompt=list(row["prompt"]), demonstration=row["demonstration"]) for row in rows[:count]]


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    """Child process: train `args.steps` steps of one variant, return the mean metrics after warm-up."""
    import torch

    from worker.sdft.config import TrainConfig
    from worker.sdft.models import load_model
    from worker.sdft.sink import ListSink
    from worker.sdft.train import train

    teacher, chunk = args.variant.split(":")
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.model, models_dir=args.models_dir)
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        teacher=teacher,  # type: ignore[arg-type]
        loss_chunk_size=None if chunk == "none" else int(chunk),
        dtype=args.dtype,
        lr=1e-5,
        warmup_ratio=0.0,
        seed=args.seed,
    )
    examples = load_examples(args.task, args.batch_size * args.steps)
    sink = ListSink()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    train(loaded=loaded, examples=examples, config=config, sink=sink, work_dir=Path(args.work_dir))
    measured = [metrics for _, metrics in sink.steps[1:]] or [sink.steps[0][1]]
    mean = {key: sum(m[key] for m in measured) / len(measured) for key in measured[0]}
    mean["rollout_tokens_per_s"] = mean["completion_tokens"] * args.batch_size / mean["rollout_s"]
    return {
        "teacher": teacher,
        "loss_chunk_size": chunk,
        **mean,
        "measured_steps": len(measured),
        "wall_s": time.perf_counter() - started,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # Other processes on the same cores slow every phase: the 1-minute load average says how much.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "torch_threads": torch.get_num_threads(),
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
    parser.add_argument("--steps", type=int, default=3, help="steps per variant; the first is warm-up")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--variants", default=",".join(DEFAULT_VARIANTS), help="teacher:chunk pairs, chunk 'none' = unchunked"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:
        sys.path.insert(0, str(REPO_ROOT))  # the engine, when the project is not pip-installed
        print(json.dumps(run_variant(args)))
        return

    import tempfile

    rows = []
    for variant in args.variants.split(","):
        with tempfile.TemporaryDirectory() as work_dir:
            command = [sys.executable, __file__, "--variant", variant, "--work-dir", work_dir]
            for flag in (
                "model",
                "models_dir",
                "task",
                "batch_size",
                "max_new_tokens",
                "steps",
                "dtype",
                "threads",
                "seed",
            ):
                value = getattr(args, flag)
                if value is not None:
                    command += [f"--{flag.replace('_', '-')}", str(value)]
            print(f"running {variant} ...", file=sys.stderr, flush=True)
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
            rows.append(json.loads(output.stdout.strip().splitlines()[-1]))

    header = " | ".join(title for title, _, _ in COLUMNS)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(" | ".join(fmt.format(row[key]) for _, key, fmt in COLUMNS))
    result = {
        "benchmark": "sdft step",
        "model": args.model,
        "task": args.task,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "steps_per_variant": args.steps,
        "dtype": args.dtype,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
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
