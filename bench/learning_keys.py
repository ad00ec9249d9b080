"""Run keys: the string that names one benchmark run in the results files, built and read in one place.

--resume finds a run by its key, and the report and the product's claims (bench/learning_claims.py)
group and select runs by the key's parts, so the layout lives here rather than in each reader:

    comparison / tuning  <phase>|<model>|<skill>|<method>|<seed>|<budget>|t<train>e<eval>h<held out>p<probe>
    sequential           sequential|<model>|<method>|<seed>|<budget>|<skill>><skill>...|t<train>e<eval>p<probe>

<budget> is "<steps>x<prompts>@<lr>", with "/<rollout tokens>" in comparison keys. Keys already in the
results files were written in exactly these layouts, so changing one means a migration of the files.

Pure string handling, no torch: the report and the claims test import it in milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEQUENTIAL_PHASE = "sequential"
_LIMITS = re.compile(r"t(None|\d+)e(None|\d+)(?:h(None|\d+))?p(None|\d+)")


@dataclass(frozen=True)
class RunKey:
    phase: str
    model: str  # the model key, with "@<device>/<dtype>" off the CPU
    subject: str  # the skill, or a sequential run's order "tooluse>science>dates"
    method: str
    seed: str  # as written: "None" for base
    budget: str
    limits: str

    def __str__(self) -> str:
        if self.phase == SEQUENTIAL_PHASE:
            parts = (self.phase, self.model, self.method, self.seed, self.budget, self.subject, self.limits)
        else:
            parts = (self.phase, self.model, self.subject, self.method, self.seed, self.budget, self.limits)
        return "|".join(parts)


def budget_part(steps: int, batch_size: int, lr: float, max_new_tokens: int | None = None) -> str:
    shape = f"{steps}x{batch_size}@{lr:g}"
    return shape if max_new_tokens is None else f"{shape}/{max_new_tokens}"


def limits_part(
    train: int | None, eval_rows: int | None, probe: int | None, *, holdout: int | None | bool = False
) -> str:
    """holdout=False leaves the held-out part out, as sequential keys do; None writes "hNone"."""
    held_out = "" if holdout is False else f"h{holdout}"
    return f"t{train}e{eval_rows}{held_out}p{probe}"


def parse_key(key: str) -> RunKey:
    parts = key.split("|")
    if len(parts) != 7:
        raise ValueError(f"run key {key!r} has {len(parts)} parts, not 7")
    phase, model = parts[0], parts[1]
    if phase == SEQUENTIAL_PHASE:
        method, seed, budget, subject, limits = parts[2:]
    else:
        subject, method, seed, budget, limits = parts[2:]
    return RunKey(phase, model, subject, method, seed, budget, limits)


def parse_limits(limits: str) -> dict[str, int | None] | None:
    """{"train", "eval", "holdout", "probe"} from "t<train>e<eval>[h<held out>]p<probe>" (None where
    the key says None or has no held-out part); None when the text is not in that form."""
    match = _LIMITS.fullmatch(limits)
    if not match:
        return None
    train, eval_rows, holdout, probe = (
        None if part in (None, "None") else int(part) for part in match.groups()
    )
    return {"train": train, "eval": eval_rows, "holdout": holdout, "probe": probe}
