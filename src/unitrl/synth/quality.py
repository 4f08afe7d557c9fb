"""How good a problem's tests are: the share of wrong variants (mutants) of its reference they catch.

Every mutant is graded against the tests in the sandbox like any program (`grade_programs`); it is
killed when it fails at least one test. Survivors are then run on the whole input pool the `execution`
engine tried (when there is one): a survivor that agrees with the reference on every pooled input,
raising where it raises, is taken as equivalent and left out of the rate. The per-test kill sets also
feed the evalplus-mini selection (select.py), which can shrink the tests to a subset that kills as many.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from unitrl.records import Problem
from unitrl.sandbox.grade import build_job, grade_programs, judge_job
from unitrl.synth.execution import run_calls, same_value
from unitrl.synth.mutants import make_mutants
from unitrl.synth.select import greedy_cover, kill_sets


def _equivalent_on_pool(
    sandbox: Any,
    items: list[tuple[Problem, str]],
    pools: dict[str, list[tuple[str, str, Any]]],
    timeout: float,
) -> list[bool]:
    """For each (problem, surviving mutant): does it behave like the reference on every pooled input?"""
    calls = [(m, p.entry_point or "", [src for src, _, _ in pools[p.task_id]]) for p, m in items]
    verdicts = []
    for (p, _), outcomes in zip(items, run_calls(sandbox, calls, timeout)):
        same = True
        for (_, status, value), o in zip(pools[p.task_id], outcomes):
            if status == "ok":
                same = o.status == "ok" and bool(o.values) and same_value(o.values[0], value)
            elif status == "raised":
                same = o.status == "error"
            else:
                continue  # the reference itself timed out or ran out of memory here: no evidence
            if not same:
                break
        verdicts.append(same)
    return verdicts


def _grade(sandbox: Any, items: list[tuple[Problem, str, float]]) -> list[list[bool]]:
    """failed[t] for each (problem, program, timeout): one sandbox batch, verdicts by grade.judge_job."""
    jobs = [build_job(p, prog, tag=i, timeout=t) for i, (p, prog, t) in enumerate(items)]
    results = sandbox.run(jobs)
    rows = []
    for (p, _, _), r in zip(items, results):
        verdict = judge_job(p, r, "mutant")
        rows.append([t.status != "pass" for t in verdict.tests] or [True] * len(p.tests))
    return rows


def _mutant_timeout(reference_durations: list[float], cap: float) -> float:
    """evalplus's per-input limit, max(floor, k x reference time): a looping mutant costs little."""
    return min(cap, max(0.1, 5 * max(reference_durations, default=0.0)))


def measure_quality(
    sandbox: Any,
    problems: list[Problem],
    pools: dict[str, list[tuple[str, str, Any]]] | None = None,
    *,
    max_mutants: int = 12,
    seed: int = 0,
    select_minimal: bool = False,
    timeout: float = 1.0,
    first_tests: int = 3,
) -> list[Problem]:
    """Fill meta["synth"] with reference_passes, n_mutants, n_equivalent, n_killed, kill_rate and
    n_min_tests (in place). Mutants meet the first few tests first; only survivors meet the rest."""
    pools = pools or {}
    graded = [p for p in problems if p.tests and p.reference and not p.is_stdio]
    refs = grade_programs(sandbox, [(p, p.reference or "", "reference") for p in graded], timeout=timeout)
    limit = {p.task_id: _mutant_timeout([t.duration for t in r.tests], timeout) for p, r in zip(graded, refs)}
    mutants = {p.task_id: [m for _, m in make_mutants(p.reference or "", max_mutants, seed)] for p in graded}
    items = [(p, m) for p in graded for m in mutants[p.task_id]]
    # Stage 1: the first few tests. Stage 2: the remaining tests, for the mutants still alive.
    head = [(replace(p, tests=p.tests[:first_tests]), m, limit[p.task_id]) for p, m in items]
    rows = _grade(sandbox, head)
    alive = [i for i, row in enumerate(rows) if not any(row) and len(items[i][0].tests) > first_tests]
    tail = [
        (replace(items[i][0], tests=items[i][0].tests[first_tests:]), items[i][1], limit[items[i][0].task_id])
        for i in alive
    ]
    for i, row in zip(alive, _grade(sandbox, tail)):
        rows[i] = rows[i] + row
    rows = [row + [False] * (len(p.tests) - len(row)) for (p, _), row in zip(items, rows)]
    survivors = [(p, m) for (p, m), row in zip(items, rows) if not any(row) and pools.get(p.task_id)]
    equivalent = {
        (p.task_id, m)
        for (p, m), same in zip(survivors, _equivalent_on_pool(sandbox, survivors, pools, timeout))
        if same
    }
    failed: dict[str, list[list[bool]]] = {p.task_id: [] for p in graded}
    for (p, m), row in zip(items, rows):
        if (p.task_id, m) not in equivalent:
            failed[p.task_id].append(row)
    for p, ref in zip(graded, refs):
        _record(p, ref.passed, len(mutants[p.task_id]), failed[p.task_id], select_minimal)
    return problems


def _record(
    p: Problem, reference_passes: bool, n_mutants: int, rows: list[list[bool]], select_minimal: bool
) -> None:
    n_killed = sum(any(r) for r in rows)
    cover = greedy_cover(kill_sets(rows))
    synth = p.meta.setdefault("synth", {})
    synth.update(
        reference_passes=reference_passes,
        n_mutants=n_mutants,
        n_equivalent=n_mutants - len(rows),
        n_killed=n_killed,
        kill_rate=round(n_killed / len(rows), 4) if rows else None,
        n_min_tests=len(cover),
    )
    if select_minimal and cover:
        synth["n_before_selection"] = len(p.tests)
        p.tests = [p.tests[i] for i in sorted(cover)]
