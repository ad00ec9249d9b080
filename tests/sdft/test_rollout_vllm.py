"""The optional vLLM rollout engine: clean refusal without vLLM or CUDA; on a GPU, the same token
log-probs as transformers (skipped with the reason elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worker.sdft.rollout_vllm import VLLMRolloutEngine, VLLMUnavailable, hf_weights, vllm_unavailable_reason

REASON = vllm_unavailable_reason()


def test_lora_weights_reach_vllm_merged_under_the_plain_model_names(tiny) -> None:
    from peft import LoraConfig, get_peft_model

    plain = {name: tensor.clone() for name, tensor in tiny.model.state_dict().items()}
    model = get_peft_model(tiny.model, LoraConfig(r=2, target_modules="all-linear", init_lora_weights=False))
    model.merge_adapter()
    try:
        weights = dict(hf_weights(model))
    finally:
        model.unmerge_adapter()
    assert weights.keys() == plain.keys()
    # Merged: the adapted layers differ from the base weights, the rest is untouched.
    changed = {name for name in plain if not torch.equal(weights[name], plain[name])}
    assert changed and all("proj" in name for name in changed)


@pytest.mark.skipif(REASON is None, reason="vLLM and CUDA are present")
def test_without_vllm_or_cuda_the_engine_refuses_with_the_reason() -> None:
    with pytest.raises(VLLMUnavailable, match=REASON):
        VLLMRolloutEngine("unused")


@pytest.mark.gpu
@pytest.mark.skipif(REASON is not None, reason=f"vLLM engine unavailable: {REASON}")
def test_vllm_and_transformers_give_the_same_token_log_probs(models_dir: Path) -> None:
    """The engine as training builds it (architecture only, the student synced in) samples tokens whose
    reported log-probs match the trainer's scoring: the importance weight is ~1 on fresh weights."""
    from worker.sdft.logprobs import completion_logprobs
    from worker.sdft.models import load_model

    loaded = load_model("smollm2-135m", models_dir=models_dir)
    loaded.model.to("cuda", dtype=torch.float32)
    engine = VLLMRolloutEngine.for_model(loaded, dtype="float32", max_model_len=1024)
    prompt = loaded.tokenizer("The capital of France is")["input_ids"]
    completions = engine.generate(
        loaded.model, [prompt] * 4, eos_token_ids=loaded.eos_token_ids, pad_token_id=0, max_new_tokens=12
    )
    for completion in completions:
        assert completion.logprobs is not None and len(completion.logprobs) >= len(completion.token_ids) - 1
        tokens = completion.token_ids
        ours = completion_logprobs(loaded.model, prompt, tokens, pad_token_id=loaded.pad_token_id)
        ours = ours.gather(-1, torch.tensor(tokens, device=ours.device)[:, None]).squeeze(-1).cpu()
        theirs = torch.tensor(completion.logprobs)
        torch.testing.assert_close(theirs, ours[: len(theirs)], rtol=0, atol=2e-2)
