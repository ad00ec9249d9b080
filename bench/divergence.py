"""Full-vocabulary forward KL for batch 8 x 512 tokens x vocab 49,152 on CPU (fp32): memory and time.

    .venv/bin/python bench/divergence.py                  # the issue's size, every variant
    .venv/bin/python bench/divergence.py --batch 2 --variants plain,fused

Every variant starts from the same place, the final hidden states of student and teacher (N, H)
with N = batch x tokens and H = 576 (SmolLM2-135M), and each model's output embedding (V, H); it
returns the paper's loss, per-token KL(teacher || student) averaged over each sequence's tokens
and then over sequences, with gradient into the student's hidden states and output embedding.
- plain: both models' full logits, log-softmax of both materialised, the KL summed over V.
- trl_gkd: full logits, then TRL's `GKDTrainer.generalized_jsd_loss` with beta=0 (forward KL;
  labels given, so the mean is over tokens).
- chunked: `worker.sdft.divergence.completion_token_stats` (LM heads applied 256 positions at a
  time under activation checkpointing, so backward recomputes each chunk; the engine's fallback
  for heads that are not plain linear layers).
- fused: `worker.sdft.fused_head.fused_completion_loss`, the engine's default: LM heads applied
  chunk by chunk with the gradient formed in the forward pass, so full logits never exist and no
  chunk is recomputed (both also return the per-token diagnostics the engine logs).

Each (variant, mode) runs in a fresh subprocess. Peak memory is the process's resident-set high
water mark (VmHWM, reset through /proc/self/clear_refs right before the measured call) minus the
resident set just before it: torch's CPU allocator returns large blocks to the OS, so RSS follows
live tensors (tracemalloc would not see them). Modes: `forward` computes the loss under no_grad;
`train` is forward with grad plus backward. Time is the process's CPU time (user + system) on one
thread: on a shared machine wall time moved 2x between identical runs, CPU time a few percent.
Prints a table and writes bench/results/divergence.json.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results" / "divergence.json"
VARIANTS = ("plain", "trl_gkd", "chunked", "fused")
MODES = ("forward", "train")
# The target: at most a third of plain's peak memory at no more than 10% extra time.
TARGET_MEMORY_RATIO = 1 / 3
TARGET_TIME_RATIO = 1.10


@dataclass
class Inputs:
    student_hidden: torch.Tensor  # (N, H), requires grad in `train`
    student_weight: torch.Tensor  # (V, H), requires grad in `train`
    teacher_hidden: torch.Tensor  # (N, H)
    teacher_weight: torch.Tensor  # (V, H)
    target_ids: torch.Tensor  # (N,) the sampled tokens (the engine also reports their log-probs)
    mask: torch.Tensor  # (B, T) completion tokens that count
    batch: int
    tokens: int

    def token_weights(self) -> torch.Tensor:
        """(N,) the paper's reduction as weights: 1 / (tokens in the sequence x sequences with tokens)."""
        counts = self.mask.sum(dim=-1, keepdim=True).clamp_min(1)
        sequences = (self.mask.sum(dim=-1) > 0).sum().clamp_min(1)
        return (self.mask / counts / sequences).reshape(-1)


def make_inputs(*, batch: int, tokens: int, vocab: int, hidden: int, train: bool, seed: int = 0) -> Inputs:
    generator = torch.Generator().manual_seed(seed)
    rows = batch * tokens
    student_hidden = torch.randn(rows, hidden, generator=generator)
    # Weights scaled so logits spread like a trained model's (std ~2.4); the teacher is an EMA
    # copy, close to the student, and sees a different prompt (different hidden states).
    student_weight = torch.randn(vocab, hidden, generator=generator) * 0.1
    teacher_weight = student_weight + 0.01 * torch.randn(vocab, hidden, generator=generator)
    teacher_hidden = student_hidden + 0.5 * torch.randn(rows, hidden, generator=generator)
    target_ids = torch.randint(vocab, (rows,), generator=generator)
    mask = torch.ones(batch, tokens)
    return Inputs(
        student_hidden=student_hidden.requires_grad_(train),
        student_weight=student_weight.requires_grad_(train),
        teacher_hidden=teacher_hidden,
        teacher_weight=teacher_weight,
        target_ids=target_ids,
        mask=mask,
        batch=batch,
        tokens=tokens,
    )


# ------------------------------------------------------------------------------------- variants
def full_logits(inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
    student_logits = inputs.student_hidden @ inputs.student_weight.T  # (N, V)
    with torch.no_grad():
        teacher_logits = inputs.teacher_hidden @ inputs.teacher_weight.T  # (N, V)
    return student_logits, teacher_logits


def plain_loss(inputs: Inputs) -> torch.Tensor:
    from worker.sdft.divergence import masked_sequence_mean

    student_logits, teacher_logits = full_logits(inputs)
    student_logprobs = torch.log_softmax(student_logits, dim=-1)  # (N, V)
    teacher_logprobs = torch.log_softmax(teacher_logits, dim=-1)  # (N, V)
    per_token = (teacher_logprobs.exp() * (teacher_logprobs - student_logprobs)).sum(dim=-1)  # (N,)
    return masked_sequence_mean(per_token.view(inputs.batch, inputs.tokens), inputs.mask)


def trl_gkd_loss(inputs: Inputs) -> torch.Tensor:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd import GKDTrainer

    student_logits, teacher_logits = full_logits(inputs)
    shape = (inputs.batch, inputs.tokens, -1)
    labels = inputs.target_ids.view(inputs.batch, inputs.tokens)
    return GKDTrainer.generalized_jsd_loss(
        student_logits.view(shape), teacher_logits.view(shape), labels=labels, beta=0.0
    )


def chunked_loss(inputs: Inputs) -> torch.Tensor:
    from worker.sdft.divergence import completion_token_stats, masked_sequence_mean

    stats = completion_token_stats(
        inputs.student_hidden,
        inputs.teacher_hidden,
        inputs.target_ids,
        student_head=lambda hidden: hidden @ inputs.student_weight.T,
        teacher_head=lambda hidden: hidden @ inputs.teacher_weight.T,
        divergence="forward_kl",
    )
    return masked_sequence_mean(stats.divergence.view(inputs.batch, inputs.tokens), inputs.mask)


def fused_loss(inputs: Inputs, *, chunk_size: int = 256) -> torch.Tensor:
    from worker.sdft.fused_head import HeadWeights, fused_completion_loss

    loss, _ = fused_completion_loss(
        inputs.student_hidden,
        inputs.teacher_hidden,
        inputs.target_ids,
        inputs.token_weights(),
        student_head=HeadWeights(inputs.student_weight, None),
        teacher_head=HeadWeights(inputs.teacher_weight, None),
        divergence="forward_kl",
        chunk_size=chunk_size,
    )
    return loss


LOSSES: dict[str, Callable[[Inputs], torch.Tensor]] = {
    "plain": plain_loss,
    "trl_gkd": trl_gkd_loss,
    "chunked": chunked_loss,
    "fused": fused_loss,
}


# ------------------------------------------------------------------------------------ agreement
def loss_and_grads(name: str, *, uneven: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    inputs = make_inputs(batch=3, tokens=40, vocab=700, hidden=24, train=True, seed=1)
    if uneven:
        inputs.mask[1, 25:] = 0
    loss = LOSSES[name](inputs)
    loss.backward()
    assert inputs.student_hidden.grad is not None and inputs.student_weight.grad is not None
    return loss.detach(), inputs.student_hidden.grad, inputs.student_weight.grad


def check_agreement() -> dict[str, float]:
    """On a small float32 problem every variant's loss and gradients match plain's (max abs diff).

    Uneven sequence lengths test the per-sequence mean, except for TRL, which averages over all
    tokens of the batch (the same thing when every sequence has the same length)."""
    worst = {}
    for name in LOSSES:
        if name == "plain":
            continue
        uneven = name != "trl_gkd"
        got = loss_and_grads(name, uneven=uneven)
        want = loss_and_grads("plain", uneven=uneven)
        for got_tensor, want_tensor in zip(got, want, strict=True):
            torch.testing.assert_close(got_tensor, want_tensor, rtol=1e-4, atol=1e-6)
        worst[name] = max(float((g - w).abs().max()) for g, w in zip(got, want, strict=True))
    return worst


# ----------------------------------------------------------------------------------- one child
def memory_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    train = args.mode == "train"
    loss_function = LOSSES[args.variant]
    inputs = make_inputs(
        batch=args.batch, tokens=args.tokens, vocab=args.vocab, hidden=args.hidden, train=train
    )
    # Import what the variant imports before measuring, so module loading is not counted.
    warm_loss = loss_function(make_inputs(batch=1, tokens=8, vocab=64, hidden=8, train=train))
    if train:
        warm_loss.backward()

    cpu_seconds: list[float] = []
    wall_seconds: list[float] = []
    forward_cpu_seconds: list[float] = []
    system_seconds: list[float] = []
    page_faults: list[int] = []
    peaks: list[float] = []
    loss_value = 0.0
    for _ in range(args.repeats):
        inputs.student_hidden.grad = inputs.student_weight.grad = None
        before = memory_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        if train:
            loss = loss_function(inputs)
            forward_cpu_seconds.append(time.process_time() - cpu_started)
            loss.backward()
        else:
            with torch.no_grad():
                loss = loss_function(inputs)
        cpu_seconds.append(time.process_time() - cpu_started)
        wall_seconds.append(time.perf_counter() - wall_started)
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        # System time here is mostly page faults: the kernel zeroing freshly mapped tensor memory.
        system_seconds.append(usage_after.ru_stime - usage_before.ru_stime)
        page_faults.append(usage_after.ru_minflt - usage_before.ru_minflt)
        peaks.append((memory_kib("VmHWM") - before) / 1024)
        loss_value = float(loss)
        del loss
    return {
        "variant": args.variant,
        "mode": args.mode,
        "cpu_seconds": min(cpu_seconds),
        "wall_seconds": min(wall_seconds),
        "forward_cpu_seconds": min(forward_cpu_seconds) if forward_cpu_seconds else min(cpu_seconds),
        "system_seconds": min(system_seconds),
        "page_faults": min(page_faults),
        "all_cpu_seconds": cpu_seconds,
        "all_wall_seconds": wall_seconds,
        "peak_mib": max(peaks),
        "loss": loss_value,
    }


def spawn(variant: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        f"--variant={variant}",
        f"--mode={mode}",
        f"--batch={args.batch}",
        f"--tokens={args.tokens}",
        f"--vocab={args.vocab}",
        f"--hidden={args.hidden}",
        f"--threads={args.threads}",
        f"--repeats={args.repeats}",
    ]
    # A fixed mmap threshold: glibc's adaptive one would keep freed blocks of up to 32 MiB in the
    # heap, where reusing them does not show in the high-water mark of the next allocation.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1024 * 1024), "TRL_EXPERIMENTAL_SILENCE": "1"}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant}/{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------- main
def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        "variant",
        "mode",
        "CPU s",
        "x plain",
        "of it sys",
        "wall s",
        "peak MiB",
        "x plain",
        "loss",
        "meets target",
    )
    rows = [
        (
            result["variant"],
            result["mode"],
            f"{result['cpu_seconds']:.2f}",
            f"{result['time_ratio']:.2f}",
            f"{result['system_seconds']:.2f}",
            f"{result['wall_seconds']:.2f}",
            f"{result['peak_mib']:,.0f}",
            f"{result['memory_ratio']:.2f}",
            f"{result['loss']:.5f}",
            {True: "yes", False: "no", None: "-"}[result["meets_target"]],
        )
        for result in results
    ]
    widths = [max(len(title), *(len(row[i]) for row in rows)) for i, title in enumerate(header)]
    print("  ".join(title.rjust(width) for title, width in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=49_152)
    parser.add_argument("--hidden", type=int, default=576)
    # One thread: CPU time then measures work, not other processes' contention or spinning threads.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args)))
        return

    agreement = check_agreement()
    print("agreement with plain on a small float32 problem (max abs diff of loss and gradients): ", end="")
    print(", ".join(f"{name} {diff:.1e}" for name, diff in agreement.items()))
    variants = args.variants.split(",")
    modes = args.modes.split(",")
    started = time.perf_counter()
    results = [spawn(variant, mode, args) for mode in modes for variant in variants]
    plain = {result["mode"]: result for result in results if result["variant"] == "plain"}
    for result in results:
        reference = plain.get(result["mode"])
        result["time_ratio"] = result["cpu_seconds"] / reference["cpu_seconds"] if reference else float("nan")
        result["memory_ratio"] = result["peak_mib"] / reference["peak_mib"] if reference else float("nan")
        result["meets_target"] = (
            None
            if reference is None or result["variant"] == "plain"
            else result["memory_ratio"] <= TARGET_MEMORY_RATIO and result["time_ratio"] <= TARGET_TIME_RATIO
        )
    print(
        f"batch {args.batch} x {args.tokens} tokens x vocab {args.vocab:,}, hidden {args.hidden}, fp32, "
        f"{args.threads} threads; target: peak <= {TARGET_MEMORY_RATIO:.2f} x plain at <= "
        f"{TARGET_TIME_RATIO:.2f} x its time"
    )
    print_table(results)
    report = {
        "bench": "divergence",
        "shape": {"batch": args.batch, "tokens": args.tokens, "vocab": args.vocab, "hidden": args.hidden},
        "dtype": "float32",
        "threads": args.threads,
        "repeats": args.repeats,
        "target": {"memory_ratio_max": TARGET_MEMORY_RATIO, "time_ratio_max": TARGET_TIME_RATIO},
        "agreement_max_abs_diff": agreement,
        "results": results,
        "wall_s": time.perf_counter() - started,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_after": os.getloadavg(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "method": "each (variant, mode) in a fresh subprocess; peak = VmHWM (reset via "
        "/proc/self/clear_refs just before the call) - VmRSS before the call, i.e. the resident-set "
        "high water of the loss computation itself (torch's CPU allocator returns large blocks to "
        "the OS); inputs = both models' final hidden states and output embeddings; seconds = min "
        "over repeats; time = process CPU time (user + system, so page faults count), the ratio's "
        "basis, because the machine is shared and wall time moved 2x between identical runs; wall "
        "time is reported too; forward under no_grad, train = forward with grad + backward.",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
