"""How much memory a training run's tensors take at their peak, worked out before any of it is taken.

A job that does not fit used to find out by being killed mid-step (Qwen2.5-0.5B full SDFT on a 23 GiB
CPU machine). train() now works the peak out once the model is prepared and the prompts are
tokenized, and:

- refuses to start, naming what to change, when the parts that certainly exist at the optimizer
  step (weights, teacher copies, gradients, AdamW's moments) do not fit in the memory free now
  (the GPU's; on CPU the host's, or a container's cgroup limit's where that is less);
- warns (a job warning, shown on the job page) when those parts fit but the estimate with
  activations does not.

The parts, in bytes:

- weights: the student as loaded (tied weights counted once);
- teacher_copies: the EMA or frozen teacher and, with general prompts, the frozen reference
  (teacher.py): a whole model each in full fine-tuning, an adapter each with LoRA (they share the
  frozen base weights);
- gradients and optimizer: one gradient and AdamW's two moments per trainable weight, in its dtype;
- activations: what autograd saves for one micro-batch's backward, measured on the model itself: a
  short probe forward under `saved_tensors_hooks` counts the bytes saved per sequence at two lengths
  (linear and quadratic terms, for attention that keeps its probabilities), scaled to the micro-
  batch's sequences and longest prompt plus max_new_tokens; with gradient checkpointing one layer's
  recomputed activations are added;
- head_chunk: the output head's chunk of logits with their log-softmax, for student and teacher;
- head_gradient: the output head's weight gradient, which the fused loss (fused_head.py) forms in
  the forward pass and holds until the backward hands it over, beside the activations (0 when the
  head is frozen, as with LoRA, or not a plain linear layer, whose loss is not fused).

Peak: weights + copies + optimizer + the larger of the gradients and the activations, because the
backward frees activations while gradients fill in (a profiled Qwen2.5-0.5B step, its conversion
with the head untied: 14.1 GiB of live tensors at the optimizer step, this sum 14.05). With
grad_accum > 1 a later micro-batch's backward runs with every gradient already held: the two add
up. The head's gradient counts among the gradients at the optimizer step and with the activations
before it (0.51 GiB for Qwen2.5-0.5B, 0.11 for SmolLM2-135M).

The estimate counts tensors. A CPU process needs more: in bench/memory.py (8 cases with glibc's
default settings, SmolLM2-135M on tool use and Qwen2.5-0.5B on science) the peak resident set grew
by 1.21-2.06x the estimated peak (median 1.40). Part is memory glibc kept after it was freed: with
allocations from 128 KiB up mapped apart, LoRA at 135M needed 1.33x instead of 2.06x, full SDFT at
0.5B 1.17x instead of 1.21x; the rest are temporaries no estimate part names.
The CPU warning therefore compares CPU_RESIDENT_FACTOR times the peak with the free memory; the
refusal stays on the counted tensors alone, so it never turns away a run that would fit.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worker.sdft.batching import final_hidden_states
from worker.sdft.config import ConfigError
from worker.sdft.fused_head import head_weights
from worker.sdft.models import set_activation_checkpointing
from worker.sdft.teacher import Teachers

GIB = 2**30
CGROUP = Path("/sys/fs/cgroup")  # cgroup v2, as a container sees its own
PROBE_LENGTHS = (32, 64)  # tokens per probe sequence: two lengths separate linear from quadratic
CPU_RESIDENT_FACTOR = 1.4  # the median of bench/memory.py's needed / estimated peak on CPU (default glibc)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes by part (see the module docstring); `peak` is the tensors' high-water mark."""

    weights: int
    teacher_copies: int
    gradients: int
    optimizer: int
    activations: int
    head_chunk: int
    head_gradient: int
    accumulates: bool  # grad_accum > 1: gradients and a micro-batch's activations are held together
    sequences: int  # sequences in the largest micro-batch
    sequence_tokens: int  # the longest prompt and completion

    @property
    def certain(self) -> int:
        """What the optimizer step holds whatever the activations: weights, copies, gradients, moments."""
        return self.weights + self.teacher_copies + self.gradients + self.optimizer

    @property
    def peak(self) -> int:
        transient = self.activations + self.head_chunk + self.head_gradient
        backward = self.gradients + transient if self.accumulates else max(self.gradients, transient)
        return self.weights + self.teacher_copies + self.optimizer + backward

    def as_gib(self) -> dict[str, float]:
        parts = (
            "weights",
            "teacher_copies",
            "gradients",
            "optimizer",
            "activations",
            "head_chunk",
            "head_gradient",
        )
        gib = {name: round(getattr(self, name) / GIB, 4) for name in parts}
        return {**gib, "certain": round(self.certain / GIB, 4), "peak": round(self.peak / GIB, 4)}

    def describe(self) -> str:
        return (
            f"about {size(self.peak)} of tensors at its peak: weights {size(self.weights)}, "
            f"teacher copies {size(self.teacher_copies)}, AdamW {size(self.optimizer)}, "
            f"gradients {size(self.gradients)}, activations {size(self.activations)} "
            f"({self.sequences} sequences of up to {self.sequence_tokens} tokens per micro-batch), "
            f"logit chunk {size(self.head_chunk)}, head gradient {size(self.head_gradient)}"
        )


def size(count: int) -> str:
    """Bytes for people: GiB with one decimal from 1 GiB, MiB below."""
    return f"{count / GIB:.1f} GiB" if count >= GIB else f"{count / 2**20:.0f} MiB"


def distinct_bytes(parameters: Any) -> int:
    """Bytes of the given parameters, each storage counted once (tied embeddings and head)."""
    storages: dict[int, int] = {}
    for parameter in parameters:
        storages[parameter.untyped_storage().data_ptr()] = parameter.numel() * parameter.element_size()
    return sum(storages.values())


def teacher_copy_count(config: Any, *, general: bool, start_given: bool = False) -> int:
    """Copies teacher.Teachers makes for this config (none for SFT)."""
    if config.method != "sdft":
        return 0
    return Teachers.copy_count(config.teacher, need_reference=general, start_given=start_given)


def saved_bytes_per_sequence(model: Any, *, length: int, device: torch.device, autocast: Any) -> int:
    """Bytes autograd saves for backward in one training forward of one sequence of `length` tokens.

    Weights autograd keeps a reference to are not counted (they exist anyway), nor is a storage twice.
    """
    weights = {parameter.untyped_storage().data_ptr() for parameter in model.parameters()}
    saved: dict[int, int] = {}
    # Every saved tensor is held here until the probe ends, so that no freed storage's address is
    # reused and counted once for two. The graph itself gets an index, never the tensor: a pack hook
    # that returns the tensor makes a cycle through autograd's C++ nodes (an output saved by its own
    # node) that Python's gc cannot see, and it kept the probe's graph, and through its leaf nodes
    # every parameter of the model, alive after the model was dropped (a worker process grew by one
    # trained model per run).
    kept: list[torch.Tensor] = []

    def pack(tensor: torch.Tensor) -> int:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        kept.append(tensor)
        return len(kept) - 1

    vocab = model.get_input_embeddings().weight.shape[0]
    input_ids = (torch.arange(length, device=device) * 7919 % vocab).unsqueeze(0)
    attention_mask = torch.ones_like(input_ids)  # as the padded training batches pass one
    was_training = model.training
    model.train()
    try:
        with (
            torch.random.fork_rng(devices=[]),
            torch.autograd.graph.saved_tensors_hooks(pack, _never_unpacked),
        ):
            with autocast:
                hidden = final_hidden_states(model, input_ids, attention_mask)
            del hidden
    finally:
        kept.clear()
        model.train(was_training)
    return sum(saved.values())


def _never_unpacked(index: int) -> torch.Tensor:
    raise RuntimeError("the memory probe's forward is measured, never backpropagated")


def activation_bytes(
    model: Any,
    *,
    sequences: int,
    tokens: int,
    device: torch.device,
    autocast_factory: Callable[[], Any],
    checkpointing: bool,
) -> int:
    """One micro-batch's saved activations, from two probe lengths: bytes(L) = a * L + b * L^2 per sequence."""

    def per_sequence(length: int) -> float:
        return float(
            saved_bytes_per_sequence(model, length=length, device=device, autocast=autocast_factory())
        )

    def extrapolate() -> float:
        short, long = PROBE_LENGTHS
        at_short, at_long = per_sequence(short), per_sequence(long)
        quadratic = max(0.0, (at_long / long - at_short / short) / (long - short))
        linear = max(0.0, at_short / short - quadratic * short)
        return linear * tokens + quadratic * tokens**2

    total = extrapolate()
    if checkpointing:  # the backward recomputes one layer at a time with everything it saves
        set_activation_checkpointing(model, enabled=False)
        try:
            whole = extrapolate()
        finally:
            set_activation_checkpointing(model, enabled=True)
        layers = max(1, len(getattr(model.get_decoder(), "layers", ())))
        total += whole / layers
    return int(math.ceil(total * sequences))


def estimate_training_memory(
    model: Any,
    config: Any,
    *,
    sequence_tokens: int,
    completion_tokens: int,
    general: bool,
    device: torch.device,
    autocast_factory: Callable[[], Any] = contextlib.nullcontext,
    world_size: int = 1,
    sharded: bool = False,
    start_given: bool = False,
) -> MemoryEstimate:
    """The estimate for training `model` (prepared: its trainable weights set) with `config`.

    sequence_tokens: the longest sequence the student trains on (prompt and completion);
    completion_tokens: the most tokens of one sequence the loss covers (max_new_tokens for SDFT's
    rollouts, the longest demonstration for SFT).

    autocast_factory: the training's autocast context (bf16 saves bf16 activations), fresh per call.
    Data parallel: each process keeps 1 / world_size of AdamW's moments; sharded, also of the
    weights, copies and gradients (the embeddings stay whole, so that part is slightly low).
    start_given: the caller holds the copy of the start the teachers need (Teachers' start_copy).
    """
    parameters = list(model.parameters())
    trainable = [parameter for parameter in parameters if parameter.requires_grad]
    weights = distinct_bytes(parameters)
    trainable_bytes = distinct_bytes(trainable)
    per_copy = trainable_bytes if config.lora_rank is not None else weights
    copies = teacher_copy_count(config, general=general, start_given=start_given) * per_copy
    # AdamW keeps exp_avg and exp_avg_sq like each weight; gradients are one more of each.
    gradients, optimizer = trainable_bytes, 2 * trainable_bytes
    optimizer //= world_size
    if sharded:
        weights, copies, gradients = weights // world_size, copies // world_size, gradients // world_size

    sequences_per_step = config.batch_size * (config.n_rollouts if config.method == "sdft" else 1)
    sequences = math.ceil(math.ceil(sequences_per_step / world_size) / config.grad_accum)
    activations = activation_bytes(
        model,
        sequences=sequences,
        tokens=sequence_tokens,
        device=device,
        autocast_factory=autocast_factory,
        checkpointing=config.gradient_checkpointing,
    )
    head = model.get_output_embeddings()
    chunk = min(config.loss_chunk_size or math.inf, sequences * completion_tokens)
    # float32 logits and log-softmax of the student, with its gradient; the teacher's log-softmax.
    logit_tensors = 4 if config.method == "sdft" else 3
    head_chunk = int(chunk * head.weight.shape[0] * 4 * logit_tensors)
    fused = head_weights(model) is not None
    head_gradient = distinct_bytes(p for p in head.parameters() if p.requires_grad) if fused else 0
    return MemoryEstimate(
        weights=weights,
        teacher_copies=copies,
        gradients=gradients,
        optimizer=optimizer,
        activations=activations,
        head_chunk=head_chunk,
        head_gradient=head_gradient,  # the head stays whole on every process, sharded or not
        accumulates=config.grad_accum > 1,
        sequences=sequences,
        sequence_tokens=sequence_tokens,
    )


def release_freed_memory() -> bool:
    """Give the system back what the C allocator kept of this process's freed memory (glibc's
    malloc_trim); False where there is no such call (musl, macOS).

    glibc keeps freed blocks for reuse and the kernel counts them as used: a process that had trained
    SmolLM2-135M for 2 SDFT steps still held 7.3 GiB with its model freed, 1.1 GiB after the trim
    (40 ms). A worker training job after job would read those gigabytes as taken.
    """
    gc.collect()  # tensors held only by reference cycles go first
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def free_bytes(device: torch.device, *, cgroup: Path = CGROUP) -> int | None:
    """Memory free for new tensors now: the CUDA device's free memory; on CPU the host's MemAvailable,
    or less where this process's cgroup (a container's memory limit, cgroup v2) leaves less, after
    handing back what this process freed but the allocator kept (release_freed_memory)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    release_freed_memory()
    host = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                host = int(line.split()[1]) * 1024
    limited = cgroup_free_bytes(cgroup)
    candidates = [value for value in (host, limited) if value is not None]
    return min(candidates) if candidates else None


def cgroup_free_bytes(cgroup: Path) -> int | None:
    """memory.max less what the cgroup uses, not counting file cache the kernel can drop (inactive
    files); None without a limit. The OOM killer acts on this limit, not on the host's memory."""
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((cgroup / "memory.current").read_text())
        stat = dict(
            line.split() for line in (cgroup / "memory.stat").read_text().splitlines() if line.strip()
        )
        return int(limit) - used + int(stat.get("inactive_file", 0))
    except (OSError, ValueError):
        return None


def levers(config: Any, *, certain_part: bool) -> str:
    """What lowers the estimate for this config, most effective first; certain_part: only what lowers
    the weights, copies, gradients and AdamW (activation settings do not)."""
    options = []
    if config.lora_rank is None:
        options.append("lora_rank (trains an adapter: no whole teacher copies, gradients or AdamW moments)")
    if config.method == "sdft" and config.teacher == "ema" and (config.general_mix or 0) > 0:
        options.append(
            "general_mix 0, or teacher frozen (one frozen copy instead of an EMA teacher and a reference)"
        )
    if config.lora_rank is None and config.num_gpus == 1:
        options.append("num_gpus > 1 with shard_weights (each GPU holds a share)")
    if not certain_part:
        if not config.gradient_checkpointing:
            options.append("gradient_checkpointing")
        options.append("grad_accum (smaller micro-batches)")
        if config.dtype == "float32":
            options.append("dtype bfloat16 (autocast: bfloat16 activations over float32 weights)")
    return "; ".join(options) or "a smaller model or a machine with more memory"


def check_fits(estimate: MemoryEstimate, *, free: int | None, config: Any, device_type: str) -> str | None:
    """Raise ConfigError when the certain part cannot fit; a warning message when the peak may not.

    `free` is measured with the student already loaded, so its weights are not needed again.
    """
    if free is None:
        return None
    where = f"this {device_type} device"
    still_needed_certain = estimate.certain - estimate.weights
    still_needed_peak = estimate.peak - estimate.weights
    if still_needed_certain > free:
        raise ConfigError(
            "lora_rank" if config.lora_rank is None else "base_model",
            f"this run needs {estimate.describe()}; {size(still_needed_certain)} of it "
            f"(teacher copies, gradients and AdamW) beyond the loaded model, but {where} has "
            f"{size(free)} free. To fit: {levers(config, certain_part=True)}",
        )
    on_cpu = device_type == "cpu"
    expected = int(still_needed_peak * (CPU_RESIDENT_FACTOR if on_cpu else 1))
    if expected > free:
        needs = (
            f"{size(still_needed_peak)} of tensors beyond the loaded model, about {size(expected)} of "
            f"process memory on CPU (where it took {CPU_RESIDENT_FACTOR}x the tensors in our benchmark)"
            if on_cpu
            else f"{size(still_needed_peak)} beyond the loaded model"
        )
        allocator = ""
        if on_cpu and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            allocator = (
                "; or start the worker with MALLOC_MMAP_THRESHOLD_=4194304, so that glibc hands freed "
                "blocks from 4 MiB up back at once (a 135M LoRA run: 5.4 GiB instead of 7.5, ~15% slower)"
            )
        return (
            f"This run may run out of memory: it needs {estimate.describe()}: {needs}, and {where} has "
            f"{size(free)} free. To lower it: {levers(config, certain_part=False)}{allocator}"
        )
    return None
