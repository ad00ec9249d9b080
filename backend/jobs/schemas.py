from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.db import BodyId
from backend.evaluations.schemas import EvaluationRequest
from backend.scrub import scrub_secrets

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobConfig(BaseModel):
    """Training options; omitted fields take the engine's defaults (the paper's settings, but no skipped tokens).

    Validated at submission so that a bad value is a 422 naming the field, not a failed job.
    """

    model_config = ConfigDict(extra="forbid")

    steps: int | None = Field(default=None, ge=1, le=1_000_000, description="optimizer steps")
    epochs: float | None = Field(default=None, gt=0, le=100)
    batch_size: int | None = Field(default=None, ge=1, le=4096, description="prompts per optimizer step")
    grad_accum: int | None = Field(default=None, ge=1, le=1024)
    lr: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="AdamW learning rate; unset: 2e-5 for SDFT (the paper's); SFT 1e-5 from 0.3B parameters, else 2e-5",
    )
    warmup_ratio: float | None = Field(default=None, ge=0, lt=1)
    max_grad_norm: float | None = Field(default=None, gt=0)
    weight_decay: float | None = Field(default=None, ge=0, lt=1)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    teacher: Literal["ema", "frozen", "live"] | None = Field(
        default=None,
        description="ema (paper default), frozen (starting weights) or live (diverges in the paper)",
    )
    ema_rate: float | None = Field(default=None, gt=0, le=1)
    divergence: Literal["forward_kl", "reverse_kl", "jsd"] | None = None
    beta: float | None = Field(default=None, ge=0, le=1, description="JSD interpolation")
    top_k: int | None = Field(default=None, ge=1, le=1_000_000)
    skip_first_tokens: int | None = Field(
        default=None,
        ge=0,
        le=1024,
        description="first completion tokens left out of the loss (default 0; the paper's code: 3)",
    )
    n_rollouts: int | None = Field(default=None, ge=1, le=64)
    temperature: float | None = Field(default=None, gt=0, le=5)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_new_tokens: int | None = Field(default=None, ge=1, le=16_384)
    max_prompt_tokens: int | None = Field(default=None, ge=16, le=131_072)
    rollout_engine: Literal["transformers", "vllm"] | None = Field(
        default=None, description="vllm: sample rollouts in vLLM (GPU workers with the vllm extra)"
    )
    vllm_sync_every: int | None = Field(
        default=None, ge=1, le=1024, description="optimizer steps between copies of the student into vLLM"
    )
    vllm_gpu_memory_utilization: float | None = Field(default=None, gt=0, lt=1)
    importance_cap: float | None = Field(
        default=None,
        ge=1,
        description="cap of the per-sequence importance weight on vLLM rollouts (the paper's code: 2)",
    )
    num_gpus: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="GPUs of one worker the job trains on, data parallel (must divide batch_size)",
    )
    shard_weights: bool | None = Field(
        default=None,
        description="with num_gpus > 1, also split the weights, gradients and optimizer state over the GPUs "
        "(FSDP): for models whose full fine-tuning does not fit one GPU",
    )
    general_mix: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="fraction of each batch drawn from built-in general prompts kept close to the starting model "
        "(SDFT); unset: 0.25 for models from 0.3B parameters, else 0",
    )
    replay_fraction: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="fraction of each batch replayed from the track's earlier skills (teacher sees their demonstrations)",
    )
    lora_rank: int | None = Field(default=None, ge=1, le=1024)
    lora_alpha: float | None = Field(default=None, gt=0)
    loss_chunk_size: int | None = Field(default=None, ge=1, le=65_536)
    dtype: Literal["float32", "bfloat16"] | None = None
    checkpoint_every: int | None = Field(default=None, ge=0)
    trace_every: int | None = Field(
        default=None, ge=0, description="steps between stored per-token traces (the product's default: 10)"
    )
    trace_samples: int | None = Field(default=None, ge=0, le=64)
    # Failure-mode monitors: a warning on the run page when a condition starts to hold.
    monitor_leakage: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="allowed rise of rollouts with teacher-template phrases (1 = off)",
    )
    monitor_entropy_ratio: float | None = Field(
        default=None, ge=0, le=1, description="warn below this fraction of the starting entropy (0 = off)"
    )
    monitor_length_ratio: float | None = Field(
        default=None, ge=1, description="warn when mean rollout length leaves [start / r, start * r]"
    )
    monitor_truncation: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="warn above this fraction of rollouts cut off by max_new_tokens (1 = off)",
    )
    monitor_kl_max: float | None = Field(
        default=None, ge=0, description="nats/token from the start on general prompts (needs general_mix)"
    )
    monitor_teacher_drift: float | None = Field(
        default=None, ge=0, description="relative distance of the teacher's weights from the start"
    )
    monitor_stop: bool | None = Field(
        default=None, description="stop at the first warning; the job fails with the monitor's reason"
    )

    @model_validator(mode="after")
    def _steps_or_epochs(self) -> JobConfig:
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        return self

    def engine_overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skill_id: BodyId
    dataset_version_id: BodyId
    method: Literal["sdft", "sft"] = "sdft"
    config: JobConfig = Field(default_factory=JobConfig)
    queue: Literal["gpu", "cpu"] = Field(default="gpu", description="worker queue for the training run")
    evaluate: bool = Field(default=True, description="evaluate the new checkpoint on every skill afterwards")
    evaluation: EvaluationRequest = Field(
        default_factory=EvaluationRequest, description="settings of that follow-up evaluation"
    )


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    track_id: int | None
    skill_id: int | None
    dataset_version_id: int | None
    checkpoint_id: int | None
    method: str
    config: dict[str, Any]
    queue: str
    position: int
    state: JobState
    attempt: int
    last_step: int
    total_steps: int
    cancel_requested: bool
    error: str | None
    start_checkpoint_id: int | None
    result_checkpoint_id: int | None
    summary: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @field_validator("error")
    @classmethod
    def _no_secrets(cls, error: str | None) -> str | None:
        # Stored errors are scrubbed already (lifecycle.finish); this also covers rows from before.
        return scrub_secrets(error) if error else error


class StepMetrics(BaseModel):
    step: int
    attempt: int
    metrics: dict[str, Any]


class JobDetail(JobRead):
    progress: float = Field(description="last_step / total_steps, 0 when unknown")
    steps: list[StepMetrics]
    warnings: list[dict[str, Any]]


class JobEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    attempt: int
    step: int | None
    data: dict[str, Any]
    created_at: datetime


class RolloutTraceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    step: int
    sample_index: int
    attempt: int
    trace: dict[str, Any]


class RolloutPage(BaseModel):
    total: int
    items: list[RolloutTraceRead]
