"""How good a problem's tests are, measured honestly, and made stronger where mutants show a gap.

Every figure comes from programs graded in the sandbox like any sample (`build_job` + `judge_job`):
- the reference, first (its run times set the problem's time limit: per test max(floor, k x the
  reference's time), rounded up to the floor times a power of two so reruns agree; stored in
  meta["time_limit"] and used for every program graded here);
- mutants of the reference (mutants.py): the first `max_mutants` are measured; up to `guide_mutants`
  guide the additions. Kill rate = killed / ALL measured mutants. A mutant no input ever told apart
  from the reference (not the suite, not the pool, not the guided search) is reported as "not
  separated" beside the rate; it is never left out of it;
- mutant-guided additions (guide.py), for problems with an input pool: inputs that separate a
  surviving mutant become tests once a second, separate run of the reference agrees;
- the trivial programs (trivial.py): a suite one of them fully passes is degenerate, as is one with
  fewer than `min_distinct_outputs` distinct expected values; the caller drops or flags those;
- branch coverage of the reference by the suite (coverage.py: the instrumented reference runs the
  tests, with the covered outcomes read after each).
`select_minimal` keeps a greedy subset of tests (select.py) that kills every mutant and trivial program
the whole suite kills and reaches every branch outcome it reaches.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from unitrl.inputs import coverage
from unitrl.records import Problem
from unitrl.sandbox.grade import build_job, judge_job
from unitrl.sandbox.jobs import Job, JobResult
from unitrl.synth.execution import assert_for
from unitrl.synth.grouped import run_each
from unitrl.synth.guide import Hunt, guided_inputs
from unitrl.synth.mutants import make_mutants
from unitrl.synth.select import greedy_cover
from unitrl.synth.trivial import distinct_expected, trivial_programs


def time_limit(durations: list[float], floor: float, factor: float, cap: float) -> float:
    """max(floor, factor x the slowest test), rounded up to floor x 2^k (so noise rarely moves it)."""
    raw = max([floor] + [factor * d for d in durations])
    return round(min(cap, floor * 2 ** math.ceil(math.log2(raw / floor) - 1e-9)), 4)


def _grade(sandbox: Any, items: list[tuple[Problem, str, float]]) -> list[tuple[list[bool], JobResult]]:
    """(failed per test, raw result) for each (problem, program, timeout), in one sandbox batch."""
    jobs = [build_job(p, prog, tag=i, timeout=t) for i, (p, prog, t) in enumerate(items)]
    out = []
    for (p, _, _), r in zip(items, sandbox.run(jobs) if jobs else []):
        verdict = judge_job(p, r, "q")
        out.append(([t.status != "pass" for t in verdict.tests] or [True] * len(p.tests), r))
    return out


def _grade_grouped(
    sandbox: Any, items: list[tuple[Problem, str, float]], fail_fast: bool = False
) -> list[list[bool]]:
    """Failed-per-test rows as `_grade` gives them, with the programs of one problem (same problem, same
    time limit: its mutants and trivial programs) sharing sandbox jobs (see grouped.py). With
    `fail_fast`, a program's tests after one that ran out of time (or memory or output), or after one
    that had to be rerun alone and failed there, are not run (False)."""
    jobs = [build_job(p, prog, timeout=t) for p, prog, t in items]
    runs = run_each(
        sandbox, [(p, j.program, j.steps, t) for (p, _, t), j in zip(items, jobs)], fail_fast=fail_fast
    )
    rows = []
    for (p, _, _), steps in zip(items, runs):
        verdict = judge_job(p, JobResult(tag=None, steps=steps), "q")
        rows.append([t.status not in ("pass", "not-run") for t in verdict.tests] or [True] * len(p.tests))
    return rows


def _staged(sandbox: Any, items: list[tuple[Problem, str, float]], first: int) -> list[list[bool]]:
    """Failed-per-test rows, in stages of doubling size (`first` tests, then twice as many, ...): a
    program meets the next stage only while it has failed nothing, so a killed program's later tests
    stay False (not run), and a program that loops costs one time limit, not one per test left."""
    rows: list[list[bool]] = [[] for _ in items]
    alive = list(range(len(items)))
    start, size = 0, max(1, first)
    while alive:
        stage: dict[int, Problem] = {}  # one shortened copy per problem, so its programs group together
        chunk = [(stage.setdefault(id(items[i][0]), replace(items[i][0], tests=items[i][0].tests[start : start + size])),
                  items[i][1], items[i][2]) for i in alive]  # fmt: skip
        for i, row in zip(alive, _grade_grouped(sandbox, chunk, fail_fast=True)):
            rows[i] += row
        start += size
        size *= 2
        alive = [i for i in alive if not any(rows[i]) and len(items[i][0].tests) > start]
    return [row + [False] * (len(p.tests) - len(row)) for (p, _, _), row in zip(items, rows)]


def caught(sandbox: Any, items: list[tuple[Problem, str, float]]) -> list[bool]:
    """For each (problem, program, time limit): does the program fail at least one of the problem's
    tests? Graded as synth grades mutants: grouped per problem, in stages, leaving at the first failure."""
    return [any(row) for row in _staged(sandbox, items, 1)]


def _coverage(
    sandbox: Any, problems: list[Problem], timeout: float
) -> tuple[dict[str, list[set[int]]], dict[str, coverage.Instrumented]]:
    """Per problem, per test: the branch outcomes of the reference the test reached (and the
    instrumented references, for their outcome counts)."""
    jobs, insts = [], {}
    for p in problems:
        inst = coverage.instrument(p.reference or "")
        if inst is None:
            continue
        insts[p.task_id] = inst
        base = build_job(p, inst.source, timeout=timeout)
        steps = [s for step in base.steps for s in (step, coverage.take_step())]
        jobs.append(Job(program=base.program, steps=steps, timeout=timeout, tag=p.task_id))
    out = {}
    for r in sandbox.run(jobs) if jobs else []:
        takes = r.steps[1::2]
        out[r.tag] = [set(o.values[0]) if o.status == "ok" and o.values else set() for o in takes]
    return {tid: out.get(tid, []) for tid in insts}, insts


def measure_quality(
    sandbox: Any,
    problems: list[Problem],
    pools: dict[str, list[tuple[str, str, Any]]] | None = None,
    *,
    max_mutants: int = 12,
    seed: int = 0,
    select_minimal: bool = False,
    timeout: float = 1.0,
    first_tests: int = 1,
    guide_mutants: int = 24,
    guide_steps: int = 48,
    min_distinct_outputs: int = 2,
    time_floor: float = 0.25,
    time_factor: float = 5.0,
) -> list[Problem]:
    """Fill meta["synth"] with the figures above (in place; guided tests are appended to `tests`)."""
    pools = pools or {}
    graded = [p for p in problems if p.tests and p.reference and not p.is_stdio]
    if not graded:
        return problems
    cap = max(timeout, time_floor) * time_factor
    refs = _grade(sandbox, [(p, p.reference or "", timeout) for p in graded])
    limits = {p.task_id: time_limit([o.duration for o in r.steps], time_floor, time_factor, cap)
              for p, (_, r) in zip(graded, refs)}  # fmt: skip
    passes = {p.task_id: not any(row) for p, (row, _) in zip(graded, refs)}
    n_guide = max(guide_mutants, max_mutants)
    mutants = {p.task_id: [m for _, m in make_mutants(p.reference or "", n_guide, seed)] for p in graded}
    trivial = {p.task_id: trivial_programs(p.entry_point or "f", p.tests) for p in graded}
    items = [(p, m, limits[p.task_id]) for p in graded for m in mutants[p.task_id]]
    items += [(p, prog, limits[p.task_id]) for p in graded for _, prog in trivial[p.task_id]]
    rows = dict(zip([(p.task_id, prog) for p, prog, _ in items], _staged(sandbox, items, first_tests)))
    added = _add_guided(sandbox, graded, pools, mutants, rows, limits, passes, seed, guide_steps, timeout)
    cov, insts = _coverage(sandbox, graded, timeout)
    for p in graded:
        tid = p.task_id
        m_rows = [rows[(tid, m)] for m in mutants[tid]]
        t_rows = [rows[(tid, prog)] for _, prog in trivial[tid]]
        _record(p, passes[tid], m_rows[:max_mutants], m_rows, t_rows, [n for n, _ in trivial[tid]],
                cov.get(tid, []), insts.get(tid), select_minimal)  # fmt: skip
        synth = p.meta["synth"]
        synth.update(time_limit=limits[tid], n_guided=added.get(tid, 0))
        p.meta["time_limit"] = limits[tid]
        distinct = synth["n_distinct_outputs"]
        synth["degenerate"] = bool(synth["trivial_passed"]) or (
            distinct is not None and distinct < min_distinct_outputs
        )
    return problems


def _add_guided(
    sandbox: Any,
    graded: list[Problem],
    pools: dict,
    mutants: dict[str, list[str]],
    rows: dict[tuple[str, str], list[bool]],
    limits: dict[str, float],
    passes: dict[str, bool],
    seed: int,
    steps: int,
    timeout: float,
) -> dict[str, int]:
    """Append tests that separate surviving mutants; extend every program's row over them."""
    hunts = [
        Hunt(
            p,
            pools[p.task_id],
            [m for m in mutants[p.task_id] if not any(rows[(p.task_id, m)])],
            limits[p.task_id],
        )
        for p in graded
        if pools.get(p.task_id) and passes[p.task_id]
    ]
    found = guided_inputs(sandbox, hunts, steps=steps, seed=seed, timeout=timeout) if hunts else {}
    extra = {tid: [assert_for(p.entry_point or "", src, v) for src, v in found.get(tid, [])]
             for p in graded if (tid := p.task_id) in found}  # fmt: skip
    todo = [p for p in graded if extra.get(p.task_id)]
    if not todo:
        return {}
    news = {p.task_id: replace(p, tests=[t for t in extra[p.task_id] if t not in p.tests]) for p in todo}
    # The reference again, in a separate job: a new test it does not pass is dropped.
    ref_rows = _grade(sandbox, [(news[p.task_id], p.reference or "", timeout) for p in todo])
    keep = {p.task_id: [not f for f in row] for p, (row, _) in zip(todo, ref_rows)}
    for p in todo:
        kept = [t for t, ok in zip(news[p.task_id].tests, keep[p.task_id]) if ok]
        p.tests += kept
        news[p.task_id] = replace(news[p.task_id], tests=kept)
    alive = [
        (key, news[key[0]])
        for key, row in rows.items()
        if key[0] in news and news[key[0]].tests and not any(row)
    ]
    graded_new = _grade_grouped(sandbox, [(q, prog, limits[q.task_id]) for (_, prog), q in alive])
    for key in rows:
        if key[0] in news:
            rows[key] = rows[key] + [False] * len(news[key[0]].tests)
    for ((tid, prog), q), row in zip(alive, graded_new):
        rows[(tid, prog)] = rows[(tid, prog)][: -len(q.tests) or None] + row
    return {tid: len(q.tests) for tid, q in news.items()}


def _record(
    p: Problem,
    reference_passes: bool,
    measured: list[list[bool]],
    guiding: list[list[bool]],
    trivial_rows: list[list[bool]],
    trivial_names: list[str],
    per_test_cov: list[set[int]],
    inst: coverage.Instrumented | None,
    select_minimal: bool,
) -> None:
    """Figures for one problem; with select_minimal, its tests shrunk to a covering subset."""
    n = len(p.tests)
    # One universe: mutants (all guiding ones), trivial programs, branch outcomes; each test's share.
    columns = [set() for _ in range(n)]
    for k, row in enumerate(guiding + trivial_rows):
        for t in range(min(n, len(row))):
            if row[t]:
                columns[t].add(("kill", k))
    for t, ids in enumerate(per_test_cov[:n]):
        columns[t] |= {("cov", i) for i in ids}
    cover = greedy_cover(columns)
    keep = sorted(cover) if select_minimal and cover else list(range(n))
    if select_minimal and cover:
        p.meta.setdefault("synth", {})["n_before_selection"] = n
        p.tests = [p.tests[i] for i in keep]
    sub = lambda rows: [[r[i] for i in keep if i < len(r)] for r in rows]  # noqa: E731
    measured, trivial_rows = sub(measured), sub(trivial_rows)
    killed = sum(any(r) for r in measured)
    covered = (
        set().union(*(per_test_cov[i] for i in keep if i < len(per_test_cov))) if per_test_cov else set()
    )
    synth = p.meta.setdefault("synth", {})
    synth.update(
        reference_passes=reference_passes,
        n_tests=len(p.tests),
        n_mutants=len(measured),
        n_killed=killed,
        kill_rate=round(killed / len(measured), 4) if measured else None,
        n_not_separated=len(measured) - killed,  # survived the suite, the pool and the guided search
        n_guide_mutants=len(guiding),
        n_guide_killed=sum(any(r) for r in guiding),
        branch_coverage=coverage.ratio(covered, inst),
        n_branch_outcomes=inst.total if inst else None,
        n_distinct_outputs=distinct_expected(p.tests),
        trivial_passed=[name for name, r in zip(trivial_names, trivial_rows) if not any(r)],
        n_min_tests=len(cover),
    )
