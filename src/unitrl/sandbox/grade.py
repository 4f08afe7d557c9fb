"""Grade programs against a problem's tests: build sandbox jobs, then decide verdicts in the parent.

Assert tests are planned once per problem (`assertion.plan_test`): split tests become `eval` steps whose
returned values the parent judges; the rest become `exec` steps. stdin/stdout tests become `stdio` steps
whose output is compared here, line by line after trimming trailing whitespace (never by prefix), with a
float tolerance only when the problem's `meta["float_tolerance"]` asks for one. The pass rate is over the
problem's own tests; a test with no result never passes; sandbox failures are `infrastructure-error`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence

from unitrl.errors import UserError
from unitrl.records import Problem, Result, Sample, TestResult
from unitrl.sandbox.assertion import TestPlan, judge, plan_test
from unitrl.sandbox.jobs import Job, JobResult, Step
from unitrl.sandbox.pool import Sandbox

_PLAN_CACHE: dict[tuple[str, int], list[TestPlan]] = {}
_STEPS_CACHE: dict[tuple[str, int], list[Step]] = {}


def _per_problem(cache: dict, problem: Problem, build: Callable[[Problem], list]) -> list:
    """`build(problem)`, memoized by task_id and the tests' content (cleared past 100,000 problems)."""
    key = (problem.task_id, hash(tuple(map(str, problem.tests))))
    value = cache.get(key)
    if value is None:
        if len(cache) > 100_000:
            cache.clear()
        value = cache[key] = build(problem)
    return value


def plan_problem(problem: Problem) -> list[TestPlan]:
    """Plans for a problem's assert tests (cached)."""
    return _per_problem(_PLAN_CACHE, problem, lambda p: [plan_test(t) for t in p.tests])


def _build_steps(problem: Problem) -> list[Step]:
    if problem.is_stdio:
        return [Step("stdio", stdin=str(t.get("stdin", ""))) for t in problem.tests]
    return [
        Step("eval", exprs=p.child_exprs) if p.trusted else Step("exec", code=p.code)
        for p in plan_problem(problem)
    ]


def problem_steps(problem: Problem) -> list[Step]:
    """The sandbox steps for a problem's tests; one shared (read-only) list per problem, so the sandbox
    encodes and compiles them once for all of the problem's samples."""
    return _per_problem(_STEPS_CACHE, problem, _build_steps)


def build_job(problem: Problem, program: str, tag: object = None, timeout: float | None = None) -> Job:
    setup = problem.meta.get("setup_code")
    if isinstance(setup, str) and setup.strip():  # MBPP's test_setup_code: runs after the program, with it
        program = program.rstrip() + "\n\n" + setup
    return Job(program=program, steps=problem_steps(problem), timeout=timeout, tag=tag)


def stdout_matches(expected: str, got: str, float_tolerance: float | None = None) -> bool:
    """Line-by-line equality after trimming trailing whitespace (and trailing blank lines)."""
    want = expected.rstrip().splitlines()
    have = got.rstrip().splitlines()
    if len(want) != len(have):
        return False
    for a, b in zip(want, have):
        a, b = a.rstrip(), b.rstrip()
        if a == b:
            continue
        if float_tolerance is None:
            return False
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return False
            if not math.isclose(fx, fy, rel_tol=float_tolerance, abs_tol=float_tolerance):
                return False
    return True


def judge_job(problem: Problem, result: JobResult, sample_id: int | str) -> Result:
    tests: list[TestResult] = []
    plans = None if problem.is_stdio else plan_problem(problem)
    for i, outcome in enumerate(result.steps):
        if outcome.status != "ok":
            status = outcome.status
            if status == "syntax-error" and "<test " in outcome.error:
                # the TEST does not compile (the program's own syntax errors name <program>): a broken
                # problem, not a broken program
                tests.append(TestResult("error", 0.0, f"the test itself does not compile: {outcome.error}"))
                continue
            if (
                status == "error"
                and plans is not None
                and not plans[i].trusted
                and outcome.error.startswith("AssertionError")
            ):
                status = "fail"  # a whole-snippet test whose assert failed: a failure, not a crash
            tests.append(TestResult(status, round(outcome.duration, 6), outcome.error))
            continue
        if problem.is_stdio:
            want = str(problem.tests[i].get("stdout", ""))
            ok = stdout_matches(want, outcome.stdout or "", problem.meta.get("float_tolerance"))
            detail = "" if ok else "output differs"
        elif plans[i].trusted:
            ok, detail = judge(plans[i], outcome.values or [])
        else:
            ok, detail = True, ""
        tests.append(TestResult("pass" if ok else "fail", round(outcome.duration, 6), detail))
    n_pass = sum(t.status == "pass" for t in tests)
    passed = bool(tests) and n_pass == len(tests)
    return Result(
        task_id=problem.task_id,
        sample_id=sample_id,
        passed=passed,
        pass_rate=n_pass / len(tests) if tests else 0.0,
        status=overall_status(tests),
        tests=tests,
        duration=round(result.duration, 6),
    )


def overall_status(tests: Sequence[TestResult]) -> str:
    """pass if all passed; infrastructure-error if any; else the most common non-pass status."""
    if not tests:
        return "no-tests"
    statuses = [t.status for t in tests]
    if all(s == "pass" for s in statuses):
        return "pass"
    if "infrastructure-error" in statuses:
        return "infrastructure-error"
    if "syntax-error" in statuses:
        return "syntax-error"
    counts = collections.Counter(s for s in statuses if s != "pass")
    return counts.most_common(1)[0][0]


def grade_programs(
    sandbox: Sandbox,
    items: Sequence[tuple[Problem, str, int | str]],
    progress: Callable[[int], None] | None = None,
    timeout: float | None = None,
) -> list[Result]:
    """(problem, program, sample_id) triples -> Results, in order."""
    jobs = [build_job(p, prog, tag=i, timeout=timeout) for i, (p, prog, _) in enumerate(items)]
    out: list[Result | None] = [None] * len(items)

    def judge_now(i: int, result: JobResult) -> None:
        # judged as it arrives, so the returned values are released at once, not held for the batch
        out[i] = judge_job(items[i][0], result, items[i][2])

    sandbox.run(jobs, progress=progress, on_result=judge_now)
    return out  # type: ignore[return-value]


def grade_samples(
    sandbox: Sandbox,
    problems: dict[str, Problem],
    samples: Sequence[Sample],
    progress: Callable[[int], None] | None = None,
    timeout: float | None = None,
) -> list[Result]:
    """Samples -> Results, in order. Every sample's task_id must name a problem."""
    items = []
    for s in samples:
        problem = problems.get(s.task_id)
        if problem is None:
            raise UserError(
                f"sample {s.task_id}/{s.sample_id}: no problem with this task_id", field="task_id"
            )
        items.append((problem, s.program(problem), s.sample_id))
    return grade_programs(sandbox, items, progress=progress, timeout=timeout)
