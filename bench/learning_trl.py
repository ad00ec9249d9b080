"""TRL's `trl.experimental.sdft` trainer as an outside reference, configured like the paper.

Its own defaults differ from the paper (frozen teacher, JSD, top-100 logits, no skipped tokens,
8 generations); `trl_settings` sets each of them to the paper's value. It must run offline: the
student is loaded from a local folder because TRL builds its EMA teacher from the model's path.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path
from typing import Any

from bench.learning_methods import Budget, TrainOutcome
from worker.sdft.config import PAPER_TEACHER_TEMPLATE
from worker.sdft.data import Example
from worker.sdft.models import LoadedModel

# This module only drives TRL's experimental trainer: its "experimental API" warning says nothing here.
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def trl_template() -> str:
    return PAPER_TEACHER_TEMPLATE.replace("{demonstration}", "{privileged_context}")


def trl_settings(budget: Budget) -> dict[str, Any]:
    """TRL's SDFTConfig fields that make it the paper's setup (its own defaults differ: frozen
    teacher, JSD, top-100 logits, no skipped tokens, 8 generations)."""
    return {
        "distillation_mode": "full_logits",
        "distillation_alpha": 0.0,  # 0 = forward KL(teacher || student) in TRL's convention
        "teacher_model_kind": "ema",
        "teacher_update_rate": 0.01,
        "teacher_sync_steps": 1,
        "num_loss_tokens_to_skip": 3,
        "num_generations": 1,
        "temperature": 1.0,
        "top_p": 1.0,
        "distillation_is_clip": 2.0,
        "teacher_prompt_template": trl_template(),
        "learning_rate": budget.lr,
        "lr_scheduler_type": "cosine",
        "warmup_steps": budget.warmup_ratio,
        "max_grad_norm": 1.0,
        "weight_decay": 0.0,
        "max_steps": budget.steps,
        # --grad-accum splits a step's prompts as our engine does: TRL generates the step's rollouts
        # at once (steps_per_generation follows the accumulation) and averages per-sequence losses,
        # so two micro-batches of 2 make the update one batch of 4 makes. Its gradient checkpointing
        # is on by default, so --gradient-checkpointing changes nothing here.
        "per_device_train_batch_size": budget.batch_size // budget.grad_accum,
        "gradient_accumulation_steps": budget.grad_accum,
        "max_completion_length": budget.max_new_tokens,
    }


def trl_unavailable_reason() -> str | None:
    """Why TRL's SDFT trainer cannot be used here, or None when it imports."""
    try:
        import trl  # noqa: F401
        from trl.experimental.sdft import SDFTConfig, SDFTTrainer  # noqa: F401
    except Exception as error:  # an import failure of any kind is the reason to record
        return f"trl.experimental.sdft does not import: {type(error).__name__}: {error}"
    return None


def train_trl(
    loaded: LoadedModel,
    examples: list[Example],
    *,
    budget: Budget,
    seed: int,
    work_dir: Path,
    model_folder: Path,
) -> tuple[LoadedModel, TrainOutcome]:
    """Train with TRL's SDFTTrainer from `model_folder` (a local transformers folder of the starting model).

    TRL builds its EMA teacher with from_pretrained(model.config._name_or_path), so the student must
    be loaded from a folder, not built in memory. Returns the trained model wrapped like ours.
    """
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    student = AutoModelForCausalLM.from_pretrained(str(model_folder), dtype=loaded.model.dtype)
    dataset = Dataset.from_list(
        [{"prompt": example.prompt, "privileged_context": example.demonstration} for example in examples]
    )
    args = SDFTConfig(
        output_dir=str(work_dir / "trl"),
        seed=seed,
        data_seed=seed,
        use_cpu=loaded.device.type == "cpu",
        bf16=budget.dtype == "bfloat16",
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        max_prompt_length=None,  # its default 512 cuts tool-use prompts from the left
        dataloader_num_workers=0,
        **trl_settings(budget),
    )
    trainer = SDFTTrainer(model=student, args=args, train_dataset=dataset, processing_class=loaded.tokenizer)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        output = trainer.train()
    wall = time.perf_counter() - started
    if trainer.state.global_step < budget.steps:  # a reference that did not train is no reference
        raise RuntimeError(
            f"TRL's trainer ran {trainer.state.global_step} of {budget.steps} steps on {len(examples)} "
            f"examples: its sampler keeps only full batches of {budget.batch_size}"
        )
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    final = {
        key: float(value) for key, value in (history[-1] if history else {}).items() if _is_number(value)
    }
    final["train_loss"] = float(output.training_loss)
    model = trainer.model
    model.eval()
    trained = LoadedModel(model=model, tokenizer=loaded.tokenizer, name="trl-sdft", base_name=loaded.name)
    return trained, TrainOutcome(
        wall_s=wall,
        final_metrics=final,
        mean_step_s=wall / max(budget.steps, 1),
        steps_done=trainer.state.global_step,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
