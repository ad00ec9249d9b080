"""Data parallel SDFT (num_gpus > 1) against one process with the same batch: step time, tokens/s, memory.

    .venv/bin/python bench/parallel.py --device cuda --processes 1,2,4            # GPUs 0..3
    .venv/bin/python bench/parallel.py --model tiny --device cpu --steps 2         # smoke
    .venv/bin/python bench/parallel.py --processes 2,2s                            # 2s: weights sharded (FSDP)

Every row runs through the same launcher a job uses (worker/sdft/launch.py: torch.distributed.run,
one process per device, process 0 reporting), so process start-up and model loading cost the same
in every row; the step times are the engine's own, the mean of the steps after the first. On CPU the
cores are split evenly (OMP_NUM_THREADS = cores / processes), so a row measures how the work
divides, not more hardware. Each row runs from its own child of this script, whose peak RSS of
waited-for descendants (Linux's RUSAGE_CHILDREN) is then the largest training process of that row
alone. Prints a table and writes bench/results/parallel.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `bench` and the engine importable
    sys.path.insert(0, str(REPO_ROOT))

from bench.gpu import table as gpu_table  # noqa: E402
from bench.step import load_examples  # noqa: E402
from worker.sdft.config import TrainConfig  # noqa: E402
from worker.sdft.launch import LaunchSpec, train_on_processes  # noqa: E402
from worker.sdft.sink import ListSink  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "parallel.json"
COLUMNS = [
    ("processes", "processes", "{}"),
    ("weights", "weights", "{}"),
    ("step s", "step_s", "{:.2f}"),
    ("rollout s", "rollout_s", "{:.2f}"),
    ("student s", "student_s", "{:.2f}"),
    ("tokens/s", "tokens_per_s", "{:.1f}"),
    ("speed-up", "speedup", "{:.2f}x"),
    ("peak RSS GiB", "peak_rss_gib", "{:.2f}"),
    ("wall s", "wall_s", "{:.0f}"),
]


def parse_row(token: str) -> dict[str, Any]:
    """What names a row: "2" -> 2 processes with whole weights each, "2s" -> 2 sharing sharded weights."""
    token = token.strip()
    return {
        "processes": int(token.removesuffix("s")),
        "weights": "sharded" if token.endswith("s") else "whole",
    }


def run(args: argparse.Namespace, row: dict[str, Any]) -> dict[str, Any]:
    """One launch of the row's processes; the mean step metrics after the first step."""
    processes, sharded = row["processes"], row["weights"] == "sharded"
    examples = load_examples(args.task, max(args.batch_size * args.steps, args.batch_size))
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        num_gpus=processes,
        shard_weights=sharded,
        dtype="bfloat16" if args.device.startswith("cuda") else "float32",
        seed=0,
    )
    if args.device == "cpu":
        os.environ["OMP_NUM_THREADS"] = str(max(1, args.cores // processes))
    sink = ListSink()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec = LaunchSpec.build(
            model=args.model,
            models_dir=args.models_dir,
            examples=examples,
            config=config,
            work_dir=root / "work",
            checkpoint_dest=root / "checkpoint",
            device="cuda" if args.device.startswith("cuda") else "cpu",
        )
        train_on_processes(spec, num_processes=processes, sink=sink, launch_dir=root / "launch")
    wall = time.perf_counter() - started
    measured = [metrics for _, metrics in sink.steps][1:] or [metrics for _, metrics in sink.steps]

    def mean(key: str) -> float:
        return sum(metrics[key] for metrics in measured) / len(measured)

    return {
        **row,
        "status": "ok",
        "steps_measured": len(measured),
        "step_s": mean("step_s"),
        "rollout_s": mean("rollout_s"),
        "teacher_s": mean("teacher_s"),
        "student_s": mean("student_s"),
        "completion_tokens": mean("completion_tokens"),
        # completion tokens of the whole batch (every process's) per second of step
        "tokens_per_s": sum(m["completion_tokens"] * args.batch_size for m in measured)
        / sum(m["step_s"] for m in measured),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
        "wall_s": wall,
    }


def table(rows: list[dict[str, Any]]) -> str:
    return gpu_table(rows, COLUMNS, name="processes")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "data" / "models")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--processes",
        default="1,2",
        help="comma-separated process counts, one row each; a trailing s shards the weights (2s)",
    )
    parser.add_argument("--steps", type=int, default=4, help="the first is warm-up and not measured")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--task", default="tooluse", choices=["tooluse", "science"])
    parser.add_argument(
        "--cores", type=int, default=os.cpu_count() or 1, help="CPU cores split between processes"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--row", help=argparse.SUPPRESS)  # set in the per-row child process
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.row:  # child: one row, as JSON on the last line of stdout
        print(json.dumps(run(args, parse_row(args.row))))
        return 0
    rows = []
    for token in [token.strip() for token in args.processes.split(",") if token.strip()]:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                *(argv if argv is not None else sys.argv[1:]),
                "--row",
                token,
            ],
            capture_output=True,
            text=True,
        )
        lines = child.stdout.strip().splitlines()
        if child.returncode != 0 or not lines:
            row = {**parse_row(token), "status": "failed", "error": child.stderr.strip()[-1500:]}
        else:
            row = json.loads(lines[-1])
        rows.append(row)
        print(f"[parallel] {token}: {row['status']}", file=sys.stderr)
    single = next((row for row in rows if row["status"] == "ok" and row["processes"] == 1), None)
    for row in rows:
        if single is not None and row["status"] == "ok":
            row["speedup"] = single["step_s"] / row["step_s"]
    settings = {key: str(value) for key, value in vars(args).items() if key != "out"}
    settings["load_average"] = str(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {args.out}")
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
