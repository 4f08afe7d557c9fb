"""The splitter decides what runs in the child and what the parent judges."""

from __future__ import annotations

import pytest

from unitrl.sandbox.assertion import judge, plan_test


@pytest.mark.parametrize(
    "test, child",
    [
        ("assert f(1, [2, 3]) == 6", ["f(1, [2, 3])"]),
        ("assert f(x=1) == {'a': (1, 2)}", ["f(x=1)"]),
        ("assert abs(f(0.1) - 0.3) < 1e-9", ["f(0.1)"]),
        ("assert math.isclose(f(2), 1.5, rel_tol=1e-6)", ["f(2)"]),
        ("assert sorted(f('b', 'a')) == ['a', 'b']", ["f('b', 'a')"]),
        ("assert f(1) == 2 and g(2) == 3", ["f(1)", "g(2)"]),
        ("assert f('x').lower() == 'x'", ["f('x').lower()"]),
        ("assert [f(i) for i in range(3)] == [0, 1, 2]", ["[f(i) for i in range(3)]"]),
        ("assert f(1) is None", ["f(1)"]),
        ("assert not f(3)", ["f(3)"]),
        ("assert len(f([1, 2])) == 2", ["f([1, 2])"]),
    ],
)
def test_trusted_plans_send_only_program_calls_to_the_child(test, child):
    plan = plan_test(test)
    assert plan.trusted and plan.child_exprs == child


@pytest.mark.parametrize(
    "test",
    [
        "assert f(1) == 2 or f(1) == 3",
        "assert (lambda v: v > 2)(f(1))",
        "def check(candidate):\n    assert candidate(1) == 2\ncheck(f)",
        "assert f(1) == [i for i in range(3)]\nassert f(2) == 1",
        "assert f(1) == 2 if f(0) else True",
        "assert True",
        "assert ().__class__.__base__.__subclasses__() == f(1)",
        "assert (1).__add__(f(1)) == 2",
    ],
)
def test_other_tests_run_whole_in_the_child(test):
    plan = plan_test(test)
    assert not plan.trusted and plan.code == test


def test_expected_values_are_not_in_the_child_expressions():
    plan = plan_test("assert f(5) == 'secret-expected-value'")
    assert "secret" not in " ".join(plan.child_exprs)


def test_judge_uses_python_semantics_on_plain_values():
    assert judge(plan_test("assert f(1) == 3"), [3]) == (True, "")
    assert judge(plan_test("assert f(1) == 3"), [3.0])[0]  # 3.0 == 3 in Python, as in the original assert
    assert judge(plan_test("assert f(1) == (1, 2)"), [(1, 2)])[0]
    assert not judge(plan_test("assert f(1) == (1, 2)"), [[1, 2]])[0]  # a list is not a tuple
    ok, detail = judge(plan_test("assert f(1) == 3"), [4])
    assert not ok and "returned 4" in detail
    ok, detail = judge(plan_test("assert f(1) < 3"), [None])
    assert not ok and "TypeError" in detail
    assert judge(plan_test("assert abs(f(1) - 0.3) < 1e-9"), [0.1 + 0.2])[0]


def test_parent_evaluator_has_no_dangerous_builtins():
    plan = plan_test("assert f(1) == __import__('os').getpid()")
    # `__import__` is not whitelisted, so that call is sent to the child, never evaluated in the parent.
    assert plan.child_exprs == ["f(1)", "__import__('os').getpid()"]
