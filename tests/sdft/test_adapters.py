"""One adapter per skill: two skills' LoRA adapters trained independently on the tiny base, loaded together,
switched on and off, and one replaced without touching the other."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worker.sdft.adapters import active_adapters, load_adapter_set, set_active
from worker.sdft.checkpoints import CheckpointError, load_checkpoint, write_checkpoint
from worker.sdft.config import TrainConfig
from worker.sdft.data import Example
from worker.sdft.models import load_model
from worker.sdft.sink import ListSink
from worker.sdft.train import train


def logits(loaded, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return loaded.model(torch.tensor([ids])).logits


def train_adapter(models_dir: Path, dest: Path, answer: str, *, seed: int, steps: int = 2) -> Path:
    """A skill's adapter: SFT with LoRA from the base model alone (not from another skill's weights)."""
    base = load_model("tiny", models_dir=models_dir)
    examples = [Example(prompt=[{"role": "user", "content": "Hi"}], demonstration=answer)]
    config = TrainConfig(method="sft", steps=steps, batch_size=1, lr=5e-2, lora_rank=4, seed=seed)
    train(
        loaded=base,
        examples=examples,
        config=config,
        sink=ListSink(),
        work_dir=dest.parent / f"work-{dest.name}",
    )
    return write_checkpoint(base, dest, manifest={"config": config.to_dict()})


@pytest.fixture(scope="module")
def adapters(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "greet": train_adapter(models_dir, root / "greet", "Hello!", seed=1),
        "shout": train_adapter(models_dir, root / "shout", "WORD!", seed=2),
        "shout-v2": train_adapter(models_dir, root / "shout-v2", "LOUD WORD!", seed=3, steps=3),
    }


@pytest.fixture(scope="module")
def ids(models_dir: Path) -> list[int]:
    return load_model("tiny", models_dir=models_dir).tokenizer("Hi there", add_special_tokens=False)[
        "input_ids"
    ]


def test_each_adapter_alone_is_its_checkpoint_and_none_is_the_base(adapters, models_dir: Path, ids) -> None:
    both = load_adapter_set(
        "tiny", {"greet": adapters["greet"], "shout": adapters["shout"]}, models_dir=models_dir
    )
    for name in ("greet", "shout"):
        with active_adapters(both, [name]):
            torch.testing.assert_close(
                logits(both, ids), logits(load_checkpoint(adapters[name], models_dir=models_dir), ids)
            )
    with active_adapters(both, []):
        torch.testing.assert_close(logits(both, ids), logits(load_model("tiny", models_dir=models_dir), ids))
    # after the blocks, both are on again: a third model, unlike either skill alone
    combined = logits(both, ids)
    with active_adapters(both, ["greet"]):
        assert not torch.allclose(combined, logits(both, ids))


def test_active_adapters_add_their_updates_layer_by_layer(adapters, models_dir: Path) -> None:
    both = load_adapter_set(
        "tiny", {"greet": adapters["greet"], "shout": adapters["shout"]}, models_dir=models_dir
    )
    from peft.tuners.lora import LoraLayer

    layer = next(module for module in both.model.modules() if isinstance(module, LoraLayer))
    x = torch.randn(3, layer.in_features)

    def out(names: list[str]) -> torch.Tensor:
        set_active(both, names)
        with torch.no_grad():
            return layer(x)

    base, greet, shout, together = out([]), out(["greet"]), out(["shout"]), out(["greet", "shout"])
    assert not torch.allclose(greet, base) and not torch.allclose(shout, base)
    torch.testing.assert_close(together - base, (greet - base) + (shout - base))


def test_replacing_one_skills_adapter_leaves_the_other_untouched(adapters, models_dir: Path, ids) -> None:
    before = load_adapter_set(
        "tiny", {"greet": adapters["greet"], "shout": adapters["shout"]}, models_dir=models_dir
    )
    after = load_adapter_set(
        "tiny", {"greet": adapters["greet"], "shout": adapters["shout-v2"]}, models_dir=models_dir
    )
    assert not torch.allclose(logits(before, ids), logits(after, ids))
    with active_adapters(before, ["greet"]), active_adapters(after, ["greet"]):
        torch.testing.assert_close(logits(before, ids), logits(after, ids))
    greet_weights = {k: v for k, v in before.model.state_dict().items() if ".greet." in k}
    assert greet_weights and all(
        torch.equal(v, after.model.state_dict()[k]) for k, v in greet_weights.items()
    )


def test_refuses_a_full_checkpoint_an_adapter_of_another_base_and_unknown_names(
    adapters, models_dir: Path, tmp_path: Path
) -> None:
    full = write_checkpoint(load_model("tiny", models_dir=models_dir), tmp_path / "full", manifest={})
    with pytest.raises(CheckpointError, match="not a LoRA adapter"):
        load_adapter_set("tiny", {"full": full}, models_dir=models_dir)
    with pytest.raises(CheckpointError, match="not over the base model 'smollm2-135m'"):
        load_adapter_set("smollm2-135m", {"greet": adapters["greet"]}, models_dir=models_dir)
    loaded = load_adapter_set("tiny", {"greet": adapters["greet"]}, models_dir=models_dir)
    with pytest.raises(ValueError, match="not loaded: shout"):
        set_active(loaded, ["shout"])
