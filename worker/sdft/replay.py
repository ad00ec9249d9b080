"""Replay from earlier skills: a fraction of each SDFT batch drawn from the track's earlier skills.

A replayed prompt is trained exactly like one of the new skill's: the student sees the earlier
skill's prompt alone, the (EMA) teacher sees it with that skill's own demonstration in context,
through that skill's own teacher template. The student thus keeps being pulled toward what each
earlier skill's demonstrations taught while it learns the new one. Each replay slot picks an
earlier skill uniformly, then one of its demonstrations, so a small skill is replayed as often as a
large one. Picks use torch's random state, which the loop reseeds every step: a resumed run replays
the same prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE, TrainConfig
from worker.sdft.data import DataError, Example
from worker.sdft.models import LoadedModel
from worker.sdft.prompts import PromptPair


@dataclass(frozen=True)
class ReplaySet:
    """An earlier skill's demonstrations with the teacher template it was trained with."""

    name: str  # for messages: the earlier skill's name
    examples: list[Example]
    template: str = DEFAULT_TEACHER_TEMPLATE


def replay_per_step(config: TrainConfig) -> int:
    """Prompts per optimizer step taken from earlier skills (SDFT only)."""
    return round(config.batch_size * config.replay_fraction) if config.method == "sdft" else 0


def build_replay_pairs(
    loaded: LoadedModel, sets: list[ReplaySet], config: TrainConfig
) -> list[list[PromptPair]]:
    """Each set's prompt pairs through its own template, checked like the new skill's (errors name the set)."""
    from worker.sdft.train import build_pairs  # train imports this module

    built = []
    for replay_set in sets:
        if not replay_set.examples:
            continue
        try:
            built.append(
                build_pairs(loaded, replay_set.examples, config.replace(teacher_template=replay_set.template))
            )
        except DataError as error:
            raise DataError(error.line, f"replay[{replay_set.name}].{error.field}", error.message) from None
    return built


def pick_replay(pairs_by_set: list[list[PromptPair]], count: int) -> list[PromptPair]:
    """`count` pairs: per slot a set uniformly, then one of its pairs (from torch's current random state)."""
    if count == 0 or not pairs_by_set:
        return []
    sets = torch.randint(len(pairs_by_set), (count,)).tolist()
    return [pairs_by_set[s][int(torch.randint(len(pairs_by_set[s]), (1,)))] for s in sets]


def replay_examples(sets: list[ReplaySet]) -> list[Example]:
    """Every replayed demonstration, in order (for the data hash a resumed run is checked against)."""
    return [example for replay_set in sets for example in replay_set.examples]
