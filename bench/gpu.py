"""SDFT steps on one GPU: step time split, tokens/s, MFU and peak memory, HF generate against vLLM.

    bench/gpu.sh                                                  # Qwen2.5-1.5B-Instruct, under 8 min on one H100
    .venv/bin/python bench/gpu.py --model Qwen/Qwen2.5-1.5B-Instruct --engines transformers,vllm
    .venv/bin/python bench/gpu.py --model tiny --device cpu --steps 2 --engines transformers   # smoke

Each engine trains `--steps` SDFT steps (the paper's loss and EMA teacher, bf16 autocast, the
paper's tool-use prompts) in a fresh process, so one engine's GPU memory never counts against the
other's. Reported per engine, as the mean of the steps after the first (warm-up):
- step seconds split into rollout / teacher / student (forward + backward) / the rest (optimizer,
  EMA update, bookkeeping);
- rollout tokens/s (completion tokens / rollout seconds) and step tokens/s;
- MFU: the step's model FLOPs (2 N per prompt and completion token for the rollout's and the
  teacher's forwards, 6 N per token for the student's forward and backward; N = all parameters)
  over step seconds x the device's dense bf16 peak (--peak-tflops, or known from the device name);
- peak memory: torch's peak allocation and the device's peak in use (torch.cuda.mem_get_info:
  counts vLLM's own pool, which torch's allocator does not see).
An engine that cannot run (vLLM without CUDA or not installed) is reported as skipped with the
reason. Prints a table and writes bench/results/gpu.json (or --out).
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
if str(REPO_ROOT) not in sys.path:  # run as a script: make `bench` and the engine importable
    sys.path.insert(0, str(REPO_ROOT))

from bench.step import load_examples  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "gpu.json"
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' data sheets.
PEAK_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10G": 125.0, "L4": 121.0}
COLUMNS = [
    ("engine", "engine", "{}"),
    ("step s", "step_s", "{:.2f}"),
    ("rollout s", "rollout_s", "{:.2f}"),
    ("teacher s", "teacher_s", "{:.2f}"),
    ("student s", "student_s", "{:.2f}"),
    ("other s", "other_s", "{:.2f}"),
    ("rollout tok/s", "rollout_tokens_per_s", "{:.0f}"),
    ("step tok/s", "step_tokens_per_s", "{:.0f}"),
    ("MFU %", "mfu_percent", "{:.1f}"),
    ("torch peak GiB", "torch_peak_gib", "{:.2f}"),
    ("device peak GiB", "device_peak_gib", "{:.2f}"),
]


def peak_tflops(device_name: str, override: float | None) -> float | None:
    if override:
        return override
    return next((value for key, value in PEAK_TFLOPS.items() if key in device_name), None)


class DeviceMemory:
    """The device's memory in use, sampled after every step (vLLM's pool is outside torch's counters)."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.peak = 0

    def sample(self) -> None:
        if self.cuda:
            import torch

            free, total = torch.cuda.mem_get_info()
            self.peak = max(self.peak, total - free)


def run_engine(args: argparse.Namespace) -> dict[str, Any]:
    """One engine's steps in this process; returns its measurements."""
    import torch

    from worker.sdft.config import TrainConfig
    from worker.sdft.models import load_model
    from worker.sdft.sink import ListSink
    from worker.sdft.train import train

    if args.engine == "vllm":
        from worker.sdft.rollout_vllm import vllm_unavailable_reason

        reason = vllm_unavailable_reason()
        if reason:
            return {"engine": args.engine, "status": "skipped", "reason": reason}
    loaded = load_model(args.model, models_dir=args.models_dir, device=args.device)
    parameters = sum(parameter.numel() for parameter in loaded.model.parameters())
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        dtype=args.dtype,
        gradient_checkpointing=args.gradient_checkpointing,
        rollout_engine=args.engine,
        vllm_gpu_memory_utilization=args.vllm_memory,
        lr=1e-5,
        warmup_ratio=0.0,
        seed=0,
    )
    memory = DeviceMemory(args.device)

    class Sink(ListSink):
        def on_step(self, step: int, metrics: dict[str, float]) -> None:
            memory.sample()
            super().on_step(step, metrics)

    sink = Sink()
    examples = load_examples(args.task, args.batch_size * args.steps)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as work_dir:
        train(loaded=loaded, examples=examples, config=config, sink=sink, work_dir=Path(work_dir))
    steps = [metrics for _, metrics in sink.steps][1:] or [metrics for _, metrics in sink.steps]

    def mean(key: str) -> float:
        return sum(step[key] for step in steps) / len(steps)

    # Token counts for the FLOPs: the prompts are the ones trained on, the completions as sampled.
    from worker.sdft.prompts import build_prompt_pair

    pairs = [
        build_prompt_pair(loaded.tokenizer, example, template=config.teacher_template) for example in examples
    ]
    student_prompt = sum(len(pair.student_ids) for pair in pairs) / len(pairs)
    teacher_prompt = sum(len(pair.teacher_ids) for pair in pairs) / len(pairs)
    completion = mean("completion_tokens")  # per sequence
    sequences = args.batch_size * config.n_rollouts
    flops = (
        sequences
        * parameters
        * (
            2 * (student_prompt + completion)  # rollout: prefill and decode, forward only
            + 2 * (teacher_prompt + completion)  # teacher scoring, no grad
            + 6 * (student_prompt + completion)  # student forward and backward
        )
    )
    step_s = mean("step_s")
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    peak = peak_tflops(name, args.peak_tflops) if args.device.startswith("cuda") else args.peak_tflops
    gib = 1024**3
    return {
        "engine": args.engine,
        "status": "ok",
        "device_name": name,
        "parameters": parameters,
        "steps_measured": len(steps),
        "step_s": step_s,
        "rollout_s": mean("rollout_s"),
        "teacher_s": mean("teacher_s"),
        "student_s": mean("student_s"),
        "other_s": step_s - mean("rollout_s") - mean("teacher_s") - mean("student_s"),
        "completion_tokens": completion,
        "student_prompt_tokens": student_prompt,
        "teacher_prompt_tokens": teacher_prompt,
        "rollout_tokens_per_s": sequences * completion / mean("rollout_s") if mean("rollout_s") else None,
        "step_tokens_per_s": sequences * completion / step_s if step_s else None,
        "model_tflops_per_step": flops / 1e12,
        "peak_tflops": peak,
        "mfu_percent": 100 * flops / (step_s * peak * 1e12) if peak and step_s else None,
        "torch_peak_gib": torch.cuda.max_memory_allocated() / gib if args.device.startswith("cuda") else None,
        "device_peak_gib": memory.peak / gib if memory.cuda else None,
    }


def table(
    rows: list[dict[str, Any]], columns: list[tuple[str, str, str]] = COLUMNS, name: str = "engine"
) -> str:
    """Markdown table of `rows` by `columns` (title, key, format); a row that did not run says why."""
    lines = ["| " + " | ".join(title for title, _, _ in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        if row.get("status") != "ok":
            lines.append(f"| {row[name]} | {row.get('status')}: {row.get('reason') or row.get('error')} |")
            continue
        cells = [fmt.format(row[key]) if row.get(key) is not None else "-" for _, key, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="Qwen/Qwen2.5-1.5B-Instruct")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "data" / "models")
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--dtype", default=None, choices=["float32", "bfloat16"], help="default: bf16 on cuda"
    )
    parser.add_argument("--engines", default="transformers,vllm")
    parser.add_argument("--steps", type=int, default=6, help="the first is warm-up and not measured")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--task", default="tooluse", choices=["tooluse", "science"])
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--vllm-memory", type=float, default=0.3, help="vLLM's share of the GPU")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, when not known")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # set in the per-engine child process
    args = parser.parse_args(argv)
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.engine:  # child: one engine, result as JSON on the last line of stdout
        print(json.dumps(run_engine(args)))
        return 0
    rows = []
    for engine in [name.strip() for name in args.engines.split(",") if name.strip()]:
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--engine", engine],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines = child.stdout.strip().splitlines()
        if child.returncode != 0 or not lines:
            row = {"engine": engine, "status": "failed", "error": child.stderr.strip()[-2000:]}
        else:
            row = json.loads(lines[-1])
        row["wall_s"] = time.perf_counter() - started
        rows.append(row)
        print(f"[gpu] {engine}: {row.get('status')} in {row['wall_s']:.0f} s", file=sys.stderr)
    settings = {key: str(value) for key, value in vars(args).items() if key not in ("engine", "out")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {args.out}")
    return 0 if all(row["status"] != "failed" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
