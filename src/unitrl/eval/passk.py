"""pass@k with the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on
Code", eq. 1): for a task with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k), averaged over
tasks. The ratio of binomials is computed as the product prod_{i=n-c+1}^{n} (1 - k/i), which never forms
the huge binomials themselves (the paper's numerically stable form).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from unitrl.records import Result


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with `n` samples, `c` of them correct (requires n >= k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0  # every k-subset contains a correct sample
    ratio = 1.0  # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
    for i in range(n - c + 1, n + 1):
        ratio *= 1.0 - k / i
    return 1.0 - ratio


def task_counts(results: Iterable[Result]) -> dict[str, tuple[int, int]]:
    """task_id -> (samples, samples that passed every test)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        counts[r.task_id][0] += 1
        counts[r.task_id][1] += int(bool(r.passed))
    return {task: (n, c) for task, (n, c) in counts.items()}


def pass_at_k(results: list[Result], ks: Iterable[int] = (1, 10, 100)) -> dict[str, float]:
    """{"pass@k": mean over tasks} for each k that every task has at least k samples for."""
    counts = task_counts(results)
    if not counts:
        return {}
    fewest = min(n for n, _ in counts.values())
    return {
        f"pass@{k}": sum(estimate_pass_at_k(n, c, k) for n, c in counts.values()) / len(counts)
        for k in sorted(set(ks))
        if 1 <= k <= fewest
    }
