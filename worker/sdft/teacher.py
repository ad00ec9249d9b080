"""Teacher weights for SDFT: an EMA copy of the student (the paper), the frozen start, or the live student.

The paper's ablation: the live student as its own teacher diverges; a frozen base teacher is stable
but learns less; an EMA teacher (0.99 teacher + 0.01 student after every optimizer step) does best.
General prompts, mixed in to anchor prior behaviour, are always scored by the frozen starting model.
"""

from __future__ import annotations

import copy
from typing import Any

import torch


def frozen_copy(model: Any, *, share_untrained: bool = False) -> Any:
    """A copy of the model that never receives gradients and does not follow the model's training.

    share_untrained: the weights the model does not train now (requires_grad False: a LoRA
    adapter's base layers) never change during its training, so the copy shares them rather than
    holding its own. With LoRA an EMA teacher and the general-prompt reference then cost an adapter
    each, not a model each (2 x 1.84 GiB for Qwen2.5-0.5B in float32). Only for a model whose
    trainable set is final (after train.prepare_model).
    """
    shared = (
        {id(parameter): parameter for parameter in model.parameters() if not parameter.requires_grad}
        if share_untrained
        else {}
    )
    clone = copy.deepcopy(model, memo=shared)
    clone.eval()
    for parameter in clone.parameters():
        parameter.requires_grad_(False)
    return clone


def check_same_weights(model: Any, start_copy: Any) -> None:
    """Raise unless `start_copy` holds the weights `model` has now, parameter by parameter."""
    theirs = dict(start_copy.named_parameters())
    for name, parameter in model.named_parameters():
        other = theirs.pop(name, None)
        if other is None or not torch.equal(other, parameter):  # False for another shape, too
            raise ValueError(
                f"start_copy differs from the student at {name}: it must hold the starting weights"
            )
    if theirs:
        raise ValueError(f"start_copy has parameters the student lacks: {', '.join(sorted(theirs)[:3])}")


def trainable_names(model: Any) -> list[str]:
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


@torch.no_grad()
def ema_update(teacher: Any, student: Any, *, rate: float, names: list[str]) -> None:
    """teacher <- (1 - rate) * teacher + rate * student, for the named (trainable) parameters only.

    Frozen parameters are equal in both and left alone, so a LoRA teacher's base weights do not drift
    by rounding.
    """
    teacher_parameters = dict(teacher.named_parameters())
    student_parameters = dict(student.named_parameters())
    for name in names:
        teacher_parameters[name].lerp_(student_parameters[name].detach(), rate)


class Teachers:
    """The models SDFT scores completions with: `teacher` for demonstrations, `reference` for general prompts."""

    def __init__(
        self, student: Any, *, mode: str, ema_rate: float, need_reference: bool, start_copy: Any = None
    ) -> None:
        """start_copy: a model the caller already holds with the student's starting weights (the
        benchmark's base model, kept for its KL), used as the copy of the start that the frozen
        teacher and the general-prompt reference are, instead of making one. Only read, never trained;
        checked equal to the student."""
        self.mode = mode
        self.ema_rate = ema_rate
        self.names = trainable_names(student)
        self._student = student
        if start_copy is not None:
            check_same_weights(student, start_copy)
            start_copy.eval()
        # One unchanging copy of the start serves the frozen teacher and the reference alike.
        start = start_copy
        if start is None and (mode == "frozen" or need_reference):
            start = frozen_copy(student, share_untrained=True)
        self._copy = frozen_copy(student, share_untrained=True) if mode == "ema" else None
        if mode == "frozen":
            self._copy = start
        self._reference: Any = start if need_reference else None
        self._parallel: Any = None

    @staticmethod
    def copy_count(mode: str, *, need_reference: bool, start_given: bool = False) -> int:
        """How many copies of the student these teachers make: the EMA teacher's, which moves, and one
        of the start, which the frozen teacher and the reference share (none when a start_copy is given).
        The live teacher is the student itself."""
        unchanging = (mode == "frozen" or need_reference) and not start_given
        return int(mode == "ema") + int(unchanging)

    def shard(self, parallel: Any) -> None:
        """Split the copies' weights like the student's (parallel.DataParallel.shard_model), so that
        the EMA update pairs each process's teacher shard with its student shard."""
        for model in {id(m): m for m in (self._copy, self._reference) if m is not None}.values():
            parallel.shard_model(model)
        self._parallel = parallel

    @property
    def teacher(self) -> Any:
        return self._copy if self._copy is not None else self._student

    @property
    def reference(self) -> Any:
        if self._reference is None:
            raise RuntimeError("no reference model was kept (general_mix is 0)")
        return self._reference

    def after_optimizer_step(self) -> None:
        if self.mode == "ema":
            ema_update(self._copy, self._student, rate=self.ema_rate, names=self.names)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """What a step checkpoint must keep to resume: the EMA teacher's moving weights.

        Sharded: every process must call it; process 0 gets the whole weights, the others {}.
        """
        if self.mode != "ema":
            return {}
        if self._parallel is not None:
            whole = self._parallel.full_state(self._copy)
            return {name: whole[name] for name in self.names if name in whole}
        parameters = dict(self._copy.named_parameters())
        return {name: parameters[name].detach().contiguous() for name in self.names}

    @torch.no_grad()
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.mode != "ema":
            return
        parameters = dict(self._copy.named_parameters())
        missing = set(self.names) - set(tensors)
        if missing:
            raise KeyError(f"step checkpoint lacks EMA teacher weights for {sorted(missing)[:3]}")
        if self._parallel is not None:
            self._parallel.load_full_state(self._copy, {name: tensors[name] for name in self.names})
            return
        for name in self.names:
            parameters[name].copy_(tensors[name])
