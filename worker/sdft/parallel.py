"""Data parallel training over the processes of one torch.distributed group (one per GPU).

Every process holds the whole model and the same starting weights. A step's prompts are chosen
the same way everywhere (same seed), then split: process r samples, scores and back-propagates
prompts r, r + world, r + 2 * world, ... Gradients are then averaged, so every process applies the
same update and the weights stay identical without ever being sent. With an equal share per
process (num_gpus divides batch_size), the average of the per-process means is the step's mean, the
paper's reduction. AdamW's state is split between the processes (train.build_optimizer). Process 0
reports, writes checkpoints and decides when to stop.

With `sharded` (TrainConfig.shard_weights), each process also keeps only its share of the decoder's
weights and gradients (FSDP: torch's fully_shard, per decoder layer): a layer's weights are gathered
for its forward and backward and dropped after, and gradients are reduce-scattered (averaged) by
FSDP itself. Every forward is then a collective, so the processes must run the same forwards and
backwards in the same order (`any`, steps.Lockstep), and whole weights for a checkpoint are
gathered by every process together (`full_state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.tensor import DTensor

from worker.sdft.config import ConfigError
from worker.sdft.steps import Totals

Item = TypeVar("Item")


@dataclass(frozen=True)
class DataParallel:
    rank: int
    world_size: int
    sharded: bool = False
    device_type: str = "cpu"  # the device mesh's: "cuda" (NCCL) or "cpu" (gloo)

    @classmethod
    def from_process_group(cls, *, sharded: bool = False, device_type: str = "cpu") -> DataParallel:
        return cls(
            rank=dist.get_rank(), world_size=dist.get_world_size(), sharded=sharded, device_type=device_type
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list[Item]) -> list[Item]:
        """This process's share of one step's prompts."""
        return items[self.rank :: self.world_size]

    def average_gradients(self, parameters: list[torch.Tensor], *, bucket_elements: int = 1 << 26) -> None:
        """Average gradients over processes, a few all-reduces over flattened buckets (float32).

        A parameter without a gradient counts as zero; it keeps no gradient if no process gave it one,
        so that AdamW skips it as it would in one process. Sharded parameters are left out: FSDP
        averaged theirs during the backward.
        """
        parameters = [parameter for parameter in parameters if not isinstance(parameter, DTensor)]
        bucket: list[torch.Tensor] = []
        size = 0
        for parameter in parameters:
            bucket.append(parameter)
            size += parameter.numel()
            if size >= bucket_elements:
                self._average_bucket(bucket)
                bucket, size = [], 0
        if bucket:
            self._average_bucket(bucket)

    def _average_bucket(self, parameters: list[torch.Tensor]) -> None:
        had_grad = [parameter.grad is not None for parameter in parameters]
        flat = torch.cat(
            [
                (parameter.grad if parameter.grad is not None else torch.zeros_like(parameter))
                .reshape(-1)
                .to(torch.float32)
                for parameter in parameters
            ]
        )
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for parameter, had in zip(parameters, had_grad, strict=True):
            averaged = flat[offset : offset + parameter.numel()].view_as(parameter)
            offset += parameter.numel()
            if had or bool(averaged.any()):
                parameter.grad = averaged.to(parameter.dtype).clone()

    def sum_totals(self, totals: Totals) -> Totals:
        """The step's totals over every process: counts and sums add up, timings take the slowest,
        and the loss (each process's mean) is averaged, as its gradient was."""
        gathered: list[dict[str, float] | None] = [None] * self.world_size
        dist.all_gather_object(gathered, totals.values)
        merged = Totals()
        for values in gathered:
            for name, value in (values or {}).items():
                if name.endswith("_s"):
                    merged.values[name] = max(merged.get(name), value)
                elif name == "loss":
                    merged.add(name, value / self.world_size)
                else:
                    merged.add(name, value)
        return merged

    def agree(self, flag: bool) -> bool:
        """Process 0's answer, everywhere: every process must stop at the same step or none can finish."""
        decision = [flag]
        dist.broadcast_object_list(decision, src=0)
        return bool(decision[0])

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any (steps.Lockstep)."""
        flags: list[bool | None] = [None] * self.world_size
        dist.all_gather_object(flags, bool(flag))
        return any(flags)

    # --------------------------------------------------------------------------- sharded weights

    @cached_property
    def mesh(self) -> Any:
        from torch.distributed.device_mesh import init_device_mesh

        return init_device_mesh(self.device_type, (self.world_size,))

    def shard_model(self, model: Any) -> None:
        """Split the decoder's weights over the processes: each layer one FSDP unit, the decoder the root.

        The input embeddings (and a head tied to them) stay whole on every process: the fused loss
        multiplies hidden states by the head's weight outside any forward, where FSDP would have
        handed it back sharded. Every unit reshards after its forward, the root too, so that between
        steps every weight is a shard (the EMA update pairs teacher and student shards).
        """
        from torch.distributed.fsdp import fully_shard

        decoder = model.get_decoder()
        layers = getattr(decoder, "layers", None)
        if not layers:
            raise ConfigError("shard_weights", f"{type(decoder).__name__} has no .layers to shard one by one")
        for layer in layers:
            fully_shard(layer, mesh=self.mesh, reshard_after_forward=True)
        whole = {id(decoder.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
        ignored = {parameter for parameter in decoder.parameters() if id(parameter) in whole}
        fully_shard(decoder, mesh=self.mesh, reshard_after_forward=True, ignored_params=ignored)

    def clip_gradients(self, parameters: list[torch.Tensor], max_norm: float) -> float:
        """torch's clip_grad_norm_ for a mix of sharded and whole gradients (its fused norm refuses the
        mix): the total norm adds every process's sharded squares to the whole ones, counted once."""
        grads = [parameter.grad for parameter in parameters if parameter.grad is not None]
        if not grads:
            return 0.0
        device = (grads[0].to_local() if isinstance(grads[0], DTensor) else grads[0]).device
        sharded = torch.zeros((), dtype=torch.float32, device=device)
        whole = torch.zeros((), dtype=torch.float32, device=device)
        for grad in grads:
            if isinstance(grad, DTensor):
                sharded += grad.to_local().float().pow(2).sum()
            else:
                whole += grad.float().pow(2).sum()
        dist.all_reduce(sharded, op=dist.ReduceOp.SUM)
        total = (sharded + whole).sqrt()
        coefficient = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for grad in grads:
            local = grad.to_local() if isinstance(grad, DTensor) else grad
            local.mul_(coefficient.to(local.dtype))
        return float(total)

    def full_state(self, model: Any) -> dict[str, Any]:
        """Whole weights on the CPU of process 0 ({} elsewhere); every process must call it."""
        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def full_optimizer_state(self, model: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """AdamW's whole state keyed by parameter name, on process 0 ({} elsewhere); every process calls it."""
        return get_optimizer_state_dict(
            model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )

    def load_full_state(self, model: Any, state: dict[str, Any]) -> None:
        """Each process takes its shards of whole weights (named like model.state_dict())."""
        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))

    def load_full_optimizer_state(
        self, model: Any, optimizer: torch.optim.Optimizer, state: dict[str, Any]
    ) -> None:
        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))
