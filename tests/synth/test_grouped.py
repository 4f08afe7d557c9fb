"""Programs of one problem sharing one sandbox job (synth's mutants and trivial programs) give the
outcomes each gives alone: failing, raising, looping, crashing, memory-hungry and unloadable ones."""

from __future__ import annotations

from unitrl.sandbox.jobs import Job, Step
from unitrl.synth.grouped import group_job, run_each

REF = "def f(x):\n    return x * 2\n"
PROGRAMS = [
    REF,
    "def f(x):\n    return x * 3\n",  # wrong
    "def f(x):\n    raise ValueError('no')\n",  # raises
    "def f(x):\n    while True:\n        pass\n",  # loops: every step times out
    "def f(x):\n    if x == 2:\n        import os\n        os._exit(3)\n    return x * 2\n",  # kills the process
    "def f(x):\n    if x == 3:\n        return [0] * (10 ** 10)\n    return x * 2\n",  # memory
    "raise RuntimeError('at load')\ndef f(x):\n    return x\n",  # load fails
    "import sys\nsys.exit(0)\n",  # exits at load
    "def f(x):\n    return g(x)\n",  # NameError
    "def f(x):\n    print('y' * 100000)\n    return x * 2\n",  # output
    REF,
]
CALLS = ["1", "2", "3", "4"]


def _steps() -> list[list[Step]]:
    return [[Step("eval", exprs=[f"f({a})"]) for a in CALLS] for _ in PROGRAMS]


def _key(o) -> tuple:
    return (o.status, repr(o.values), o.error.split(":", 1)[0])


def test_grouped_outcomes_are_those_of_one_job_per_program(sandbox):
    grouped = run_each(sandbox, [("problem", p, s, 0.5) for p, s in zip(PROGRAMS, _steps())])
    alone = [
        r.steps
        for r in sandbox.run([Job(program=p, steps=s, timeout=0.5) for p, s in zip(PROGRAMS, _steps())])
    ]
    assert [[_key(o) for o in g] for g in grouped] == [[_key(o) for o in a] for a in alone]
    assert [o.status for o in grouped[3]] == ["timeout"] * 4  # each step kept its own limit
    assert grouped[0][0].values == [2] and grouped[1][0].values == [3]


def test_fail_fast_cuts_a_rerun_at_its_first_odd_step(sandbox):
    """A program that had to run alone (memory) stops at that step; later steps are "not-run"."""
    steps = [[Step("eval", exprs=[f"f({a})"]) for a in ["3", "1", "4"]] for _ in range(2)]
    progs = [PROGRAMS[5], REF]
    out = run_each(sandbox, [("problem", p, s, 1.0) for p, s in zip(progs, steps)], fail_fast=True)
    assert out[0][0].status == "memory" and [o.status for o in out[0][1:]] == ["not-run", "not-run"]
    assert [o.values for o in out[1]] == [[6], [2], [8]]


def test_programs_of_different_problems_never_share_a_job(sandbox):
    """A program that patches builtins at load time changes nothing for another problem's programs."""
    patcher = "import builtins\nbuiltins.len = lambda x: 99\ndef f(x):\n    return len([x])\n"
    honest = "def f(x):\n    return len([x, x])\n"
    step = [Step("eval", exprs=["f(1)"])]
    a, b = object(), object()  # two problems
    out = run_each(sandbox, [(a, patcher, step, 1.0), (b, honest, step, 1.0), (a, patcher, step, 1.0),
                             (b, honest, step, 1.0)])  # fmt: skip
    assert [out[1][0].values, out[3][0].values] == [[2], [2]]


def test_exec_steps_and_single_programs_are_not_grouped():
    assert group_job([REF, REF], [[Step("exec", code="assert f(1) == 2")]] * 2, 1.0) is None
    job = group_job([REF, REF], [[Step("eval", exprs=["f(1)"])]] * 2, 1.0)
    assert job is not None and len(job.steps) == 3 and "__unitrl_run(1, 'f(1)')" in job.steps[2].exprs


def test_fail_fast_ends_a_programs_run_at_its_first_timeout_and_the_others_run_on(sandbox):
    """One time limit for a looping program, not one per step left; the other programs in the job keep
    every outcome they give alone."""
    loops_on_3 = "def f(x):\n    while x == 3:\n        pass\n    return x * 2\n"
    calls = ["1", "3", "4", "3", "5"]
    progs = [loops_on_3, REF, PROGRAMS[3], PROGRAMS[1]]
    steps = [[Step("eval", exprs=[f"f({a})"]) for a in calls] for _ in progs]
    cut = run_each(sandbox, [("problem", p, s, 0.2) for p, s in zip(progs, steps)], fail_fast=True)
    full = run_each(sandbox, [("problem", p, s, 0.2) for p, s in zip(progs, steps)])
    assert [o.status for o in cut[0]] == ["ok", "timeout", "not-run", "not-run", "not-run"]
    assert [o.status for o in full[0]] == ["ok", "timeout", "ok", "timeout", "ok"]
    assert [o.status for o in cut[2]] == ["timeout"] + ["not-run"] * 4
    assert [[o.values for o in r] for r in cut[1::2]] == [
        [[2], [6], [8], [6], [10]],
        [[3], [9], [12], [9], [15]],
    ]
    assert [[o.values for o in r] for r in full[1::2]] == [
        [[2], [6], [8], [6], [10]],
        [[3], [9], [12], [9], [15]],
    ]
    # alone (a job of its own) the same holds
    [alone] = run_each(sandbox, [("other", loops_on_3, steps[0], 0.2)], fail_fast=True)
    assert [o.status for o in alone] == ["ok", "timeout", "not-run", "not-run", "not-run"]


def test_batched_pool_calls_give_the_outcomes_of_one_call_per_step(sandbox):
    """guide's `_run_batched` (BATCH calls per step, each call's exception its own outcome) against
    `_run_limited` (a step per call), both stopping a program at its first call that runs out of time
    or memory: same statuses and values, including a call that returns a value that cannot travel and
    one that exits."""
    from unitrl.synth import guide

    odd = (
        "def f(x):\n"
        "    if x == 5:\n        return lambda: 0\n"
        "    if x == 7:\n        raise SystemExit(1)\n"
        "    if x == 11:\n        raise KeyError(x)\n"
        "    if x == 20:\n        while True:\n            pass\n"
        "    return x * 2\n"
    )
    hungry = "def f(x):\n    if x == 9:\n        return [0] * (10 ** 10)\n    return x * 3\n"
    args = [str(a) for a in range(1, 2 * guide.BATCH + 6)]
    progs = [odd, REF, hungry, PROGRAMS[2]]
    calls = [(p, "f", args) for p in progs]
    owner = object()
    batched = guide._run_batched(sandbox, calls, [0.3] * len(progs), [owner] * len(progs))
    alone = guide._run_limited(sandbox, calls, [0.3] * len(progs), [owner] * len(progs), fail_fast=True)

    def key(o):
        return (o.status, repr(o.values) if o.status == "ok" else None)

    assert [[key(o) for o in r] for r in batched] == [[key(o) for o in r] for r in alone]
    statuses = [o.status for o in batched[0]]
    assert [i + 1 for i, st in enumerate(statuses) if st == "error"] == [5, 7, 11]
    assert statuses[19] == "timeout" and set(statuses[20:]) == {"not-run"} and statuses.count("ok") == 16
    assert [o.status for o in batched[2][7:10]] == ["ok", "memory", "not-run"]
    assert batched[1][0].values == [2] and [o.values for o in batched[1][-2:]] == [[2 * 36], [2 * 37]]
