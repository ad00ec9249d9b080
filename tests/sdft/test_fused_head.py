"""The fused LM-head divergence against the checkpointed chunks: same loss, same gradients.

Unit cases on small random heads (every divergence, top-k, bias, soft-capping, a shared live head),
then whole SDFT steps on the tiny model (full and LoRA, EMA / frozen / live teachers, skipped first
tokens, uneven completion lengths) with the fused and the unfused path.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from tests.sdft.test_train import EXAMPLES
from worker.sdft.config import TrainConfig
from worker.sdft.divergence import completion_nll_stats, completion_token_stats
from worker.sdft.fused_head import HeadWeights, fused_completion_loss, fused_nll_loss, head_weights
from worker.sdft.prompts import build_prompt_pair
from worker.sdft.rollout import TransformersRolloutEngine
from worker.sdft.steps import sdft_step, sft_step
from worker.sdft.teacher import Teachers
from worker.sdft.train import prepare_model

CASES = [
    ("forward_kl", 0.5, None),
    ("reverse_kl", 0.5, None),
    ("jsd", 0.5, None),
    ("jsd", 0.2, None),
    ("forward_kl", 0.5, 7),
    ("reverse_kl", 0.5, 7),
    ("jsd", 0.7, 7),
]


def _problem(seed: int, *, bias: bool) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    rows, hidden, vocab = 23, 8, 64
    return {
        "student_hidden": torch.randn(rows, hidden, generator=generator),
        "teacher_hidden": torch.randn(rows, hidden, generator=generator),
        "student_weight": torch.randn(vocab, hidden, generator=generator),
        "teacher_weight": torch.randn(vocab, hidden, generator=generator),
        "student_bias": torch.randn(vocab, generator=generator) if bias else None,
        "targets": torch.randint(vocab, (rows,), generator=generator),
        # Uneven weights, some zero: the reduction's masks and per-sequence means are just weights.
        "weights": torch.rand(rows, generator=generator) * (torch.arange(rows) % 5 != 0),
    }


def _leaf(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.clone().requires_grad_()


def _unfused(problem: dict, *, divergence: str, beta: float, top_k: int | None, softcap: float | None):
    hidden, weight, bias = (_leaf(problem[k]) for k in ("student_hidden", "student_weight", "student_bias"))

    def student_head(rows: torch.Tensor) -> torch.Tensor:
        logits = torch.nn.functional.linear(rows, weight, bias)
        return torch.tanh(logits / softcap) * softcap if softcap else logits

    def teacher_head(rows: torch.Tensor) -> torch.Tensor:
        logits = rows @ problem["teacher_weight"].T
        return torch.tanh(logits / softcap) * softcap if softcap else logits

    stats = completion_token_stats(
        hidden,
        problem["teacher_hidden"],
        problem["targets"],
        student_head=student_head,
        teacher_head=teacher_head,
        divergence=divergence,
        beta=beta,
        top_k=top_k,
        chunk_size=None,
    )
    loss = (stats.divergence * problem["weights"]).sum()
    loss.backward()
    return loss, stats, (hidden.grad, weight.grad, None if bias is None else bias.grad)


@pytest.mark.parametrize(("divergence", "beta", "top_k"), CASES)
@pytest.mark.parametrize("chunk_size", [None, 5])
def test_fused_loss_and_gradients_equal_the_unfused_ones(
    divergence: str, beta: float, top_k: int | None, chunk_size: int | None
) -> None:
    problem = _problem(1, bias=True)
    expected_loss, expected_stats, expected_grads = _unfused(
        problem, divergence=divergence, beta=beta, top_k=top_k, softcap=None
    )
    hidden, weight, bias = (_leaf(problem[k]) for k in ("student_hidden", "student_weight", "student_bias"))
    loss, stats = fused_completion_loss(
        hidden,
        problem["teacher_hidden"],
        problem["targets"],
        problem["weights"],
        student_head=HeadWeights(weight, bias),
        teacher_head=HeadWeights(problem["teacher_weight"], None),
        divergence=divergence,
        beta=beta,
        top_k=top_k,
        chunk_size=chunk_size,
    )
    (loss * 3.0).backward()  # the gradient formed in forward is scaled by the upstream gradient
    torch.testing.assert_close(loss, expected_loss.detach())
    torch.testing.assert_close(stats.divergence, expected_stats.divergence.detach())
    torch.testing.assert_close(stats.student_logprob, expected_stats.student_logprob)
    torch.testing.assert_close(stats.teacher_logprob, expected_stats.teacher_logprob)
    torch.testing.assert_close(stats.student_entropy, expected_stats.student_entropy)
    for got, expected in zip((hidden.grad, weight.grad, bias.grad), expected_grads, strict=True):
        torch.testing.assert_close(got, 3.0 * expected, rtol=1e-4, atol=1e-4)


def test_soft_capped_logits_and_no_grad_mode() -> None:
    problem = _problem(2, bias=False)
    expected_loss, expected_stats, expected_grads = _unfused(
        problem, divergence="forward_kl", beta=0.5, top_k=None, softcap=3.0
    )
    hidden, weight = _leaf(problem["student_hidden"]), _leaf(problem["student_weight"])
    arguments = (hidden, problem["teacher_hidden"], problem["targets"], problem["weights"])
    heads = {
        "student_head": HeadWeights(weight, None, 3.0),
        "teacher_head": HeadWeights(problem["teacher_weight"], None, 3.0),
    }
    loss, _ = fused_completion_loss(*arguments, **heads, chunk_size=4)
    loss.backward()
    torch.testing.assert_close(loss, expected_loss.detach())
    torch.testing.assert_close(hidden.grad, expected_grads[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(weight.grad, expected_grads[1], rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        loss, stats = fused_completion_loss(*arguments, **heads, chunk_size=4)
    assert not loss.requires_grad
    torch.testing.assert_close(stats.divergence, expected_stats.divergence.detach())


def test_a_live_teacher_sharing_the_student_head_gets_no_gradient_through_it() -> None:
    problem = _problem(3, bias=False)
    head = torch.nn.Linear(8, 64, bias=False)
    with torch.no_grad():
        head.weight.copy_(problem["student_weight"])
    hidden = _leaf(problem["student_hidden"])
    shared = HeadWeights(head.weight, None)
    loss, _ = fused_completion_loss(
        hidden,
        problem["teacher_hidden"],
        problem["targets"],
        problem["weights"],
        student_head=shared,
        teacher_head=shared,
        chunk_size=6,
    )
    loss.backward()
    problem["teacher_weight"] = problem["student_weight"]
    _, _, (expected_hidden, expected_weight, _) = _unfused(
        problem, divergence="forward_kl", beta=0.5, top_k=None, softcap=None
    )
    torch.testing.assert_close(hidden.grad, expected_hidden, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.weight.grad, expected_weight, rtol=1e-4, atol=1e-5)


def test_a_head_that_is_not_a_plain_linear_layer_is_not_fused(tiny) -> None:
    assert head_weights(tiny.model) is not None
    tiny.model.lm_head = torch.nn.Sequential(tiny.model.lm_head)
    assert head_weights(tiny.model) is None


def step_gradients(tiny, config: TrainConfig, **options: bool) -> tuple[float, dict[str, torch.Tensor]]:
    """One SDFT step's loss and gradients, rollouts seeded so both paths see the same completions."""
    model = tiny.model
    model.zero_grad(set_to_none=True)
    pairs = [build_prompt_pair(tiny.tokenizer, e, template=config.teacher_template) for e in EXAMPLES[:3]]
    teachers = Teachers(model, mode=config.teacher, ema_rate=config.ema_rate, need_reference=False)
    torch.manual_seed(5)
    if config.teacher == "ema":  # a teacher that differs from the student, as after some steps
        with torch.no_grad():  # in what trains: a LoRA teacher shares the frozen base with the student
            moving = dict(teachers.teacher.named_parameters())
            for name in teachers.names:
                moving[name].add_(0.01 * torch.randn_like(moving[name]))
    totals, _ = sdft_step(
        loaded=tiny,
        pairs=pairs,
        teachers=teachers,
        config=config,
        engine=TransformersRolloutEngine(),
        autocast=contextlib.nullcontext(),
        want_traces=False,
        **options,
    )
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return totals.get("loss"), grads


@pytest.mark.parametrize(
    ("teacher", "lora_rank", "divergence"),
    [("ema", 4, "forward_kl"), ("live", None, "jsd"), ("frozen", None, "reverse_kl")],
)
def test_an_sdft_step_has_the_same_loss_and_gradients_fused_or_not(
    tiny, teacher: str, lora_rank: int | None, divergence: str
) -> None:
    config = TrainConfig(
        batch_size=3,
        n_rollouts=2,
        grad_accum=3,
        max_new_tokens=9,
        skip_first_tokens=2,
        loss_chunk_size=7,
        teacher=teacher,  # type: ignore[arg-type]
        divergence=divergence,  # type: ignore[arg-type]
        lora_rank=lora_rank,
    )
    prepare_model(tiny, config)
    fused_loss, fused_grads = step_gradients(tiny, config, fused=True)
    plain_loss, plain_grads = step_gradients(tiny, config, fused=False)
    assert fused_loss > 0 and fused_loss == pytest.approx(plain_loss, rel=1e-5)
    assert fused_grads.keys() == plain_grads.keys() and fused_grads
    if lora_rank:
        assert all("lora_" in name for name in fused_grads)
    for name, grad in fused_grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_under_bf16_autocast_the_head_runs_in_bf16_like_the_model_would() -> None:
    problem = _problem(4, bias=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected_loss, _, expected_grads = _unfused(
            problem, divergence="forward_kl", beta=0.5, top_k=None, softcap=None
        )
        hidden, weight = _leaf(problem["student_hidden"]), _leaf(problem["student_weight"])
        loss, _ = fused_completion_loss(
            hidden,
            problem["teacher_hidden"],
            problem["targets"],
            problem["weights"],
            student_head=HeadWeights(weight, None),
            teacher_head=HeadWeights(problem["teacher_weight"], None),
            chunk_size=8,
        )
    loss.backward()
    assert weight.grad.dtype == torch.float32 and hidden.grad.dtype == torch.float32
    torch.testing.assert_close(loss, expected_loss.detach())
    # bf16 matmuls on both sides, rounded in different places: agreement to bf16's precision.
    torch.testing.assert_close(hidden.grad, expected_grads[0], rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(weight.grad, expected_grads[1], rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("chunk_size", [None, 6])
def test_fused_nll_equals_the_chunked_cross_entropy(chunk_size: int | None) -> None:
    problem = _problem(5, bias=True)
    hidden, weight, bias = (_leaf(problem[k]) for k in ("student_hidden", "student_weight", "student_bias"))
    loss, stats = fused_nll_loss(
        hidden, problem["targets"], problem["weights"], head=HeadWeights(weight, bias), chunk_size=chunk_size
    )
    loss.backward()
    reference = [_leaf(problem[k]) for k in ("student_hidden", "student_weight", "student_bias")]
    expected = completion_nll_stats(
        reference[0],
        problem["targets"],
        head=lambda rows: torch.nn.functional.linear(rows, reference[1], reference[2]),
        chunk_size=None,
    )
    (expected.divergence * problem["weights"]).sum().backward()
    torch.testing.assert_close(stats.divergence, expected.divergence.detach())
    torch.testing.assert_close(stats.student_entropy, expected.student_entropy)
    for got, want in zip((hidden, weight, bias), reference, strict=True):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-4, atol=1e-5)


def test_an_sft_step_has_the_same_loss_and_gradients_fused_or_not(tiny) -> None:
    config = TrainConfig(method="sft", batch_size=3, grad_accum=3, loss_chunk_size=5)
    pairs = [build_prompt_pair(tiny.tokenizer, e, template=config.teacher_template) for e in EXAMPLES[:3]]
    results = []
    for fused in (True, False):
        tiny.model.zero_grad(set_to_none=True)
        totals = sft_step(
            loaded=tiny, pairs=pairs, config=config, autocast=contextlib.nullcontext(), fused=fused
        )
        grads = {name: p.grad.clone() for name, p in tiny.model.named_parameters() if p.grad is not None}
        results.append((totals.get("loss"), grads))
    (fused_loss, fused_grads), (plain_loss, plain_grads) = results
    assert fused_loss > 0 and fused_loss == pytest.approx(plain_loss, rel=1e-5)
    assert fused_grads.keys() == plain_grads.keys() and fused_grads
    for name, grad in fused_grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)
