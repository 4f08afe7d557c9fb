"""Rewards from per-test statuses, spec parsing and mixes; and grading through the real sandbox."""

from __future__ import annotations

import pytest

from unitrl.errors import UserError
from unitrl.records import Problem, Result, TestResult
from unitrl.rl.rewards import TEST_REWARDS, combine, normalize, outcome, parse_reward_spec


def result(*statuses: str) -> Result:
    tests = [TestResult(s) for s in statuses]
    n = sum(s == "pass" for s in statuses)
    return Result("t", 0, passed=n == len(statuses), pass_rate=n / len(statuses), status="x", tests=tests)


CASES = {
    "all pass": (
        result("pass", "pass", "pass", "pass"),
        {"binary": 1, "pass_rate": 1, "coderl": 1, "rltf": 1, "partial": 1},
    ),
    "1 of 4": (
        result("pass", "fail", "fail", "fail"),
        {"binary": 0, "pass_rate": 0.25, "coderl": -0.3, "rltf": -0.3 + 1.3 * 0.25, "partial": 0.25},
    ),
    "runtime": (
        result("pass", "error", "fail", "fail"),
        {"binary": 0, "pass_rate": 0.25, "coderl": -0.6, "rltf": -0.6, "partial": -0.6},
    ),
    "timeout": (
        result("timeout", "pass"),
        {"binary": 0, "pass_rate": 0.5, "coderl": -0.6, "rltf": -0.6, "partial": -0.6},
    ),
    "syntax": (
        result("syntax-error", "syntax-error"),
        {"binary": 0, "pass_rate": 0, "coderl": -1, "rltf": -1, "partial": -1},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_test_rewards_by_hand(case):
    res, want = CASES[case]
    for name, value in want.items():
        assert TEST_REWARDS[name](res) == pytest.approx(value), name


def test_infrastructure_error_is_none_never_zero():
    res = result("pass", "infrastructure-error")
    assert outcome(res) == "infrastructure-error"
    assert all(fn(res) is None for fn in TEST_REWARDS.values())


def test_parse_and_combine_mix():
    terms = parse_reward_spec("0.5*binary + 0.25*pass_rate+rm:/tmp/my+model")
    assert [(t.weight, t.name, t.path) for t in terms][:2] == [
        (0.5, "binary", None),
        (0.25, "pass_rate", None),
    ]
    terms = parse_reward_spec("0.5*binary+0.5*rm:/models/rm")
    assert terms[1].name == "rm" and terms[1].path == "/models/rm"
    res = [result("pass", "pass"), result("pass", "fail")]
    rm = {"/models/rm": [3.0, 1.0]}  # normalized over the batch -> [1, -1]
    assert combine(terms, res, rm) == pytest.approx([0.5 * 1 + 0.5 * 1, 0.5 * 0 + 0.5 * -1])
    with pytest.raises(UserError, match="unknown reward"):
        parse_reward_spec("bleu")
    with pytest.raises(UserError, match="bad weight"):
        parse_reward_spec("x*binary")


def test_normalize_by_hand():
    assert normalize([1.0, 3.0]) == pytest.approx([-1.0, 1.0])
    assert normalize([2.0, 2.0]) == [0.0, 0.0]


def test_rewards_through_the_sandbox():
    from unitrl.rl.rewards import compute_rewards
    from unitrl.sandbox import Sandbox, SandboxConfig

    p = Problem(
        "add",
        "add two numbers",
        "f",
        tests=["assert f(1, 2) == 3", "assert f(0, 0) == 0", "assert f(2, 2) == 4"],
    )
    programs = [
        "def f(a, b):\n    return a + b\n",  # all pass
        "def f(a, b):\n    return a * b\n",  # passes 2, 2 -> 4 only... and 0*0 = 0: 2 of 3
        "def f(a, b):\n    return a / 0\n",  # runtime error
        "def f(a, b) return\n",  # syntax error
    ]
    with Sandbox(SandboxConfig(workers=2)) as sb:
        rewards, results = compute_rewards(parse_reward_spec("coderl"), sb, [p] * 4, programs)
        rltf, _ = compute_rewards(parse_reward_spec("rltf"), sb, [p] * 4, programs)
    assert rewards == pytest.approx([1.0, -0.3, -0.6, -1.0])
    assert rltf[1] == pytest.approx(-0.3 + 1.3 * 2 / 3)
    assert [r.passed for r in results] == [True, False, False, False]


def test_rm_reward_is_normalized_per_batch(tiny_reward_dir):
    from unitrl.rl.rewards import compute_rewards

    p = Problem("t", "double x", "f", tests=["assert f(1) == 2"])
    programs = [
        "def f(x):\n    return 2 * x\n",
        "def f(x):\n    return x\n",
        "def f(x):\n    return x + x + 0\n",
    ]
    rewards, results = compute_rewards(parse_reward_spec(f"rm:{tiny_reward_dir}"), None, [p] * 3, programs)
    assert results is None  # a pure reward-model reward needs no sandbox
    assert sum(rewards) == pytest.approx(0.0, abs=1e-6)
    assert sum(r * r for r in rewards) / 3 == pytest.approx(1.0, abs=1e-4)
