"""Data parallel training over the processes of one torch.distributed group (one per GPU).

Every process holds the whole model and the same starting weights. A step's prompts are chosen
the same way everywhere (same seed), then split: process r samples, scores and back-propagates
prompts r, r + world, r + 2 * world, ... Gradients are then averaged, so every process applies the
same update and the weights stay identical without ever being sent. With an equal share per
process (num_gpus divides batch_size), the average of the per-process means is the step's mean, the
paper's reduction. AdamW's state is split between the processes (train.build_optimizer). Process 0
reports, writes checkpoints and decides when to stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from worker.sdft.steps import Totals

Item = TypeVar("Item")


@dataclass(frozen=True)
class DataParallel:
    rank: int
    world_size: int

    @classmethod
    def from_process_group(cls) -> DataParallel:
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size())

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list[Item]) -> list[Item]:
        """This process's share of one step's prompts."""
        return items[self.rank :: self.world_size]

    def average_gradients(self, parameters: list[torch.Tensor], *, bucket_elements: int = 1 << 26) -> None:
        """Average gradients over processes, a few all-reduces over flattened buckets (float32).

        A parameter without a gradient counts as zero; it keeps no gradient if no process gave it one,
        so that AdamW skips it as it would in one process.
        """
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
