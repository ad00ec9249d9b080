"""Training never runs cuDNN's attention backward (NaN query gradients on H100/H200, see train.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from worker.sdft.train import training_attention


def test_training_attention_leaves_out_cudnn_on_cuda_only() -> None:
    before = torch.backends.cuda.cudnn_sdp_enabled()
    with training_attention("cuda"):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.mem_efficient_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
    with training_attention("cpu"):
        assert torch.backends.cuda.cudnn_sdp_enabled() == before


def query_gradient_nonfinite(length: int = 704, head_dim: int = 64) -> int:
    """Non-finite elements of dQ for the failing shape: a mask, length 64 mod 128, every score ~ -120
    (a row's logsumexp below ln(FLT_MAX) in magnitude, as in an attention-sink head)."""
    generator = torch.Generator(device="cuda").manual_seed(0)

    def random(scale: float) -> torch.Tensor:
        shape = (1, 1, length, head_dim)
        return torch.randn(shape, generator=generator, device="cuda", dtype=torch.bfloat16) * scale

    q, k, v = random(0.1), random(0.1), random(1.0)
    q[..., 0], k[..., 0] = 1.0, -120 * math.sqrt(head_dim)
    q.requires_grad_()
    mask = torch.ones(length, length, dtype=torch.bool, device="cuda").tril()[None, None]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.backward(torch.ones_like(out))
    assert q.grad is not None
    return int((~torch.isfinite(q.grad)).sum())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_attention_gives_finite_query_gradients_where_cudnn_does_not() -> None:
    default = query_gradient_nonfinite()  # NaN on H100/H200 with torch >= 2.11; 0 where cuDNN is not picked
    with training_attention("cuda"):
        assert query_gradient_nonfinite() == 0
    print(f"default SDPA backends: {default} non-finite dQ elements; training_attention: 0")
