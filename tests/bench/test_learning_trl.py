"""TRL's SDFT trainer as the benchmark drives it: micro-batches change memory, not the update."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.learning import parse_args
from bench.learning_methods import Budget
from bench.learning_skills import load_skill
from bench.learning_trl import train_trl, trl_settings


def test_grad_accum_splits_the_batch_into_micro_batches() -> None:
    budget = Budget(steps=8, batch_size=4, lr=2e-5, max_new_tokens=64, grad_accum=2)
    settings = trl_settings(budget)
    assert (settings["per_device_train_batch_size"], settings["gradient_accumulation_steps"]) == (2, 2)
    with pytest.raises(SystemExit):  # 4 prompts do not split into 3 equal micro-batches
        parse_args(["--batch-size", "4", "--grad-accum", "3"])
    with pytest.raises(ValueError, match="grad_accum 3 must divide batch_size 4"):
        Budget(steps=8, batch_size=4, lr=2e-5, max_new_tokens=64, grad_accum=3)


def test_two_micro_batches_train_the_weights_one_batch_trains(tiny, tmp_path: Path) -> None:  # noqa: ANN001
    folder = tmp_path / "base-model"
    tiny.model.save_pretrained(str(folder))  # TRL builds its EMA teacher from a folder
    examples = load_skill("dates").train_examples(limit=8)

    trained = {}
    for grad_accum in (1, 2):
        # No warmup: the scheduler's first warmup step has learning rate 0.
        budget = Budget(
            steps=2, batch_size=4, lr=1e-3, max_new_tokens=4, warmup_ratio=0.0, grad_accum=grad_accum
        )
        loaded, outcome = train_trl(
            tiny,
            examples,
            budget=budget,
            seed=0,
            work_dir=tmp_path / f"accum{grad_accum}",
            model_folder=folder,
        )
        assert outcome.steps_done == 2
        trained[grad_accum] = {
            name: tensor.detach().clone() for name, tensor in loaded.model.state_dict().items()
        }

    start = tiny.model.state_dict()
    moved = max((trained[1][name] - start[name]).abs().max().item() for name in start)
    assert moved > 1e-4  # the step changed the weights, so equal results below mean equal updates
    for name, tensor in trained[1].items():
        torch.testing.assert_close(trained[2][name], tensor, rtol=1e-4, atol=1e-5, msg=name)
