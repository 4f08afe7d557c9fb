"""The parent's check prices its work before doing it: values the program picks cannot hang the grader."""

from __future__ import annotations

import time

import pytest

from unitrl.records import Problem
from unitrl.sandbox import budget
from unitrl.sandbox.assertion import judge, plan_test

# (test, values an attacking program returns, values an honest program returns)
ATTACKS = [
    ("assert 3 ** f(3) == 27", [10**8], [3]),
    ("assert [0] * f() == [0, 0]", [10**9], [2]),
    ("assert 1 << f() == 8", [10**9], [3]),
    ("assert bytes(f()) == bytes(2)", [10**9], [2]),
    ("assert math.factorial(f()) == 120", [10**6], [5]),
    ("assert math.comb(f(), f()) == 10", [10**6, 5 * 10**5], [5, 2]),
    ("assert list(range(f())) == [0, 1]", [10**12], [2]),
    ("assert set(range(f())) == {0, 1}", [10**9], [2]),
    ("assert sum(range(f())) == 1", [10**12], [2]),
    ("assert sorted(range(f())) == [0, 1]", [10**9], [2]),
    ("assert 'ab' * f() == 'abab'", [10**9], [2]),
    ("assert math.prod(f()) == 6", [[2**11000] * 20], [[1, 2, 3]]),
    ("assert math.prod(f()) == [0, 0]", [[[0], 10**9]], [[[0], 2]]),  # prod over a sequence repeats it
    ("assert int(f()) == 99", ["9" * 5000], ["99"]),
    ("assert int(f(), 2) == 5", ["1" * 10**6], ["101"]),
    ("assert '%0*d' % (f(), 7) == '007'", [10**9], [3]),
    ("assert '%.*f' % (f(), 0.5) == '0.50'", [10**9], [2]),
    ("assert round(1234, f()) == 1200", [-(10**8)], [-2]),
    ("assert len([f()] * 1000) == 1000", [list(range(10**5))], [[1, 2]]),  # a million refs to one list
    ("assert str([f()] * 5000) != ''", [[7**4000] * 3], [[1]]),  # int -> text is quadratic
    ("assert sum(f(), []) == [1, 2]", [[[0] * 1000 for _ in range(3000)]], [[[1], [2]]]),
    ("assert sorted(f(), key=str) == [10, 9]", [list(range(10**6))], [[9, 10]]),
]


@pytest.mark.parametrize("test, attack, honest", ATTACKS, ids=[a[0][7:40] for a in ATTACKS])
def test_an_expensive_check_fails_on_budget_fast_and_passes_on_honest_values(test, attack, honest):
    plan = plan_test(test)
    assert plan.trusted and plan.guarded
    start = time.perf_counter()
    ok, detail = judge(plan, attack)
    assert time.perf_counter() - start < 1.0
    assert not ok and detail.startswith("the comparison exceeded its budget: "), detail
    assert judge(plan, honest) == (True, "")


def test_common_checks_take_the_unguarded_path():
    for test in (
        "assert f(1) == [1, 2, 3]",
        "assert math.isclose(f(1), 2.5)",
        "assert abs(f(1) - 3.0) < 1e-6",
    ):
        assert not plan_test(test).guarded
    assert judge(plan_test("assert abs(f(1) - 3.0) < 1e-6"), [3.0]) == (True, "")


def test_builtins_used_as_values_are_not_replaced_by_their_guards():
    plan = plan_test("assert isinstance(f(), int) and type(g()) is list and sorted(h(), key=str) == [10, 9]")
    assert plan.guarded and judge(plan, [3, [1], [9, 10]]) == (True, "")
    assert not judge(plan, [3.0, [1], [9, 10]])[0]


def test_pow_is_not_whitelisted_so_it_runs_in_the_child():
    plan = plan_test("assert pow(2, f(3)) == 8")
    assert plan.child_exprs == ["pow(2, f(3))"]
    assert judge(plan, [8]) == (True, "")


def test_the_step_budget_is_shared_by_all_operations_of_one_check(monkeypatch):
    monkeypatch.setattr(budget, "MAX_STEPS", 1_000_000)
    one = plan_test("assert sum(range(f())) == 179999700000")
    assert judge(one, [600_000]) == (True, "")  # 300,000 steps
    four = plan_test("assert " + " and ".join(["sum(range(f())) == 179999700000"] * 4))
    ok, detail = judge(four, [600_000] * 4)
    assert not ok and "budget" in detail and "steps" in detail
    assert judge(one, [600_000]) == (True, "")  # each judge call starts afresh


def test_the_wall_clock_stops_a_check_at_its_next_priced_operation(monkeypatch):
    monkeypatch.setattr(budget, "MAX_SECONDS", 1e-4)
    plan = plan_test("assert sorted(f()) == sorted(g())")
    values = list(range(200_000, 0, -1))
    ok, detail = judge(plan, [values, values])
    assert not ok and "ran past" in detail


def test_repeats_are_priced_at_their_unshared_size():
    # 4,000 references to one 4,000-element list are 16 million elements to compare or print.
    plan = plan_test("assert [f()] * 4000 == []")
    ok, detail = judge(plan, [[0] * 4000])
    assert not ok and "budget" in detail
    assert not judge(plan, [[0] * 4])[0]  # 16,000: allowed, and simply unequal


def test_judge_never_raises_while_describing_a_huge_value():
    ok, detail = judge(plan_test("assert f() == 1"), [10**5000])
    assert not ok and "16610-bit int" in detail


def test_a_program_returning_a_huge_exponent_fails_fast_through_the_real_sandbox():
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.sandbox.grade import grade_programs

    p = Problem("pow", "", "f", ["assert 3 ** f(3) == 27", "assert 2 ** f(2) == 4"])
    start = time.perf_counter()
    with Sandbox(SandboxConfig(workers=1)) as sb:
        [bad, good] = grade_programs(
            sb, [(p, "def f(x):\n    return 10**8\n", 0), (p, "def f(x):\n    return x\n", 1)]
        )
    assert time.perf_counter() - start < 10
    assert bad.status == "fail" and [t.status for t in bad.tests] == ["fail", "fail"]
    assert "exceeded its budget" in bad.tests[0].detail
    assert good.passed
