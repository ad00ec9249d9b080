"""What the failure-mode monitors catch on real SDFT runs: the paper's setup against the known-bad one.

    .venv/bin/python bench/monitors.py                      # smollm2-135m, 30 steps per variant
    .venv/bin/python bench/monitors.py --model tiny --steps 3 --variants paper

Variants (everything else the product's defaults, but both with the paper's teacher template; batch 4
with one general-probe prompt mixed in, so the KL-from-start monitor has something to measure):
  paper  EMA teacher (0.01), forward KL(teacher || student), first 3 completion tokens skipped
  live   the student as its own teacher, reverse KL, no skipped tokens: the setup that taught
         SmolLM2-135M the teacher prompt's "This is an example..." (DESIGN.md)
The skill is bench/skills/iso_dates.jsonl (short prompts, so a step is seconds on CPU). For each
variant: every warning with its step, the leakage rate, entropy, length, general divergence and
teacher drift at the first and last step. Prints a table; writes bench/results/monitors.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from worker.sdft.config import PAPER_SETTINGS

REPO_ROOT = Path(__file__).resolve().parents[1]
SKILL = REPO_ROOT / "bench" / "skills" / "iso_dates.jsonl"
RESULTS = REPO_ROOT / "bench" / "results" / "monitors.json"
# Both with the paper's teacher template, whose words the live teacher leaked into SmolLM2's answers.
VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {"teacher": "ema", "divergence": "forward_kl", **PAPER_SETTINGS},
    "live": {"teacher": "live", "divergence": "reverse_kl", **PAPER_SETTINGS, "skip_first_tokens": 0},
}
TRACKED = ("leakage_rate", "entropy", "completion_tokens", "general_divergence", "teacher_drift")


def run_variant(
    name: str, *, model: str, steps: int, lr: float, max_new_tokens: int, seed: int
) -> dict[str, Any]:
    from worker.sdft.config import TrainConfig
    from worker.sdft.data import read_examples
    from worker.sdft.models import load_model
    from worker.sdft.probe import load_general_probe
    from worker.sdft.sink import ListSink
    from worker.sdft.train import train

    examples = read_examples(SKILL)
    general = [item.prompt for item in load_general_probe()[:64]]
    config = TrainConfig(
        **{
            **VARIANTS[name],
            "steps": steps,
            "batch_size": 4,
            "general_mix": 0.25,  # over the paper's 0: the KL-from-start monitor needs general prompts
            "lr": lr,
            "max_new_tokens": max_new_tokens,
            "seed": seed,
        }
    )
    loaded = load_model(model, models_dir=REPO_ROOT / "data" / "models")
    sink = ListSink()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work_dir:
        train(
            loaded=loaded,
            examples=examples,
            config=config,
            sink=sink,
            work_dir=Path(work_dir),
            resume=False,
            general_prompts=general,
        )
    series = {key: [metrics.get(key) for _, metrics in sink.steps] for key in TRACKED}
    return {
        "variant": name,
        "config": {key: getattr(config, key) for key in ("teacher", "divergence", "skip_first_tokens", "lr")},
        "steps": len(sink.steps),
        "wall_s": round(time.perf_counter() - started, 1),
        "warnings": [{"step": step, **warning} for step, warning in sink.warnings],
        "first": {key: values[0] for key, values in series.items() if values},
        "last": {key: values[-1] for key, values in series.items() if values},
        "series": series,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="paper,live", help=f"comma-separated of {', '.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    runs = []
    for name in args.variants.split(","):
        run = run_variant(
            name,
            model=args.model,
            steps=args.steps,
            lr=args.lr,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
        )
        runs.append(run)
        print(f"\n{name}: {run['steps']} steps in {run['wall_s']} s")
        print(f"  {'metric':<20} {'first':>10} {'last':>10}")
        for key in TRACKED:
            first, last = run["first"].get(key), run["last"].get(key)
            if first is not None:
                print(f"  {key:<20} {first:>10.4f} {last:>10.4f}")
        for warning in run["warnings"] or [{"step": "-", "monitor": "none", "message": "no warning"}]:
            print(f"  step {warning['step']}: {warning['monitor']}: {warning['message']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "model": args.model,
                "skill": SKILL.name,
                "steps": args.steps,
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()},
                "runs": runs,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
