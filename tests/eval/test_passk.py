"""pass@k (Chen et al. 2021, eq. 1) against values worked out by hand from the binomials."""

from __future__ import annotations

import pytest

from unitrl.eval.passk import estimate_pass_at_k, pass_at_k
from unitrl.records import Result


def _results(task: str, passed: list[bool]) -> list[Result]:
    return [Result(task, i, p, float(p), "pass" if p else "fail") for i, p in enumerate(passed)]


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),
        (5, 2, 1, 0.4),  # c / n
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (10, 1, 10, 1.0),  # n - c < k: every 10-subset holds the correct one
        (5, 5, 3, 1.0),
        (200, 1, 100, 0.5),  # 1 - C(199,100)/C(200,100) = 1 - 100/200; huge binomials never formed
    ],
)
def test_estimator_matches_hand_values(n: int, c: int, k: int, expected: float) -> None:
    assert estimate_pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_estimator_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        estimate_pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        estimate_pass_at_k(3, 1, 4)


def test_pass_at_k_averages_tasks_and_only_reports_k_every_task_supports() -> None:
    results = _results("A", [True, False, False]) + _results("B", [True, True, True])
    got = pass_at_k(results, ks=(1, 2, 10))
    # pass@1 = (1/3 + 1) / 2; pass@2: A = 1 - C(2,2)/C(3,2) = 2/3, B = 1 -> 5/6
    assert set(got) == {"pass@1", "pass@2"}
    assert got["pass@1"] == pytest.approx(2 / 3)
    assert got["pass@2"] == pytest.approx(5 / 6)


def test_pass_at_k_limited_by_the_task_with_fewest_samples() -> None:
    results = _results("A", [False] * 12) + _results("B", [True] * 9)
    assert set(pass_at_k(results, ks=(1, 10, 100))) == {"pass@1"}
    assert pass_at_k(results)["pass@1"] == pytest.approx(0.5)
    assert pass_at_k([]) == {}
