"""Resumable step checkpoints inside a run's work folder: `work_dir/step-000010/`.

Each holds what the next step needs to continue exactly where the run stopped: the student's
trainable weights, the EMA teacher's weights, AdamW's moments (all safetensors), and a JSON state
(step, config, data hash). Randomness needs no saved state: every step reseeds from (seed, step),
and the data order is a function of (seed, epoch). Written with the same manifest protocol as
model checkpoints; resume takes the newest folder whose manifest verifies.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from worker.sdft.checkpoints import CheckpointError, verify_checkpoint, write_folder_atomically
from worker.sdft.config import TrainConfig

STEP_PREFIX = "step-"
# Settings that change only reporting or disk use; a run may resume with them changed.
RESUMABLE_CHANGES = {
    "checkpoint_every",
    "keep_step_checkpoints",
    "trace_every",
    "trace_samples",
    "trace_top_k",
    "extra",
}


@dataclass
class StepState:
    step: int
    student: dict[str, torch.Tensor]
    teacher: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    path: Path


def step_folder(work_dir: Path, step: int) -> Path:
    return Path(work_dir) / f"{STEP_PREFIX}{step:06d}"


def _optimizer_to_tensors(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().contiguous()
            else:
                scalars[f"state.{index}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int | str, dict[str, Any]] = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        # "state.<parameter>.<key>": an index, or a parameter's dotted name under sharded weights.
        parameter, key = flat.removeprefix("state.").rsplit(".", 1)
        state.setdefault(int(parameter) if parameter.isdigit() else parameter, {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def comparable_config(config: TrainConfig) -> dict[str, Any]:
    return {key: value for key, value in config.to_dict().items() if key not in RESUMABLE_CHANGES}


def save_step_state(
    work_dir: Path,
    *,
    step: int,
    student: dict[str, torch.Tensor],
    teacher: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    config: TrainConfig,
    data_hash: str,
    metrics: dict[str, float],
) -> Path:
    """Write `work_dir/step-NNNNNN/` atomically, then drop older step folders beyond the keep limit.

    `optimizer` is the optimizer's state dict (whole: gathered first when it is split over processes).
    """
    optimizer_tensors, optimizer_meta = _optimizer_to_tensors(optimizer)

    def write_files(tmp: Path) -> None:
        save_file(student, str(tmp / "student.safetensors"))
        if teacher:
            save_file(teacher, str(tmp / "teacher.safetensors"))
        if optimizer_tensors:
            save_file(optimizer_tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "optimizer.json").write_text(json.dumps(optimizer_meta, default=list))
        state = {
            "step": step,
            "config": comparable_config(config),
            "data_hash": data_hash,
            "metrics": metrics,
        }
        (tmp / "state.json").write_text(json.dumps(state, indent=2))

    destination = step_folder(work_dir, step)
    if destination.exists():
        # Left by an earlier attempt that resumed from an older step (this one was torn, or is newer
        # than the resume point): the same step, recomputed, replaces it.
        shutil.rmtree(destination)
    path = write_folder_atomically(destination, write_files, manifest={"kind": "step", "step": step})
    older = [folder for folder in _step_folders(work_dir) if folder != path]
    for stale in older[: max(len(older) - (config.keep_step_checkpoints - 1), 0)]:
        shutil.rmtree(stale, ignore_errors=True)
    return path


def _step_folders(work_dir: Path) -> list[Path]:
    """Step folders, oldest first (temporary folders start with a dot and are never listed)."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        return []
    folders = [p for p in work_dir.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX)]
    return sorted(folders, key=lambda p: p.name)


def load_latest_step_state(work_dir: Path, *, config: TrainConfig, data_hash: str) -> StepState | None:
    """The newest step checkpoint whose manifest verifies; None when there is none.

    A verified checkpoint made with different settings or data is an error, not something to skip:
    continuing it would silently mix two runs.
    """
    for folder in reversed(_step_folders(work_dir)):
        try:
            verify_checkpoint(folder)
        except CheckpointError:
            continue  # torn or corrupted: an older one may still verify
        state = json.loads((folder / "state.json").read_text())
        if state["config"] != comparable_config(config):
            changed = sorted(
                key
                for key in set(state["config"]) | set(comparable_config(config))
                if state["config"].get(key) != comparable_config(config).get(key)
            )
            raise CheckpointError(
                f"{folder} was made with different settings ({', '.join(changed)}); use a new work dir"
            )
        if state["data_hash"] != data_hash:
            raise CheckpointError(f"{folder} was made from different demonstrations; use a new work dir")
        optimizer_path = folder / "optimizer.safetensors"
        teacher_path = folder / "teacher.safetensors"
        optimizer_meta = json.loads((folder / "optimizer.json").read_text())
        return StepState(
            step=int(state["step"]),
            student=load_file(str(folder / "student.safetensors")),
            teacher=load_file(str(teacher_path)) if teacher_path.exists() else {},
            optimizer=_optimizer_from_tensors(
                load_file(str(optimizer_path)) if optimizer_path.exists() else {}, optimizer_meta
            ),
            path=folder,
        )
    return None
