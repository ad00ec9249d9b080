"""The unbiased pass@k estimator."""

from __future__ import annotations

from collections.abc import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c are correct (Chen et al., 2021).

    pass@k = 1 - C(n-c, k) / C(n, k): the chance that k samples drawn without replacement from
    the n include a correct one. Computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i), which never forms
    the huge binomials.
    """
    for label, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"pass_at_k: {label} must be an integer, got {value!r}")
    if n < 1 or not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs n >= 1, 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0  # every k-subset holds a correct sample
    probability_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        probability_all_wrong *= 1.0 - k / i
    return 1.0 - probability_all_wrong


def mean_pass_at_k(sample_counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k over an evaluation set: the mean of `pass_at_k(n, c, k)` over its (n, c) pairs."""
    if not sample_counts:
        raise ValueError("mean_pass_at_k needs at least one (n, c) pair")
    return sum(pass_at_k(n, c, k) for n, c in sample_counts) / len(sample_counts)
