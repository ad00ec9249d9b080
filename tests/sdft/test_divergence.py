"""Divergences against float64 brute force, chunked against unchunked, gradients against autograd."""

from __future__ import annotations

import math

import pytest
import torch

from worker.sdft.divergence import (
    completion_nll_stats,
    completion_token_stats,
    flat_sequence_mean,
    linear_head,
    masked_sequence_mean,
    token_divergence,
)

DIVERGENCES = [("forward_kl", 0.5), ("reverse_kl", 0.5), ("jsd", 0.5), ("jsd", 0.1), ("jsd", 0.9)]


def brute_force(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, divergence: str, beta: float
) -> list[float]:
    """Per-row divergence by the textbook formula with Python floats (float64)."""
    values = []
    for student_row, teacher_row in zip(student_logits.tolist(), teacher_logits.tolist(), strict=True):

        def normalize(row: list[float]) -> list[float]:
            top = max(row)
            weights = [math.exp(x - top) for x in row]
            total = sum(weights)
            return [w / total for w in weights]

        p_student, p_teacher = normalize(student_row), normalize(teacher_row)

        def kl(p: list[float], q: list[float]) -> float:
            return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)

        if divergence == "forward_kl":
            values.append(kl(p_teacher, p_student))
        elif divergence == "reverse_kl":
            values.append(kl(p_student, p_teacher))
        else:
            mixture = [beta * t + (1 - beta) * s for s, t in zip(p_student, p_teacher, strict=True)]
            values.append(beta * kl(p_teacher, mixture) + (1 - beta) * kl(p_student, mixture))
    return values


@pytest.mark.parametrize(("divergence", "beta"), DIVERGENCES)
def test_each_divergence_matches_float64_brute_force(divergence: str, beta: float) -> None:
    generator = torch.Generator().manual_seed(0)
    student_logits = torch.randn(6, 50, generator=generator) * 3
    teacher_logits = torch.randn(6, 50, generator=generator) * 3
    got = token_divergence(student_logits, teacher_logits, divergence=divergence, beta=beta)
    expected = torch.tensor(
        brute_force(student_logits, teacher_logits, divergence, beta), dtype=torch.float32
    )
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert bool((got >= -1e-6).all())
    # Identical distributions: zero divergence.
    same = token_divergence(student_logits, student_logits, divergence=divergence, beta=beta)
    torch.testing.assert_close(same, torch.zeros(6), atol=1e-6, rtol=0)


def test_masked_mean_over_padded_batch_matches_per_sequence_loop() -> None:
    """Mean over each sequence's unmasked tokens, then over sequences; padding and empty rows ignored."""
    generator = torch.Generator().manual_seed(1)
    student_logits = torch.randn(3, 5, 40, generator=generator) * 2  # (B, T, V)
    teacher_logits = torch.randn(3, 5, 40, generator=generator) * 2
    # Padding positions hold garbage that must not leak into the result.
    student_logits[0, 3:] = 1e4
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    per_token = token_divergence(
        student_logits.reshape(-1, 40), teacher_logits.reshape(-1, 40), divergence="forward_kl"
    ).reshape(3, 5)
    got = masked_sequence_mean(per_token, mask)
    sequence_means = []
    for row in range(3):
        positions = [t for t in range(5) if mask[row, t]]
        if positions:
            values = brute_force(
                student_logits[row, positions], teacher_logits[row, positions], "forward_kl", 0.5
            )
            sequence_means.append(sum(values) / len(values))
    expected = sum(sequence_means) / len(sequence_means)
    assert abs(float(got) - expected) < 1e-5
    # The packed form gives the same reduction.
    rows = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    packed = torch.cat([per_token[0, :3], per_token[1, 1:]])
    torch.testing.assert_close(flat_sequence_mean(packed, rows, 3), got)


@pytest.mark.parametrize("divergence", ["forward_kl", "reverse_kl", "jsd"])
def test_top_k_is_the_divergence_over_student_top_k_plus_a_tail_bucket(divergence: str) -> None:
    generator = torch.Generator().manual_seed(2)
    student_logits = torch.randn(4, 30, generator=generator) * 2
    teacher_logits = torch.randn(4, 30, generator=generator) * 2
    got = token_divergence(student_logits, teacher_logits, divergence=divergence, top_k=5)
    expected = []
    for row in range(4):
        student_p = student_logits[row].double().softmax(-1)
        teacher_p = teacher_logits[row].double().softmax(-1)
        support = student_p.topk(5).indices
        bucketed = [
            torch.cat([p[support], (1 - p[support].sum()).unsqueeze(0)]).log() for p in (student_p, teacher_p)
        ]
        # Log-probabilities of a (k + 1)-way distribution: their "logits" are themselves.
        expected.append(brute_force(bucketed[0][None], bucketed[1][None], divergence, 0.5)[0])
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float32), rtol=1e-4, atol=1e-6)
    # With k = V it is the full divergence.
    full = token_divergence(student_logits, teacher_logits, divergence=divergence)
    torch.testing.assert_close(
        token_divergence(student_logits, teacher_logits, divergence=divergence, top_k=30), full
    )


@pytest.mark.parametrize(("divergence", "beta"), DIVERGENCES)
def test_gradient_matches_autograd_on_float64_reference(divergence: str, beta: float) -> None:
    generator = torch.Generator().manual_seed(3)
    student_logits = (torch.randn(5, 20, generator=generator) * 2).requires_grad_()
    teacher_logits = torch.randn(5, 20, generator=generator) * 2
    token_divergence(student_logits, teacher_logits, divergence=divergence, beta=beta).mean().backward()

    reference_logits = student_logits.detach().double().requires_grad_()
    p_student = reference_logits.softmax(-1)
    p_teacher = teacher_logits.double().softmax(-1)
    if divergence == "forward_kl":
        reference = (p_teacher * (p_teacher.log() - p_student.log())).sum(-1)
    elif divergence == "reverse_kl":
        reference = (p_student * (p_student.log() - p_teacher.log())).sum(-1)
    else:
        mixture = beta * p_teacher + (1 - beta) * p_student
        reference = beta * (p_teacher * (p_teacher / mixture).log()).sum(-1) + (1 - beta) * (
            p_student * (p_student / mixture).log()
        ).sum(-1)
    reference.mean().backward()
    torch.testing.assert_close(student_logits.grad, reference_logits.grad.float(), rtol=1e-4, atol=1e-6)


def _head_problem(
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.nn.Linear, torch.nn.Linear]:
    generator = torch.Generator().manual_seed(seed)
    student_head = torch.nn.Linear(8, 64, bias=False)
    teacher_head = torch.nn.Linear(8, 64, bias=False)
    with torch.no_grad():
        student_head.weight.copy_(torch.randn(64, 8, generator=generator))
        teacher_head.weight.copy_(torch.randn(64, 8, generator=generator))
    student_hidden = torch.randn(37, 8, generator=generator)
    teacher_hidden = torch.randn(37, 8, generator=generator)
    targets = torch.randint(64, (37,), generator=generator)
    return student_hidden, teacher_hidden, targets, student_head, teacher_head


@pytest.mark.parametrize(("divergence", "top_k"), [("forward_kl", None), ("reverse_kl", None), ("jsd", 7)])
def test_chunked_equals_unchunked_in_value_and_gradient(divergence: str, top_k: int | None) -> None:
    results = []
    for chunk_size in (None, 5, 16):
        student_hidden, teacher_hidden, targets, student_head, teacher_head = _head_problem(4)
        student_hidden.requires_grad_()
        stats = completion_token_stats(
            student_hidden,
            teacher_hidden,
            targets,
            student_head=linear_head(student_head),
            teacher_head=linear_head(teacher_head),
            divergence=divergence,
            top_k=top_k,
            chunk_size=chunk_size,
        )
        stats.divergence.mean().backward()
        results.append((stats, student_hidden.grad, student_head.weight.grad, teacher_head.weight.grad))
    (reference, hidden_grad, weight_grad, teacher_grad), *chunked = results
    assert teacher_grad is None  # the teacher is a target, never trained
    for stats, other_hidden_grad, other_weight_grad, other_teacher_grad in chunked:
        torch.testing.assert_close(stats.divergence, reference.divergence)
        torch.testing.assert_close(stats.student_logprob, reference.student_logprob)
        torch.testing.assert_close(stats.teacher_logprob, reference.teacher_logprob)
        torch.testing.assert_close(stats.student_entropy, reference.student_entropy)
        torch.testing.assert_close(other_hidden_grad, hidden_grad)
        torch.testing.assert_close(other_weight_grad, weight_grad)
        assert other_teacher_grad is None


def test_diagnostics_are_log_probs_of_the_sampled_tokens() -> None:
    student_hidden, teacher_hidden, targets, student_head, teacher_head = _head_problem(5)
    stats = completion_token_stats(
        student_hidden,
        teacher_hidden,
        targets,
        student_head=linear_head(student_head),
        teacher_head=linear_head(teacher_head),
        chunk_size=8,
    )
    expected_student = student_head(student_hidden).log_softmax(-1).gather(-1, targets[:, None]).squeeze(-1)
    expected_teacher = teacher_head(teacher_hidden).log_softmax(-1).gather(-1, targets[:, None]).squeeze(-1)
    torch.testing.assert_close(stats.student_logprob, expected_student.detach())
    torch.testing.assert_close(stats.teacher_logprob, expected_teacher.detach())


def test_a_live_teacher_sharing_the_student_head_passes_no_gradient() -> None:
    """With one head for both (live teacher), only the student path may carry gradient."""
    student_hidden, teacher_hidden, targets, head, _ = _head_problem(6)
    stats = completion_token_stats(
        student_hidden,
        teacher_hidden,
        targets,
        student_head=linear_head(head),
        teacher_head=linear_head(head),
        chunk_size=10,
    )
    stats.divergence.mean().backward()
    shared_grad = head.weight.grad.clone()

    frozen = torch.nn.Linear(8, 64, bias=False)
    with torch.no_grad():
        frozen.weight.copy_(head.weight)
    head.weight.grad = None
    stats = completion_token_stats(
        student_hidden,
        teacher_hidden,
        targets,
        student_head=linear_head(head),
        teacher_head=linear_head(frozen),
        chunk_size=10,
    )
    stats.divergence.mean().backward()
    torch.testing.assert_close(shared_grad, head.weight.grad)


def test_chunked_nll_is_cross_entropy() -> None:
    student_hidden, _, targets, head, _ = _head_problem(7)
    for chunk_size in (None, 6):
        hidden = student_hidden.clone().requires_grad_()
        stats = completion_nll_stats(hidden, targets, head=linear_head(head), chunk_size=chunk_size)
        expected = torch.nn.functional.cross_entropy(head(student_hidden), targets, reduction="none")
        torch.testing.assert_close(stats.divergence, expected)
        stats.divergence.mean().backward()
        reference = student_hidden.clone().requires_grad_()
        torch.nn.functional.cross_entropy(head(reference), targets).backward()
        torch.testing.assert_close(hidden.grad, reference.grad)


def test_jsd_needs_beta_strictly_inside_zero_one() -> None:
    logits = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="0 < beta < 1"):
        token_divergence(logits, logits, divergence="jsd", beta=0.0)
    with pytest.raises(ValueError, match="unknown divergence"):
        token_divergence(logits, logits, divergence="kl")


def test_matches_trl_sdft_loss_helpers() -> None:
    """TRL's experimental SDFT helpers as an oracle (alpha 0 = forward KL, 1 = reverse, between = JSD)."""
    from trl.experimental.sdft import loss_utils  # a dev dependency: a moved module fails, never skips

    generator = torch.Generator().manual_seed(8)
    student_logits = torch.randn(6, 40, generator=generator) * 2
    teacher_logits = torch.randn(6, 40, generator=generator) * 2
    for divergence, alpha in (("forward_kl", 0.0), ("reverse_kl", 1.0), ("jsd", 0.3)):
        ours = token_divergence(student_logits, teacher_logits, divergence=divergence, beta=alpha)
        theirs = loss_utils.compute_full_logit_self_distillation_loss(
            student_logits, teacher_logits, distillation_alpha=alpha
        )
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
        ours_top = token_divergence(
            student_logits, teacher_logits, divergence=divergence, beta=alpha, top_k=8
        )
        # The student's top-k is TRL's SDFT support: newer versions name it, older ones only have it.
        helper = loss_utils.compute_topk_self_distillation_loss
        support = {"topk_support": "student"} if "topk_support" in helper.__code__.co_varnames else {}
        theirs_top = helper(
            student_logits,
            teacher_logits,
            distillation_topk=8,
            distillation_alpha=alpha,
            distillation_add_tail=True,
            **support,
        )
        torch.testing.assert_close(ours_top, theirs_top, rtol=1e-5, atol=1e-6)
