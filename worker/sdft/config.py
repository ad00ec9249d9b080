"""The configuration of one training run: a frozen dataclass, validated when built.

Imports no torch, so the backend's tasks and the CLI can validate a job cheaply. Defaults follow the
SDFT paper's published setup (DESIGN.md): forward KL(teacher || student) over the full vocabulary,
an EMA teacher updated with rate 0.01 after every optimizer step, one rollout per prompt at
temperature 1.0, AdamW at lr 2e-5 with 10% warm-up then cosine decay, gradient clipping at 1.0.

Two defaults differ from the paper, chosen by the learning benchmark (bench/results/learning.md):
the teacher template asks for an answer in the demonstration's format, and no completion tokens are
skipped. The paper's template made the teacher narrate instead of answer in every teacher check at
135M and 0.5B (0 % on dates at both, against 94 % and 100 % with this one), and the first tokens
are where a short answer's format is decided (a run with the paper's template still skips its 3
unless told otherwise). A third decides itself by the model's size: from 0.3B parameters a quarter
of each batch is general prompts kept close to the starting model (`general_mix`, auto). At 0.5B it
kept twice the general probe on dates (68 against 33 %) at the same or better skill, and ended the
sequential run with 58 % of the probe against 0 %; at 135M it cost 10 points of the skill.
`PAPER_SETTINGS` restores the paper's three. SFT, the baseline, decides its lr by the model's size
unless told (`lr`, auto): 1e-5 from 0.3B parameters, which learned as much as 2e-5 at 0.5B and kept
more of the general probe; 2e-5 below, which at 135M learned about as much in single skills and
more of three skills in a row (AUTO_LR).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Method = Literal["sdft", "sft"]
TeacherMode = Literal["ema", "frozen", "live"]
Divergence = Literal["forward_kl", "reverse_kl", "jsd"]
Dtype = Literal["float32", "bfloat16"]
RolloutBackend = Literal["transformers", "vllm"]

# The paper's teacher prompt (user turn); the student sees only {prompt}. "of your own" is there to
# stop the teacher from copying the demonstration verbatim.
PAPER_TEACHER_TEMPLATE = (
    "{prompt}\n\n"
    "This is an example for a response to the question:\n"
    "{demonstration}\n\n"
    "Now answer with a response of your own, including the thinking process."
)
# The default: the teacher restates the demonstrated answer in its form. SmolLM2-135M as teacher on
# dates' train rows: 15/16 in the demonstrated format with this, 0/16 with the paper's (it echoes
# "This is an example for a response..."); SDFT on dates 67 +- 4 % against the paper's 9 +- 1 %.
FORMAT_TEACHER_TEMPLATE = (
    "{prompt}\n\nAnswer in exactly the same format as this example answer:\n{demonstration}"
)
DEFAULT_TEACHER_TEMPLATE = FORMAT_TEACHER_TEMPLATE  # what a skill without a template of its own gets
TEACHER_TEMPLATE_PRESETS = {"format": FORMAT_TEACHER_TEMPLATE, "paper": PAPER_TEACHER_TEMPLATE}
# The paper's published setup where the defaults differ from it; TrainConfig(**PAPER_SETTINGS) is the paper.
PAPER_SETTINGS: dict[str, Any] = {
    "teacher_template": PAPER_TEACHER_TEMPLATE,
    "skip_first_tokens": 3,
    "general_mix": 0.0,
}
# The auto settings below were measured at two sizes only, SmolLM2-135M and Qwen2.5-0.5B: a model from
# AUTO_LARGE_MODEL_PARAMETERS up gets what did best at 0.5B, a smaller one what did best at 135M. The
# threshold lies between the two; larger models are assumed to be like 0.5B.
AUTO_LARGE_MODEL_PARAMETERS = 300_000_000

# general_mix None (the default) decides by the model's size, when the model is loaded: AUTO_GENERAL_MIX
# for a large model (better at 0.5B), else none (worse at 135M).
AUTO_GENERAL_MIX = 0.25

# lr None (the default) decides by the method and, for SFT, the model's size (bench/results/learning.md).
# SDFT: the paper's 2e-5. SFT on a large model: 1e-5, which at 0.5B learned as much as 2e-5 (dates 99,
# science 24, tool use 56 against 43 %) and kept more of the general probe (59 against 38 % after
# dates, 75 against 70 % after tool use, 86 against 2 % after three skills in a row); 5e-6 kept more
# after one skill but learned far less at 135M. SFT on a small model: 2e-5, which at 135M learned
# about as much as 1e-5 in single skills (dates 87 / 91, science 25 / 27 %) and more of three skills
# in a row at 12 steps each (science 25 against 9 %, probe 60 against 53 %, both seeds alike).
AUTO_LR: dict[str, float] = {"sdft": 2e-5, "sft": 1e-5}
AUTO_LR_SMALL_MODEL: dict[str, float] = {"sdft": 2e-5, "sft": 2e-5}
# The settings a config may leave to be decided when the model is loaded (resolve_auto_settings).
AUTO_SETTINGS = ("general_mix", "lr")


def resolve_auto_settings(config: TrainConfig, num_parameters: int) -> TrainConfig:
    """`config` with its auto settings decided for the method and a model of `num_parameters`.

    general_mix by the model's size (SFT mixes in none), lr by the method and the model's size.
    """
    large = num_parameters >= AUTO_LARGE_MODEL_PARAMETERS
    if config.general_mix is None:
        config = config.replace(general_mix=AUTO_GENERAL_MIX if large and config.method == "sdft" else 0.0)
    if config.lr is None:
        config = config.replace(lr=(AUTO_LR if large else AUTO_LR_SMALL_MODEL)[config.method])
    return config


def skip_for_template(template: str) -> int:
    """Completion tokens to leave out of the loss when the run does not say: the paper's 3 with the
    paper's template, whose framing phrases they guard against (without them: 6.7 % against 16.7 % on
    dates' holdout at 135M), else 0."""
    return PAPER_SETTINGS["skip_first_tokens"] if template == PAPER_TEACHER_TEMPLATE else 0


TEMPLATE_FIELD = re.compile(r"\{(prompt|demonstration|context)\}")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (SDFT or the SFT baseline)."""

    # --- what to run
    method: Method = "sdft"
    steps: int | None = (
        None  # optimizer steps; exactly one of steps / epochs is set (steps wins if both None: 1 epoch)
    )
    epochs: float | None = None
    seed: int = 0

    # --- optimisation
    batch_size: int = 4  # prompts per optimizer step (each sampled n_rollouts times)
    grad_accum: int = 1  # micro-batches the step's sequences are split into (batch_size must divide evenly)
    lr: float | None = None  # None: auto (AUTO_LR: SDFT 2e-5; SFT 1e-5 from 0.3B parameters, else 2e-5)
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    dtype: Dtype = "float32"  # "bfloat16" = bf16 autocast over fp32 master weights
    gradient_checkpointing: bool = False

    # --- teacher and divergence (SDFT)
    # "ema" (the paper), "frozen" (the starting model: stable, learns less) or "live" (the student
    # itself: the paper reports it diverges, and here it taught SmolLM2 the teacher prompt's words).
    teacher: TeacherMode = "ema"
    ema_rate: float = 0.01  # teacher <- (1 - rate) * teacher + rate * student after every optimizer step
    divergence: Divergence = "forward_kl"
    beta: float = 0.5  # generalized JSD interpolation, only for divergence="jsd" (0 < beta < 1)
    top_k: int | None = (
        None  # restrict the divergence to the top-k tokens (None = full vocabulary, the paper)
    )
    # Completion tokens left out of the loss (num_loss_tokens_to_skip; the paper's code: 3, against the
    # teacher's framing phrases). None: skip_for_template decides when the config is built, 3 with the
    # paper's template and 0 with any other ("Date:" or "Action:" is decided in those tokens).
    skip_first_tokens: int | None = None
    teacher_template: str = DEFAULT_TEACHER_TEMPLATE
    # fraction of each batch's prompts drawn from general prompts (teacher = the starting model);
    # None: auto, by the model's size (resolve_auto_settings)
    general_mix: float | None = None
    # fraction of each batch's prompts replayed from the track's earlier skills (replay.py), each with
    # its own demonstration and template in the teacher's context
    replay_fraction: float = 0.0

    # --- rollouts (SDFT)
    n_rollouts: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    max_prompt_tokens: int = 2048  # a (teacher) prompt longer than this is an error, never silently cut
    # "vllm" (optional extra, CUDA only) samples in vLLM with the student's weights copied in every
    # `vllm_sync_every` optimizer steps; "transformers" samples from the trained model itself.
    rollout_engine: RolloutBackend = "transformers"
    vllm_sync_every: int = 1
    vllm_gpu_memory_utilization: float = 0.3  # the share of the GPU vLLM's KV cache may take
    # Rollouts that report their sampler's log-probs (vLLM) weight each sequence's loss by
    # min(mean exp(trainer - sampler log-prob), cap), as the paper's code does; None: no correction.
    importance_cap: float | None = 2.0
    # Data parallel over this many GPUs of one worker (torch.distributed.run, one process each):
    # each process samples and scores batch_size / num_gpus prompts, gradients are averaged, and
    # each keeps 1 / num_gpus of AdamW's state.
    num_gpus: int = 1
    # With num_gpus > 1: also split the decoder's weights and gradients over the processes (FSDP,
    # torch's fully_shard), for models whose full fine-tuning does not fit one GPU. The embeddings
    # and LM head stay whole on every process (the fused loss reads the head outside a forward).
    shard_weights: bool = False

    # --- parameter-efficient training
    lora_rank: int | None = None  # None = full fine-tuning
    lora_alpha: float | None = None  # None = 2 * rank
    lora_dropout: float = 0.0

    # --- memory
    loss_chunk_size: int | None = (
        256  # completion positions per lm-head + divergence chunk (None = all at once)
    )

    # --- reporting and fault tolerance
    checkpoint_every: int = 0  # steps between resumable step checkpoints (0 = never)
    keep_step_checkpoints: int = 1  # older step checkpoints are deleted once a newer one is written
    trace_every: int = 0  # steps between per-token traces (0 = never)
    trace_samples: int = 2  # rollouts traced per traced step
    trace_top_k: int = 5  # alternatives shown per token in traces

    # --- failure-mode monitors (monitors.py): a warning when a condition starts to hold; None = off
    monitor_leakage: float | None = 0.2  # allowed rise of rollouts holding teacher-template phrases
    monitor_entropy_ratio: float | None = 0.3  # warn below this fraction of the starting mean entropy
    monitor_length_ratio: float | None = 4.0  # warn when mean rollout length leaves [start / r, start * r]
    monitor_truncation: float | None = 0.5  # warn above this fraction of rollouts cut off by max_new_tokens
    monitor_kl_max: float | None = 0.5  # nats/token from the start on general prompts (general_mix > 0)
    monitor_teacher_drift: float | None = 0.1  # relative L2 distance of the teacher's weights from the start
    monitor_stop: bool = False  # the first warning stops the run, which fails with the monitor's reason

    extra: dict[str, Any] = field(default_factory=dict)  # free-form metadata carried into manifests

    def __post_init__(self) -> None:
        if self.skip_first_tokens is None:  # always an int once built
            object.__setattr__(self, "skip_first_tokens", skip_for_template(self.teacher_template))
        _validate(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a JSON-like dict; unknown keys and bad values raise ConfigError naming the field."""
        if not isinstance(data, dict):
            raise ConfigError("config", f"expected an object, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for name, value in data.items():
            values[name] = _coerce(name, known[name].type, value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def decided_lr(self) -> float:
        """lr of a config whose auto settings are decided (resolve_auto_settings, as train() does first)."""
        assert self.lr is not None, "an auto lr is decided by resolve_auto_settings first"
        return self.lr

    @property
    def general_mix_at_most(self) -> float:
        """general_mix, or for auto (decided once the model is loaded) the most it can become."""
        return AUTO_GENERAL_MIX if self.general_mix is None else self.general_mix

    @property
    def lora_scale_alpha(self) -> float:
        assert self.lora_rank is not None
        return self.lora_alpha if self.lora_alpha is not None else 2.0 * self.lora_rank


_CHOICES: dict[str, tuple[str, ...]] = {
    "method": ("sdft", "sft"),
    "teacher": ("ema", "frozen", "live"),
    "divergence": ("forward_kl", "reverse_kl", "jsd"),
    "dtype": ("float32", "bfloat16"),
    "rollout_engine": ("transformers", "vllm"),
}


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    """Check a JSON value against the field's declared type (annotations are strings here)."""
    spec = str(annotation)
    optional = "None" in spec
    if value is None:
        if optional:
            return None
        raise ConfigError(name, "must not be null")
    if name in _CHOICES or spec.startswith(
        ("Method", "TeacherMode", "Divergence", "Dtype", "RolloutBackend")
    ):
        if not isinstance(value, str):
            raise ConfigError(name, f"must be one of {', '.join(_CHOICES[name])}")
        return value
    if spec.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(name, "must be true or false")
        return value
    if spec.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(name, f"must be an integer, got {value!r}")
        return value
    if spec.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(name, f"must be a number, got {value!r}")
        return float(value)
    if spec.startswith("str"):
        if not isinstance(value, str):
            raise ConfigError(name, f"must be a string, got {type(value).__name__}")
        return value
    if spec.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(name, "must be an object")
        return value
    return value


def _validate(config: TrainConfig) -> None:
    for name, choices in _CHOICES.items():
        if getattr(config, name) not in choices:
            raise ConfigError(name, f"must be one of {', '.join(choices)}, got {getattr(config, name)!r}")

    def positive(name: str, *, allow_none: bool = False, allow_zero: bool = False) -> None:
        value = getattr(config, name)
        if value is None and allow_none:
            return
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(name, f"must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise ConfigError(name, f"must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")

    positive("steps", allow_none=True)
    positive("epochs", allow_none=True)
    if config.steps is not None and config.epochs is not None:
        raise ConfigError("steps", "give steps or epochs, not both")
    for name in ("batch_size", "grad_accum", "n_rollouts", "max_new_tokens", "max_prompt_tokens"):
        positive(name)
    positive("lr", allow_none=True)
    for name in ("weight_decay", "max_grad_norm", "skip_first_tokens", "checkpoint_every", "trace_every"):
        positive(name, allow_zero=True)
    positive("trace_samples", allow_zero=True)
    positive("trace_top_k")
    positive("keep_step_checkpoints")
    positive("temperature")
    positive("top_k", allow_none=True)
    positive("loss_chunk_size", allow_none=True)
    positive("lora_rank", allow_none=True)
    positive("lora_alpha", allow_none=True)
    positive("vllm_sync_every")
    if config.importance_cap is not None and not (
        isinstance(config.importance_cap, int | float) and 1.0 <= config.importance_cap < math.inf
    ):
        raise ConfigError("importance_cap", f"must be a number >= 1 or null, got {config.importance_cap!r}")
    if not 0.0 < config.vllm_gpu_memory_utilization < 1.0:
        raise ConfigError(
            "vllm_gpu_memory_utilization", f"must be in (0, 1), got {config.vllm_gpu_memory_utilization!r}"
        )
    for name in (
        "steps",
        "batch_size",
        "grad_accum",
        "n_rollouts",
        "max_new_tokens",
        "max_prompt_tokens",
        "vllm_sync_every",
        "num_gpus",
    ):
        value = getattr(config, name)
        if value is not None and not isinstance(value, int):
            raise ConfigError(name, f"must be an integer, got {value!r}")
    if config.batch_size % config.grad_accum:
        raise ConfigError("grad_accum", f"must divide batch_size ({config.batch_size}) evenly")
    positive("num_gpus")
    if isinstance(config.num_gpus, int) and config.num_gpus > 1:
        if config.batch_size % config.num_gpus:
            raise ConfigError(
                "num_gpus", f"must divide batch_size ({config.batch_size}): every GPU takes an equal share"
            )
        if config.rollout_engine == "vllm":
            raise ConfigError(
                "num_gpus", "more than one GPU per job runs with rollout_engine: transformers only"
            )
    if config.shard_weights:
        if not isinstance(config.num_gpus, int) or config.num_gpus < 2:
            raise ConfigError("shard_weights", "splits weights over several GPUs: set num_gpus to 2 or more")
        if config.lora_rank is not None:
            raise ConfigError(
                "shard_weights",
                "is for full fine-tuning; a LoRA adapter's base weights fit one GPU unsharded",
            )
    # Auto may become AUTO_GENERAL_MIX once the model is known: the batch must have room for it.
    general_mix = config.general_mix_at_most
    for name in ("warmup_ratio", "general_mix", "replay_fraction", "lora_dropout"):
        value = general_mix if name == "general_mix" else getattr(config, name)
        if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
            raise ConfigError(name, f"must be in [0, 1), got {value!r}")
    for name in ("adam_beta1", "adam_beta2", "top_p"):
        value = getattr(config, name)
        if not isinstance(value, int | float) or not 0.0 < value <= 1.0:
            raise ConfigError(name, f"must be in (0, 1], got {value!r}")
    if not 0.0 < config.ema_rate <= 1.0:
        raise ConfigError("ema_rate", f"must be in (0, 1], got {config.ema_rate!r}")
    if config.divergence == "jsd" and not 0.0 < config.beta < 1.0:
        raise ConfigError(
            "beta", "the generalized JSD needs 0 < beta < 1 (use forward_kl or reverse_kl for the ends)"
        )
    if config.general_mix and config.method != "sdft":
        raise ConfigError(
            "general_mix", "general prompts are mixed in by SDFT only (SFT has no target for them)"
        )
    if config.replay_fraction > 0 and config.method != "sdft":
        raise ConfigError("replay_fraction", "earlier skills are replayed by SDFT only")
    if config.method == "sft":
        general_mix = 0.0
    mixed_in = round(config.batch_size * general_mix) + round(config.batch_size * config.replay_fraction)
    if config.replay_fraction > 0 and mixed_in >= config.batch_size:
        raise ConfigError(
            "replay_fraction",
            "with general_mix (auto: up to 0.25) leaves no new demonstration in a batch; lower it or raise batch_size",
        )
    if general_mix > 0 and round(config.batch_size * general_mix) >= config.batch_size:
        raise ConfigError(
            "general_mix", "leaves no demonstration prompt in a batch; lower it or raise batch_size"
        )
    monitor_ranges = {
        "monitor_leakage": (0.0, 1.0),
        "monitor_entropy_ratio": (0.0, 1.0),
        "monitor_length_ratio": (1.0, math.inf),
        "monitor_truncation": (0.0, 1.0),
        "monitor_kl_max": (0.0, math.inf),
        "monitor_teacher_drift": (0.0, math.inf),
    }
    for name, (low, high) in monitor_ranges.items():
        value = getattr(config, name)
        if value is not None and (not isinstance(value, int | float) or not low <= value <= high):
            raise ConfigError(name, f"must be in [{low:g}, {high:g}] or null (off), got {value!r}")
    template_fields = set(TEMPLATE_FIELD.findall(config.teacher_template))
    missing = {"prompt", "demonstration"} - template_fields
    if missing:
        raise ConfigError(
            "teacher_template", f"must contain {' and '.join('{' + m + '}' for m in sorted(missing))}"
        )
