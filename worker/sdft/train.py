"""The training loop: SDFT (or SFT) on a list of demonstrations, read top to bottom.

    prepare model (LoRA or full) -> build prompts, check lengths
    -> estimate the memory (memory.py): refuse what cannot fit, warn about what may not
    -> teachers, AdamW
    -> resume from the newest verified step checkpoint in work_dir
    -> for each step: reseed, batch, forward/backward (steps.py), clip, AdamW, EMA teacher (both
       skipped when the loss or gradient is not finite),
       report metrics / traces, write a step checkpoint when due, stop when the sink says so.

The trained weights stay in `loaded.model`; writing the final checkpoint is the caller's choice.
To resume, pass the same starting model again (the frozen and EMA teachers are copied from it):
the student's trained weights, the EMA teacher and AdamW's state come from the step checkpoint.
A step checkpoint is never written for the last step: the caller's final checkpoint is that.
Randomness is reseeded from (seed, step) at the start of every step, so a resumed run samples the
same rollouts as an uninterrupted one (deterministic on CPU).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.distributed.optim import ZeroRedundancyOptimizer

from worker.sdft.config import AUTO_SETTINGS, ConfigError, TrainConfig, resolve_auto_settings
from worker.sdft.data import DataError, Example, examples_hash
from worker.sdft.general_prompts import builtin_general_prompts
from worker.sdft.memory import MemoryEstimate, check_fits, estimate_training_memory, free_bytes, size
from worker.sdft.models import LoadedModel, set_activation_checkpointing
from worker.sdft.monitors import Monitors, MonitorStop, report_warnings
from worker.sdft.parallel import DataParallel
from worker.sdft.prompts import PromptPair, build_general_pair, build_prompt_pair, demonstration_ids
from worker.sdft.replay import ReplaySet, build_replay_pairs, pick_replay, replay_examples, replay_per_step
from worker.sdft.rollout import RolloutEngine, TransformersRolloutEngine
from worker.sdft.sink import Sink
from worker.sdft.step_state import load_latest_step_state, save_step_state
from worker.sdft.steps import Totals, sdft_step, sft_step
from worker.sdft.teacher import Teachers, trainable_names

log = logging.getLogger(__name__)

NONFINITE_STOP_AFTER = 3  # skipped updates in a row before the run stops: the weights will not recover


@dataclass
class TrainResult:
    steps_done: int  # the last completed step (counting steps done before a resume)
    total_steps: int
    stopped: bool  # the sink asked to stop before the run finished
    resumed_from: int = 0
    final_metrics: dict[str, float] = field(default_factory=dict)
    skipped_steps: int = 0  # updates not applied because the loss or the gradient was not finite
    # settings the config left auto, as decided for the method and the model (general_mix, lr)
    resolved: dict[str, Any] = field(default_factory=dict)
    # memory.MemoryEstimate by part, in GiB, as worked out before the first step
    memory_estimate_gib: dict[str, float] = field(default_factory=dict)

    def config_as_run(self, config: TrainConfig) -> dict[str, Any]:
        """What a manifest records: the run's `config` with the settings decided for the model."""
        return {**config.to_dict(), **self.resolved}


def training_attention(device_type: str) -> contextlib.AbstractContextManager[Any]:
    """The attention kernels training may use: on CUDA every SDPA backend but cuDNN's. Its backward
    returns NaN query gradients on H100/H200 when a mask is passed (our padded batches) and the length
    is 64 mod 128 (pytorch/pytorch#196678, torch >= 2.11); Qwen2.5's attention-sink heads hit it. On an
    H200 it made 2 of 4 bf16 SFT runs of Qwen2.5-0.5B NaN by step 9. Flash and memory-efficient
    attention take over at the same speed."""
    if device_type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def nonfinite_warning(step: int, metrics: dict[str, float], *, streak: int) -> dict[str, Any]:
    """The warning for a step whose update was skipped; at NONFINITE_STOP_AFTER in a row it stops the run."""
    message = (
        f"step {step}: loss {metrics['loss']:.4g}, gradient norm {metrics['grad_norm']:.4g}; "
        "the update was not applied"
    )
    if streak >= NONFINITE_STOP_AFTER:
        message += (
            f" ({streak} steps in a row: stopped, the weights are those before step {step - streak + 1}; "
            "try float32 or a lower learning rate)"
        )
    return {"monitor": "non-finite", "message": message}


def total_steps(config: TrainConfig, num_examples: int) -> int:
    if config.steps is not None:
        return config.steps
    epochs = config.epochs if config.epochs is not None else 1.0
    return max(1, math.ceil(epochs * num_examples / demonstrations_per_step(config)))


def demonstrations_per_step(config: TrainConfig) -> int:
    return config.batch_size - general_per_step(config) - replay_per_step(config)


def general_per_step(config: TrainConfig) -> int:
    """General prompts in each batch; for an auto general_mix not yet decided (the model unknown), the
    most it can be, so an epochs-based step count made before loading is never short."""
    return round(config.batch_size * config.general_mix_at_most) if config.method == "sdft" else 0


def lr_at(step: int, *, config: TrainConfig, total: int) -> float:
    """Linear warm-up over warmup_ratio of the run, then cosine decay towards 0 (step is 1-based).

    As in transformers' cosine schedule, but the first step already gets lr / warmup rather than 0.
    `config` has its auto settings decided (resolve_auto_settings), as in train().
    """
    warmup = math.ceil(config.warmup_ratio * total)
    done = step - 1
    if done < warmup:
        return config.decided_lr * (done + 1) / warmup
    progress = (done - warmup) / max(total - warmup, 1)
    return config.decided_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7_919) % (2**63 - 1)


def batch_indices(step: int, *, config: TrainConfig, num_examples: int) -> list[int]:
    """Which demonstrations step `step` trains on: consecutive slices of a per-epoch shuffle."""
    per_step = demonstrations_per_step(config)
    start = (step - 1) * per_step
    indices: list[int] = []
    for position in range(start, start + per_step):
        epoch, offset = divmod(position, num_examples)
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        indices.append(int(torch.randperm(num_examples, generator=generator)[offset]))
    return indices


def prepare_model(loaded: LoadedModel, config: TrainConfig) -> None:
    """Put LoRA adapters on (or keep training a LoRA checkpoint's adapter), or make every weight trainable."""
    if config.lora_rank is not None:
        if not loaded.is_lora:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=config.lora_rank,
                lora_alpha=config.lora_scale_alpha,
                lora_dropout=config.lora_dropout,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            )
            loaded.model = get_peft_model(loaded.model, lora)
        for name, parameter in loaded.model.named_parameters():
            parameter.requires_grad_("lora_" in name)
    else:
        if loaded.is_lora:  # full fine-tuning from a LoRA checkpoint: fold the adapter in first
            loaded.model = loaded.model.merge_and_unload()
        for parameter in loaded.model.parameters():
            parameter.requires_grad_(True)
    if config.gradient_checkpointing:
        set_activation_checkpointing(loaded.model, enabled=True)


def build_pairs(loaded: LoadedModel, examples: list[Example], config: TrainConfig) -> list[PromptPair]:
    """Tokenize every prompt once; a prompt that cannot fit is an error naming its line, never cut."""
    pairs = []
    limit = loaded.max_positions
    for index, example in enumerate(examples):
        line = example.line if example.line is not None else index + 1
        pair = build_prompt_pair(loaded.tokenizer, example, template=config.teacher_template)
        longest_prompt = max(len(pair.student_ids), len(pair.teacher_ids))
        if longest_prompt > config.max_prompt_tokens:
            field_name = "demonstration" if len(pair.student_ids) <= config.max_prompt_tokens else "prompt"
            raise DataError(
                line,
                field_name,
                f"the prompt is {longest_prompt} tokens, more than max_prompt_tokens={config.max_prompt_tokens}",
            )
        if config.method == "sdft":
            needed = len(pair.teacher_ids) + config.max_new_tokens
        else:
            needed = len(pair.student_ids) + len(
                demonstration_ids(loaded.tokenizer, example.demonstration, eos_token_id=loaded.eos_token_id)
            )
        if limit is not None and needed > limit:
            raise DataError(
                line,
                "demonstration",
                f"needs {needed} tokens with the completion, more than the model's context of {limit}",
            )
        pairs.append(pair)
    return pairs


def build_optimizer(
    trainable: list[torch.nn.Parameter], *, config: TrainConfig, parallel: DataParallel | None
) -> torch.optim.Optimizer:
    """AdamW; data parallel over several processes, each keeps only its share of AdamW's state.

    That share (ZeRO stage 1, torch's ZeroRedundancyOptimizer) is what lets full fine-tuning fit:
    AdamW's two moments are 8 of the 16 bytes per parameter that weights, gradients and moments
    take in fp32; over N processes they take 8 / N. Each process updates its share of the weights
    and sends them to the others, so the update is the one a single AdamW would make.
    """
    options: dict[str, Any] = {
        "lr": config.decided_lr,
        "betas": (config.adam_beta1, config.adam_beta2),
        "weight_decay": config.weight_decay,
        # One fused kernel instead of a loop over parameters: 10x less optimizer time on CPU
        # (0.09 s against 0.9 s per step for SmolLM2-135M's weights), the same update.
        "fused": all(parameter.device.type in ("cpu", "cuda") for parameter in trainable) or None,
    }
    if parallel is not None and parallel.sharded:
        # Sharded and whole parameters cannot share one fused or foreach kernel: a loop over
        # parameters, each process updating only its shards (FSDP keeps AdamW's state split too).
        return torch.optim.AdamW(trainable, **{**options, "fused": False, "foreach": False})
    if parallel is not None and parallel.world_size > 1:
        return ZeroRedundancyOptimizer(trainable, optimizer_class=torch.optim.AdamW, **options)
    return torch.optim.AdamW(trainable, **options)


def build_rollout_engine(loaded: LoadedModel, config: TrainConfig) -> RolloutEngine:
    """The engine the config names; vLLM's absence is a ConfigError naming `rollout_engine` and why."""
    if config.rollout_engine == "transformers" or config.method != "sdft":
        return TransformersRolloutEngine()
    from worker.sdft.rollout_vllm import VLLMRolloutEngine, VLLMUnavailable

    options: dict[str, Any] = {
        "sync_every": config.vllm_sync_every,
        "gpu_memory_utilization": config.vllm_gpu_memory_utilization,
        "seed": config.seed,
    }
    if config.dtype == "bfloat16":  # bf16 autocast over fp32 weights: vLLM samples in bf16
        options["dtype"] = "bfloat16"
    try:
        return VLLMRolloutEngine.for_model(loaded, **options)
    except VLLMUnavailable as error:
        raise ConfigError("rollout_engine", f"vllm cannot run on this worker: {error}") from error


def _metrics(
    totals: Totals, *, config: TrainConfig, lr: float, grad_norm: float, seconds: float
) -> dict[str, float]:
    sequences = totals.get("sequences")
    loss_tokens = totals.get("loss_tokens") + totals.get("general_loss_tokens")
    metrics = {
        "loss": totals.get("loss"),
        "student_logprob": totals.get("student_logprob_sum") / loss_tokens if loss_tokens else 0.0,
        "entropy": totals.get("entropy_sum") / loss_tokens if loss_tokens else 0.0,
        "completion_tokens": totals.get("completion_tokens") / sequences if sequences else 0.0,
        "loss_tokens": loss_tokens,
        "tokens_per_s": totals.get("completion_tokens") / seconds if seconds else 0.0,
        "rollout_s": totals.get("rollout_s"),
        "teacher_s": totals.get("teacher_s"),
        "student_s": totals.get("student_s"),
        "step_s": seconds,
        "lr": lr,
        "grad_norm": grad_norm,
    }
    if config.method == "sdft":
        metrics["divergence"] = totals.ratio("divergence_sum", "loss_tokens")
        metrics["teacher_logprob"] = totals.get("teacher_logprob_sum") / loss_tokens if loss_tokens else 0.0
        metrics["eos_fraction"] = totals.get("ended") / sequences if sequences else 0.0
        if totals.get("importance_sequences"):
            metrics["importance_weight"] = totals.ratio("importance_weight_sum", "importance_sequences")
            metrics["importance_capped"] = totals.ratio("importance_capped", "importance_sequences")
        if totals.get("general_loss_tokens"):
            metrics["general_divergence"] = totals.ratio("general_divergence_sum", "general_loss_tokens")
    else:
        metrics["nll"] = -metrics["student_logprob"]
    return metrics


def estimate_memory(
    loaded: LoadedModel,
    config: TrainConfig,
    pairs: list[PromptPair],
    *,
    general: bool,
    parallel: DataParallel | None,
    autocast: Callable[[], Any] = contextlib.nullcontext,
    start_given: bool = False,
) -> MemoryEstimate:
    """memory.estimate_training_memory for this run's longest sequence: a rollout of max_new_tokens
    after the longest prompt (SDFT) or the longest prompt and demonstration (SFT)."""
    if config.method == "sdft":
        completion = config.max_new_tokens
        longest = max(len(pair.student_ids) for pair in pairs) + completion
    else:
        lengths = [
            (
                len(pair.student_ids),
                len(
                    demonstration_ids(loaded.tokenizer, pair.demonstration, eos_token_id=loaded.eos_token_id)
                ),
            )
            for pair in pairs
        ]
        completion = max(target for _, target in lengths)
        longest = max(prompt + target for prompt, target in lengths)
    return estimate_training_memory(
        loaded.model,
        config,
        sequence_tokens=longest,
        completion_tokens=completion,
        general=general,
        device=loaded.device,
        autocast_factory=autocast,
        world_size=parallel.world_size if parallel is not None else 1,
        sharded=parallel is not None and parallel.sharded,
        start_given=start_given,
    )


def train(
    *,
    loaded: LoadedModel,
    examples: list[Example],
    config: TrainConfig,
    sink: Sink,
    work_dir: Path,
    resume: bool = True,
    general_prompts: list[list[dict[str, str]]] | None = None,
    rollout_engine: RolloutEngine | None = None,
    replay: list[ReplaySet] | None = None,
    parallel: DataParallel | None = None,
    start_copy: Any = None,
) -> TrainResult:
    """Train `loaded.model` in place; see the module docstring for the order of things.

    With `parallel`, this is one process of a data parallel run (parallel.py): it trains on its share
    of every step; only process 0 should be given a sink that reports, and only it writes step
    checkpoints.

    start_copy: a model holding the starting weights that the caller keeps anyway (the benchmark's
    base model): SDFT's frozen teacher and general-prompt reference use it instead of a copy of their
    own (1.84 GiB for Qwen2.5-0.5B in float32). Full fine-tuning without sharding only:
    LoRA's copies are adapters already, and sharding would split the caller's model.
    """
    if not examples:
        raise DataError(None, "demonstrations", "no demonstrations to train on")
    resolved_config = resolve_auto_settings(config, sum(p.numel() for p in loaded.model.parameters()))
    resolved = {
        name: getattr(resolved_config, name) for name in AUTO_SETTINGS if getattr(config, name) is None
    }
    config = resolved_config
    if general_per_step(config) and general_prompts is None:
        general_prompts = builtin_general_prompts()  # what a job from the app or the CLI mixes in
    if general_per_step(config) and not general_prompts:
        raise ConfigError("general_mix", "is set but the general prompts given are empty")
    if start_copy is not None and (
        config.lora_rank is not None or (parallel is not None and parallel.sharded)
    ):
        raise ValueError("start_copy is for full fine-tuning without sharded weights")
    work_dir = Path(work_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # LoRA's initial A matrices are random: same seed, same run
        prepare_model(loaded, config)
    pairs = build_pairs(loaded, examples, config)
    general_pairs = [build_general_pair(loaded.tokenizer, messages) for messages in general_prompts or []]
    for index, pair in enumerate(general_pairs):
        if len(pair.student_ids) + config.max_new_tokens > (loaded.max_positions or 1 << 62):
            raise DataError(
                index + 1, "general_prompts", "does not fit the model's context with max_new_tokens"
            )
    replay_pairs = build_replay_pairs(loaded, replay or [], config)
    if replay_per_step(config) and not replay_pairs:
        raise ConfigError("replay_fraction", "is set but no earlier skill's demonstrations were given")
    data_hash = examples_hash(examples + replay_examples(replay or []) if replay_pairs else examples)
    total = total_steps(config, len(examples))
    if hasattr(sink, "total_steps"):  # a job's sink, told the total before loading: now it is exact
        sink.total_steps = total
    engine = rollout_engine or build_rollout_engine(loaded, config)
    use_bf16 = config.dtype == "bfloat16"
    device_type = loaded.device.type

    def autocast() -> Any:
        return (
            torch.autocast(device_type=device_type, dtype=torch.bfloat16)
            if use_bf16
            else contextlib.nullcontext()
        )

    # Refuse a run that cannot fit before copying teachers or making AdamW's state; warn if it may not.
    memory = estimate_memory(
        loaded,
        config,
        pairs + general_pairs + [pair for replay_set in replay_pairs for pair in replay_set],
        general=bool(general_pairs),
        parallel=parallel,
        autocast=autocast,
        start_given=start_copy is not None,
    )
    free = free_bytes(loaded.device)
    if free is not None and parallel is not None and loaded.device.type == "cpu":
        free //= parallel.world_size  # the processes share the host's memory
    memory_warning = check_fits(memory, free=free, config=config, device_type=loaded.device.type)
    log.info(
        "training needs %s; %s free",
        memory.describe(),
        "unknown" if free is None else size(free),
    )
    if memory_warning is not None:
        report_warnings(sink, 0, [{"monitor": "memory", "message": memory_warning, **memory.as_gib()}])

    student = loaded.model
    names = trainable_names(student)
    # Teachers are copied from the starting weights, before any resumed state is loaded.
    teachers = (
        Teachers(
            student,
            mode=config.teacher,
            ema_rate=config.ema_rate,
            need_reference=bool(general_pairs),
            start_copy=start_copy,
        )
        if config.method == "sdft"
        else None
    )
    sharded = parallel if parallel is not None and parallel.sharded else None  # weights split (FSDP)
    if sharded is not None:
        sharded.shard_model(student)
        if teachers is not None:
            teachers.shard(sharded)
        if isinstance(engine, TransformersRolloutEngine):
            # Every decoding step gathers weights from all processes: each keeps stepping until all are done.
            engine.generate_options["synced_gpus"] = True
    trainable = [parameter for parameter in student.parameters() if parameter.requires_grad]
    # Failure-mode monitors watch every rollout batch and the step metrics (see monitors.py).
    monitors = Monitors(
        config,
        tokenizer=loaded.tokenizer,
        teacher=teachers.teacher if teachers is not None and config.teacher != "frozen" else None,
        teacher_parameter_names=names,
        templates=[replay_set.template for replay_set in replay or []],
        demonstration_tokens=[
            len(demonstration_ids(loaded.tokenizer, example.demonstration, eos_token_id=loaded.eos_token_id))
            for example in examples
        ]
        if config.method == "sdft"
        else (),
    )
    engine = monitors.watch(engine)
    optimizer = build_optimizer(trainable, config=config, parallel=parallel)

    start = 0
    if resume:
        state = load_latest_step_state(work_dir, config=config, data_hash=data_hash)
        if state is not None:
            if sharded is not None:
                sharded.load_full_state(student, {name: state.student[name] for name in names})
                sharded.load_full_optimizer_state(student, optimizer, state.optimizer)
            else:
                with torch.no_grad():
                    parameters = dict(student.named_parameters())
                    for name in names:
                        parameters[name].copy_(state.student[name])
                optimizer.load_state_dict(state.optimizer)
            if teachers is not None:
                teachers.load_state_tensors(state.teacher)
            start = state.step

    result = TrainResult(
        steps_done=start,
        total_steps=total,
        stopped=False,
        resumed_from=start,
        resolved=resolved,
        memory_estimate_gib=memory.as_gib(),
    )
    nonfinite_streak = 0
    # leave the caller's random state as it was
    with torch.random.fork_rng(devices=[]), training_attention(device_type):
        for step in range(start + 1, total + 1):
            stop = sink.should_stop()
            if parallel is not None:
                stop = parallel.agree(stop)
            if stop:
                result.stopped = True
                break
            started = time.perf_counter()
            torch.manual_seed(step_seed(config.seed, step))
            lr = lr_at(step, config=config, total=total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_pairs = [pairs[i] for i in batch_indices(step, config=config, num_examples=len(pairs))]
            if general_pairs:
                picks = torch.randint(len(general_pairs), (general_per_step(config),)).tolist()
                step_pairs += [general_pairs[i] for i in picks]
            step_pairs += pick_replay(replay_pairs, replay_per_step(config))
            if parallel is not None:
                step_pairs = parallel.shard(step_pairs)
                torch.manual_seed(step_seed(config.seed, step) + parallel.rank)  # each its own rollouts

            optimizer.zero_grad(set_to_none=True)
            traces: list[dict[str, Any]] = []
            if teachers is not None:
                want_traces = (
                    bool(config.trace_every) and step % config.trace_every == 0 and config.trace_samples > 0
                )
                totals, traces = sdft_step(
                    loaded=loaded,
                    pairs=step_pairs,
                    teachers=teachers,
                    config=config,
                    engine=engine,
                    autocast=autocast(),
                    want_traces=want_traces,
                    lockstep=sharded,
                )
            else:
                totals = sft_step(loaded=loaded, pairs=step_pairs, config=config, autocast=autocast())
            if parallel is not None:
                parallel.average_gradients(trainable)
                totals = parallel.sum_totals(totals)

            optimizer_started = time.perf_counter()
            clip_to = config.max_grad_norm if config.max_grad_norm > 0 else float("inf")
            if sharded is not None:
                grad_norm = sharded.clip_gradients(trainable, clip_to)
            else:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, clip_to))
            # One inf/NaN gradient applied makes every weight NaN for good (seen on an H200 in bf16
            # SFT: the loss went NaN at step 8 of 20 and the run "finished"); skip such an update.
            # Gradients and losses are already averaged/summed over processes, so all of them agree.
            applied = math.isfinite(grad_norm) and math.isfinite(totals.get("loss"))
            if applied:
                optimizer.step()
                if teachers is not None:
                    teachers.after_optimizer_step()
                nonfinite_streak = 0
            else:
                nonfinite_streak += 1
                result.skipped_steps += 1
            optimizer.zero_grad(set_to_none=True)
            totals.add("student_s", time.perf_counter() - optimizer_started)

            metrics = _metrics(
                totals, config=config, lr=lr, grad_norm=grad_norm, seconds=time.perf_counter() - started
            )
            metrics["update_skipped"] = 0.0 if applied else 1.0
            checked = monitors.check(step, metrics)
            metrics.update(checked.metrics)
            warnings = list(checked.warnings)
            if not applied:
                warnings.append(nonfinite_warning(step, metrics, streak=nonfinite_streak))
            report_warnings(sink, step, warnings)  # before on_step: stored with this step
            sink.on_step(step, metrics)
            if traces:
                sink.on_traces(step, traces)
            result.steps_done, result.final_metrics = step, metrics
            stop_warning = monitors.stop_warning
            if nonfinite_streak >= NONFINITE_STOP_AFTER:
                stop_warning = warnings[-1]
            if parallel is not None:  # process 0's monitors decide, for every process
                if not parallel.agree(stop_warning is not None):
                    stop_warning = None
                elif stop_warning is None:
                    stop_warning = {"monitor": "process 0's", "message": "a monitor stopped the run"}
            if stop_warning is not None:
                raise MonitorStop(stop_warning)
            due = bool(config.checkpoint_every) and step % config.checkpoint_every == 0 and step < total
            if not due:
                continue
            if isinstance(optimizer, ZeroRedundancyOptimizer):
                optimizer.consolidate_state_dict(to=0)  # every process sends its share to process 0
            teacher_state = teachers.state_tensors() if teachers is not None else {}
            if sharded is not None:  # gathered by every process together; whole on process 0 only
                whole = sharded.full_state(student)
                student_state = {name: whole[name] for name in names if name in whole}
                optimizer_state = sharded.full_optimizer_state(student, optimizer)
            else:
                parameters = dict(student.named_parameters())
                student_state = {name: parameters[name].detach().contiguous() for name in names}
                optimizer_state = optimizer.state_dict() if parallel is None or parallel.is_main else {}
            if parallel is None or parallel.is_main:
                path = save_step_state(
                    work_dir,
                    step=step,
                    student=student_state,
                    teacher=teacher_state,
                    optimizer=optimizer_state,
                    config=config,
                    data_hash=data_hash,
                    metrics=metrics,
                )
                sink.on_step_checkpoint(step, path)
    if config.gradient_checkpointing:
        set_activation_checkpointing(student, enabled=False)
    student.eval()
    return result
