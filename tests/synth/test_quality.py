"""Coverage, honest quality figures, trivial programs, contract exceptions, guided additions and time
limits, all in the real sandbox."""

from __future__ import annotations

import json

from unitrl.inputs import coverage
from unitrl.inputs.calls import run_calls
from unitrl.records import Problem, read_problems, write_records
from unitrl.sandbox.grade import grade_programs
from unitrl.sandbox.jobs import Job, Step
from unitrl.synth.cli import SynthConfig, run_synth
from unitrl.synth.execution import synthesize_execution
from unitrl.synth.guide import Hunt, guided_inputs
from unitrl.synth.quality import measure_quality, time_limit

BRANCHY = '''def classify(xs: list[int], k: int = 3) -> str:
    """Describe xs."""
    def big(x):
        return x > k
    seen = 0
    for x in xs:
        if x < 0:
            break
        seen += 1 if big(x) else 0
    else:
        return f"all {seen}"
    while k > 100:
        k -= 1
    try:
        return str(1 // xs[0])
    except ZeroDivisionError:
        return "zero"
'''
ABS = "def magnitude(x: int) -> int:\n    if x >= 0:\n        return x\n    return -x\n"
DOOR = "def is_door(mode):\n    return False\n"
SQRT = (
    "def isqrt(n: int) -> int:\n    if n < 0:\n        raise ValueError('negative')\n"
    "    r = 0\n    while (r + 1) * (r + 1) <= n:\n        r += 1\n    return r\n"
)


def _p(tid: str, ref: str, entry: str, tests: list | None = None) -> Problem:
    return Problem(tid, "", entry, list(tests or []), reference=ref)


def test_instrumented_reference_computes_what_the_original_does(sandbox):
    inst = coverage.instrument(BRANCHY)
    args = ["[1, 5, 9]", "[0, 4]", "[2, -1, 7]", "[]", "[4], 200"]
    plain, probed = run_calls(sandbox, [(BRANCHY, "classify", args), (inst.source, "classify", args)], 1.0)
    for a, b in zip(plain, probed):
        if a.status == "ok":
            assert b.values[0] == a.values[0]
    steps = [Step("eval", exprs=[coverage.probe_expr("classify", a)]) for a in args]
    [result] = sandbox.run([Job(program=inst.source, steps=steps, timeout=1.0)])
    outs = [o.values[0] for o in result.steps]
    assert all(o[0] == "ok" for o in outs)
    hits = [set(o[2]) for o in outs]
    assert hits[0] != hits[2] and set().union(*hits) <= set(inst.outcomes)
    assert coverage.ratio(set().union(*hits), inst) == round(len(set().union(*hits)) / inst.total, 4)
    assert coverage.ratio(set(), coverage.instrument("def f(x):\n    return x\n")) == 0.0


def test_kill_rate_counts_every_mutant_and_reports_the_unseparated(sandbox):
    out, pools = synthesize_execution(sandbox, [_p("abs", ABS, "magnitude")], n_tests=12, seed=0)
    measure_quality(sandbox, out, pools, max_mutants=20, seed=0)
    m = out[0].meta["synth"]
    # `x > 0` for `x >= 0` computes the same function: no input separates it, and it stays in the rate.
    assert m["n_not_separated"] >= 1 and m["n_killed"] + m["n_not_separated"] == m["n_mutants"]
    assert m["kill_rate"] == round(m["n_killed"] / m["n_mutants"], 4) < 1.0
    assert m["reference_passes"] and m["branch_coverage"] == 1.0 and not m["degenerate"]
    assert m["time_limit"] == 0.25 == out[0].meta["time_limit"]


def test_trivial_programs_and_single_valued_suites_are_degenerate(sandbox):
    problems = [_p("door", DOOR, "is_door"), _p("id", "def same(a):\n    return a\n", "same")]
    out, pools = synthesize_execution(sandbox, problems, n_tests=10)
    measure_quality(sandbox, out, pools, max_mutants=4)
    door, same = (p.meta["synth"] for p in out)
    assert door["degenerate"] and door["n_distinct_outputs"] == 1
    assert {"return-false", "return-0"} <= set(door["trivial_passed"])  # 0 == False, as a test compares
    assert same["degenerate"] and same["trivial_passed"] == ["identity"] and same["n_distinct_outputs"] > 2


def test_contract_exceptions_are_tests_and_existing_tests_stay_first(sandbox):
    given = ["assert isqrt(16) == 4", "assert isqrt(2) == 1"]
    out, _ = synthesize_execution(sandbox, [_p("sq", SQRT, "isqrt", given)], n_tests=12)
    tests = out[0].tests
    assert tests[:2] == given and len(tests) > 2
    raising = [t for t in tests if t.startswith("try:")]
    assert raising and all("except ValueError:" in t for t in raising)  # never the TypeError of a bad type
    assert all("isqrt(" in t and "." not in t.split("==")[0] for t in tests if t.startswith("assert"))  # ints
    [r] = grade_programs(sandbox, [(out[0], SQRT, "ref")])
    assert r.passed


def test_guided_inputs_separate_survivors_from_the_pool_and_by_search(sandbox):
    ref = "def mag(x: int) -> int:\n    return abs(x)\n"
    survivor = "def mag(x: int) -> int:\n    return x\n"
    p = _p("mag", ref, "mag", ["assert mag(1) == 1"])
    positive = [(str(i), "ok", i) for i in (1, 2, 3, 40)]
    found = guided_inputs(sandbox, [Hunt(p, positive, [survivor])], steps=24, seed=0, timeout=1.0)
    [(src, value)] = found["mag"]
    assert int(src) < 0 and value == -int(src)  # the search mutated a pooled call into a negative one
    pooled = guided_inputs(
        sandbox, [Hunt(p, positive + [("-5", "ok", 5)], [survivor])], steps=0, seed=0, timeout=1.0
    )
    assert pooled["mag"] == [("-5", 5)]


def test_time_limit_is_relative_to_the_reference_and_used_for_grading(sandbox):
    assert time_limit([0.001, 0.01], 0.25, 5.0, 5.0) == 0.25
    assert time_limit([0.06], 0.25, 5.0, 5.0) == 0.5 and time_limit([0.3], 0.25, 5.0, 5.0) == 2.0
    assert time_limit([9.0], 0.25, 5.0, 5.0) == 5.0
    out, pools = synthesize_execution(sandbox, [_p("sq", SQRT, "isqrt")], n_tests=8)
    measure_quality(sandbox, out, pools, max_mutants=2)
    limit = out[0].meta["time_limit"]
    slow = "def isqrt(n):\n    while True:\n        pass\n"
    [r] = grade_programs(sandbox, [(out[0], slow, "slow")], timeout=limit)
    assert not r.passed and r.status == "timeout"


def test_cli_drops_degenerate_problems_unless_kept_weak(tmp_path):
    write_records(tmp_path / "p.jsonl", [_p("door", DOOR, "is_door"), _p("sq", SQRT, "isqrt")])
    base = dict(problems=str(tmp_path / "p.jsonl"), n_tests=8, mutants=4, decontam="off")
    summary = run_synth(SynthConfig(out=str(tmp_path / "a.jsonl"), **base))
    assert [p.task_id for p in read_problems(tmp_path / "a.jsonl")] == ["sq"]
    assert summary["problems_dropped"] == {"trivially-passed": 1}
    weak = run_synth(SynthConfig(out=str(tmp_path / "b.jsonl"), keep_weak=True, **base))
    kept = {p.task_id: p.meta["synth"] for p in read_problems(tmp_path / "b.jsonl")}
    assert kept["door"]["degenerate"] and not kept["sq"]["degenerate"]
    assert weak["weak_suites"]["degenerate_kept"] == 1 and weak["distinct_outputs"]["one_value"] == 1
    on_disk = json.loads((tmp_path / "b.jsonl.summary.json").read_text())
    assert on_disk["mutants"]["total"] == sum(m["n_mutants"] for m in kept.values())
