"""The execution engine in the real sandbox: expected values come from running the reference."""

from __future__ import annotations

import ast

from unitrl.inputs.calls import round_trips
from unitrl.records import Problem
from unitrl.sandbox.grade import grade_programs
from unitrl.synth import execution
from unitrl.synth.execution import assert_for, synthesize_execution
from unitrl.synth.quality import measure_quality

SECOND_LARGEST = '''def second_largest(nums: list[int]) -> int:
    """The second largest distinct value of nums."""
    distinct = sorted(set(nums))
    return distinct[-2]
'''
MEAN = "def mean(xs: list[float]) -> float:\n    return sum(xs) / len(xs)\n"
CLOCK = "import time\n\ndef stamp(x: int) -> float:\n    return x + time.perf_counter()\n"
OBJ = "def box(x: int):\n    return object()\n"


def _p(tid: str, ref: str, entry: str) -> Problem:
    return Problem(tid, "", entry, reference=ref)


def test_asserts_and_round_trip():
    assert assert_for("f", "1, [2]", [3, "a"]) == "assert f(1, [2]) == [3, 'a']"
    assert assert_for("g", "2", 0.5) == "assert abs(g(2) - 0.5) <= 1e-06 * max(1.0, abs(0.5))"
    assert round_trips({"a": (1, 2.5, None)}) and round_trips(set()) and not round_trips(object())
    assert not round_trips(float("nan")) and not round_trips(True.__class__) and not round_trips("x" * 5000)
    assert round_trips(-0.0) and round_trips(1 + 2j)


def test_tests_from_inputs(sandbox):
    problems = [
        _p("s", SECOND_LARGEST, "second_largest"),
        _p("m", MEAN, "mean"),
        _p("c", CLOCK, "stamp"),
        _p("o", OBJ, "box"),
    ]
    inputs = {
        "s": ["[1, 5, 3]", "[7]", "[2, 2, 9, 9]"],  # [7] raises IndexError: left out
        "m": ["[1.0, 2.0]", "[]"],
        "c": ["1", "2"],  # differs between the two jobs: left out
        "o": ["1"],  # no literal value: left out
    }
    tests = execution.tests_from_inputs(sandbox, problems, inputs, timeout=1.0)
    assert tests["s"] == ["assert second_largest([1, 5, 3]) == 3", "assert second_largest([2, 2, 9, 9]) == 2"]
    assert tests["m"] == ["assert abs(mean([1.0, 2.0]) - 1.5) <= 1e-06 * max(1.0, abs(1.5))"]
    assert tests["c"] == [] and tests["o"] == []


def test_synthesize_execution_reference_passes_and_kills_mutants(sandbox):
    problems = [_p("s", SECOND_LARGEST, "second_largest"), _p("m", MEAN, "mean")]
    # Random inputs catch `wrong` below only when one holds the maximum twice: 7 of the seeds 0-7 do.
    out, pools = synthesize_execution(sandbox, problems, n_tests=20, seed=1)
    for p in out:
        assert 10 <= len(p.tests) <= 20, p.tests
        assert len(set(p.tests)) == len(p.tests)
        for t in p.tests:
            assert isinstance(ast.parse(t).body[0], ast.Assert)
        meta = p.meta["synth"]
        assert meta["engine"] == "execution" and meta["n_kept"] == len(p.tests)
        assert meta["n_generated"] == len(pools[p.task_id]) >= meta["n_kept"]
        assert meta["dropped"].get("raised", 0) > 0  # empty lists raise in both functions
    results = grade_programs(sandbox, [(p, p.reference, "ref") for p in out])
    assert all(r.passed for r in results)
    wrong = "def second_largest(nums):\n    return sorted(nums)[-2]\n"  # ignores duplicates
    [r] = grade_programs(sandbox, [(out[0], wrong, "wrong")])
    assert not r.passed
    measure_quality(sandbox, out, pools, max_mutants=10)
    for p in out:
        m = p.meta["synth"]
        assert m["reference_passes"] is True and m["n_mutants"] > 0
        assert 0.5 <= m["kill_rate"] <= 1.0 and 1 <= m["n_min_tests"] <= len(p.tests)


def test_select_minimal_keeps_a_killing_subset(sandbox):
    out, pools = synthesize_execution(sandbox, [_p("s", SECOND_LARGEST, "second_largest")], n_tests=20)
    full = [
        Problem(p.task_id, p.prompt, p.entry_point, list(p.tests), p.reference, meta={"synth": {}})
        for p in out
    ]
    measure_quality(sandbox, full, pools, max_mutants=10)
    measure_quality(sandbox, out, pools, max_mutants=10, select_minimal=True)
    assert len(out[0].tests) == out[0].meta["synth"]["n_min_tests"] < len(full[0].tests)
    assert out[0].meta["synth"]["n_before_selection"] == len(full[0].tests)
    # The subset kills as many mutants as the full set: re-measure on the subset.
    again = Problem(
        out[0].task_id, "", out[0].entry_point, list(out[0].tests), out[0].reference, meta={"synth": {}}
    )
    measure_quality(sandbox, [again], pools, max_mutants=10)
    assert again.meta["synth"]["n_killed"] == full[0].meta["synth"]["n_killed"]


def test_exception_tests_on_request(sandbox):
    out, _ = synthesize_execution(sandbox, [_p("s", SECOND_LARGEST, "second_largest")], exception_tests=True)
    raising = [t for t in out[0].tests if t.startswith("try:")]
    assert raising and all("except IndexError:" in t for t in raising)
    results = grade_programs(sandbox, [(out[0], SECOND_LARGEST, "ref")])
    assert results[0].passed
