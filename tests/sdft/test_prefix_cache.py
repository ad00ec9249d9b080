"""The teacher prompt run once per prompt, its KV cache shared by that prompt's rollouts: same hidden states."""

from __future__ import annotations

import pytest
import torch

from tests.sdft.test_fused_head import step_gradients
from worker.sdft.batching import completion_hidden, output_head, pack, shared_prompt_completion_hidden
from worker.sdft.config import TrainConfig
from worker.sdft.train import prepare_model


@pytest.mark.parametrize("skip_first", [0, 2])
def test_shared_prompt_hidden_states_equal_the_packed_ones(tiny, skip_first: int) -> None:
    short, long = [1, 5, 9, 14], [3, 8, 2, 7, 11, 4, 6, 10, 12]
    # Two rollouts per prompt, uneven completions: empty, one token, longer than the rest.
    prompts = [short, short, long, long, short]
    completions = [[20, 21, 22], [], [30, 31, 32, 33, 34, 35], [40], [50, 51, 52, 53]]
    model = tiny.model.eval()
    batch = pack(prompts, completions, pad_token_id=tiny.pad_token_id, skip_first=skip_first)
    with torch.no_grad():
        expected = completion_hidden(model, batch)  # (N, H)
    got = shared_prompt_completion_hidden(
        model, prompts, completions, pad_token_id=tiny.pad_token_id, skip_first=skip_first
    )
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    head = output_head(model)
    torch.testing.assert_close(
        torch.log_softmax(head(got), -1).gather(-1, batch.target_ids[:, None]),
        torch.log_softmax(head(expected), -1).gather(-1, batch.target_ids[:, None]),
        rtol=1e-5,
        atol=1e-5,
    )


def test_an_sdft_step_with_the_shared_teacher_prompt_has_the_same_loss_and_gradients(tiny) -> None:
    config = TrainConfig(
        batch_size=2, n_rollouts=3, max_new_tokens=8, skip_first_tokens=1, teacher="ema", loss_chunk_size=16
    )
    prepare_model(tiny, config)
    shared_loss, shared_grads = step_gradients(tiny, config, share_teacher_prompts=True)
    plain_loss, plain_grads = step_gradients(tiny, config, share_teacher_prompts=False)
    assert shared_loss > 0 and shared_loss == pytest.approx(plain_loss, rel=1e-5)
    assert shared_grads.keys() == plain_grads.keys()
    for name, grad in shared_grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)
