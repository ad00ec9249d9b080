"""Seconds and peak memory per SDFT step on CPU: Apprentice against TRL's SDFT and GKD trainers.

    nice -n 10 .venv/bin/python bench/step.py             # smollm2-135m, 2 prompts x 32 new tokens
    nice -n 10 .venv/bin/python bench/step.py --model tiny --steps 2 --variants apprentice:ema
    nice -n 10 .venv/bin/python bench/step.py --n-rollouts 2 --variants apprentice:ema,apprentice:ema:unshared

Every variant trains `--steps` steps in a fresh process on the paper's tool-use prompts (real
tool docs, ~540 tokens; the teacher prompt ~600) with the same batch, rollout length and the
paper's loss (full-vocabulary forward KL(teacher || student), temperature 1, EMA teacher where the
tool has one); the table shows the mean of the steps after the first (warm-up) and the process's
peak RSS (models included: that is what a user's machine must hold). Ratios use each step's
process CPU time (one torch thread): on the shared machine wall time follows the load.
- apprentice:ema / apprentice:live: the engine's `train` (fused LM-head divergence, teacher prompt
  shared by a prompt's rollouts); `live` scores with the student itself, so one copy of the weights.
- apprentice:ema:unfused: the checkpointed-chunk divergence instead of the fused one;
  apprentice:ema:unshared: the teacher prompt run once per rollout (differs only with --n-rollouts > 1);
  apprentice:ema:gc: gradient checkpointing on, as TRL's configs have it by default (they trade
  recomputation for activation memory: compare memory with this one).
- trl-sdft: `trl.experimental.sdft.SDFTTrainer` with the paper's settings (bench/learning_trl.py).
- trl-gkd: `trl.experimental.gkd.GKDTrainer`, lmbda=1 (every batch sampled from the student),
  beta=0 (forward KL), a teacher copy of the starting model; GKD's teacher sees the student's prompt
  (GKD has no privileged context), so it is a cost reference, not the same objective.
TRL variants are skipped with the reason when TRL does not import. The machine is shared: the
1-minute load average before and after each variant is recorded. Writes bench/results/step.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
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
DEFAULT_VARIANTS = ["apprentice:ema", "apprentice:live", "apprentice:ema:unfused", "trl-sdft", "trl-gkd"]
COLUMNS = [
    ("variant", "variant", "{}"),
    ("step s", "step_s", "{:.2f}"),
    ("cpu s", "cpu_s", "{:.2f}"),
    ("x apprentice", "time_ratio", "{:.2f}"),
    ("rollout s", "rollout_s", "{:.2f}"),
    ("teacher s", "teacher_s", "{:.2f}"),
    ("student s", "student_s", "{:.2f}"),
    ("peak RSS MiB", "peak_rss_mib", "{:.0f}"),
    ("x apprentice", "memory_ratio", "{:.2f}"),
    ("load", "load_average", "{}"),
]


def load_examples(task: str, count: int) -> list[Any]:
    from worker.sdft.data import Example
    from worker.sdft.scoring.paper_data import load_paper_task

    rows = load_paper_task(PAPER_DATA, task)  # type: ignore[arg-type]
    return [Example(prompt=list(row["prompt"]), demonstration=row["demonstration"]) for row in rows[:count]]


def _mean_after_warmup(per_step: list[dict[str, float]]) -> dict[str, float]:
    measured = per_step[1:] or per_step
    return {key: sum(step[key] for step in measured) / len(measured) for key in measured[0]}


def run_apprentice(args: argparse.Namespace, teacher: str, flags: set[str]) -> dict[str, Any]:
    from worker.sdft import steps as steps_module
    from worker.sdft import train as train_module
    from worker.sdft.config import TrainConfig
    from worker.sdft.models import load_model
    from worker.sdft.sink import ListSink

    # The reference paths are step options, not run settings: bind them for this process only.
    train_module.sdft_step = functools.partial(  # type: ignore[assignment]
        steps_module.sdft_step, fused="unfused" not in flags, share_teacher_prompts="unshared" not in flags
    )
    loaded = load_model(args.model, models_dir=args.models_dir)
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        n_rollouts=args.n_rollouts,
        max_new_tokens=args.max_new_tokens,
        teacher=teacher,  # type: ignore[arg-type]
        gradient_checkpointing="gc" in flags,
        dtype=args.dtype,
        lr=1e-5,
        warmup_ratio=0.0,
        seed=args.seed,
    )

    class CpuClockSink(ListSink):
        """Each step's process CPU time too: on a shared machine it moves far less than wall time."""

        last = time.process_time()

        def on_step(self, step: int, metrics: dict[str, float]) -> None:
            now = time.process_time()
            super().on_step(step, {**metrics, "cpu_s": now - self.last})
            self.last = now

    sink = CpuClockSink()
    train_module.train(
        loaded=loaded,
        examples=load_examples(args.task, args.batch_size * args.steps),
        config=config,
        sink=sink,
        work_dir=Path(args.work_dir),
    )
    keys = ("step_s", "cpu_s", "rollout_s", "teacher_s", "student_s", "completion_tokens")
    return _mean_after_warmup([{key: metrics[key] for key in keys} for _, metrics in sink.steps])


def _trl_common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "output_dir": str(Path(args.work_dir) / "trl"),
        "seed": args.seed,
        "use_cpu": True,
        "bf16": args.dtype == "bfloat16",
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "max_steps": args.steps,
        "per_device_train_batch_size": args.batch_size,
        "learning_rate": 1e-5,
        "warmup_steps": 0,
    }


class _StepTimer:
    """A TrainerCallback (duck-typed) that records each optimizer step's wall and CPU time."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []
        self._started = (0.0, 0.0)

    def __getattr__(self, name: str) -> Any:  # every other callback event: nothing to do
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
        self._started = (time.perf_counter(), time.process_time())

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        wall, cpu = self._started
        self.steps.append({"step_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu})


def run_trl(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = args.models_dir / args.model
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    student = AutoModelForCausalLM.from_pretrained(str(folder))
    examples = load_examples(args.task, args.batch_size * args.steps)
    timer = _StepTimer()
    if kind == "trl-sdft":
        from trl.experimental.sdft import SDFTConfig, SDFTTrainer

        from bench.learning_methods import Budget
        from bench.learning_trl import trl_settings

        budget = Budget(
            steps=args.steps, batch_size=args.batch_size, lr=1e-5, max_new_tokens=args.max_new_tokens
        )
        settings = {**trl_settings(budget), **_trl_common(args), "max_prompt_length": None}
        dataset = Dataset.from_list(
            [{"prompt": e.prompt, "privileged_context": e.demonstration} for e in examples]
        )
        trainer: Any = SDFTTrainer(
            model=student,
            args=SDFTConfig(**settings),
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[timer],
        )
    else:
        from trl.experimental.gkd import GKDConfig, GKDTrainer

        teacher = AutoModelForCausalLM.from_pretrained(str(folder))
        gkd = GKDConfig(
            **_trl_common(args),
            lmbda=1.0,
            beta=0.0,
            temperature=1.0,
            max_new_tokens=args.max_new_tokens,
            max_length=4096,
        )
        dataset = Dataset.from_list(
            [{"messages": [*e.prompt, {"role": "assistant", "content": e.demonstration}]} for e in examples]
        )
        trainer = GKDTrainer(
            model=student,
            teacher_model=teacher,
            args=gkd,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[timer],
        )
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train()
    return _mean_after_warmup(timer.steps)


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    """Child process: one variant's mean step metrics after warm-up, with peak RSS and load."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    name, *rest = args.variant.split(":")
    row = run_apprentice(args, rest[0], set(rest[1:])) if name == "apprentice" else run_trl(args, name)
    return {
        "variant": args.variant,
        **row,
        "wall_s": time.perf_counter() - started,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # Other processes on the same cores slow every phase: the 1-minute load average says how much.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "torch_threads": torch.get_num_threads(),
    }


def trl_unavailable(variant: str) -> str | None:
    module = {"trl-sdft": "trl.experimental.sdft", "trl-gkd": "trl.experimental.gkd"}.get(variant)
    if module is None:
        return None
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        __import__(module)
    except Exception as error:  # any import failure is the reason to record
        return f"{module} does not import: {type(error).__name__}: {error}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "data" / "models")
    parser.add_argument("--task", default="tooluse", choices=["tooluse", "science"])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--n-rollouts", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="steps per variant; the first is warm-up")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge", action="store_true", help="keep --out's rows of variants not run now (same settings)"
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:
        sys.path.insert(0, str(REPO_ROOT))  # the engine, when the project is not pip-installed
        print(json.dumps(run_variant(args)))
        return

    import tempfile

    rows, skipped = [], {}
    for variant in args.variants.split(","):
        reason = trl_unavailable(variant)
        if reason:
            skipped[variant] = reason
            continue
        with tempfile.TemporaryDirectory() as work_dir:
            command = [sys.executable, __file__, "--variant", variant, "--work-dir", work_dir]
            for flag in ("model", "models_dir", "task", "batch_size", "n_rollouts", "max_new_tokens"):
                command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            for flag in ("steps", "dtype", "threads", "seed"):
                command += [f"--{flag}", str(getattr(args, flag))]
            print(f"running {variant} ...", file=sys.stderr, flush=True)
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
            rows.append(json.loads(output.stdout.strip().splitlines()[-1]))

    if args.merge and args.out.exists():
        ran = {row["variant"] for row in rows}
        rows = [row for row in json.loads(args.out.read_text())["rows"] if row["variant"] not in ran] + rows
    base = rows[0] if rows else {}
    for row in rows:
        row["time_ratio"] = row["cpu_s"] / base["cpu_s"]  # CPU time: wall time follows the load
        row["memory_ratio"] = row["peak_rss_mib"] / base["peak_rss_mib"]
    header = " | ".join(title for title, _, _ in COLUMNS)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(" | ".join(fmt.format(row[key]) if key in row else "-" for _, key, fmt in COLUMNS))
    for variant, reason in skipped.items():
        print(f"{variant}: skipped ({reason})")
    result = {
        "benchmark": "sdft step",
        "model": args.model,
        "task": args.task,
        "batch_size": args.batch_size,
        "n_rollouts": args.n_rollouts,
        "max_new_tokens": args.max_new_tokens,
        "steps_per_variant": args.steps,
        "dtype": args.dtype,
        "threads": args.threads,
        "ratios_against": base.get("variant"),
        "note": "TRL's SDFTConfig and GKDConfig default to gradient_checkpointing=True and fused AdamW; "
        "apprentice:*:gc is the like-for-like memory comparison",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_after": list(os.getloadavg()),
        },
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
        "skipped": skipped,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
