"""Mutant-guided additions: inputs that tell each surviving mutant apart from the reference.

After the first suite is graded, a mutant that passes it is either equivalent to the reference or a
wrong program the suite misses. We look for an input on which the two differ, in two steps: first
the input pool the engine already ran (the survivor runs on every pooled call; where it answers
differently, the pooled expected value makes a test); then, for survivors the pool does not separate,
a differential search: type-aware mutations of pooled calls (mutate.py), run on the reference and on
the survivor side by side, within a budget of `steps` calls per problem (a count, never a clock, so the
outcome is the same on any machine). Each separating input becomes one test; the caller re-runs the
reference on the new tests (a second, separate run) before keeping them.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Any

from unitrl.inputs import generate as inp
from unitrl.inputs import mutate
from unitrl.inputs.calls import round_trips, run_calls, same_value
from unitrl.inputs.search import SEARCH_TIMEOUT, magnitude, new_search
from unitrl.records import Problem
from unitrl.sandbox.jobs import Step, StepOutcome
from unitrl.synth.grouped import run_each

ROUNDS = 3


@dataclass
class Hunt:
    """One problem's survivors and what we found for them."""

    problem: Problem
    pool: list[tuple[str, str, Any]]  # (args source, status, value) the reference gave
    survivors: list[str]  # mutant programs the suite does not kill
    limit: float = 1.0  # seconds per call for the survivors: the problem's time limit
    found: dict[int, tuple[str, Any]] = field(default_factory=dict)  # survivor index -> (args, expected)
    spent: int = 0

    @functools.cached_property
    def parents(self) -> tuple[list[inp.Input], list[inp.Param], dict[str, list[Any]], set[str], int]:
        """What every round's proposals grow from, worked out once: the pooled calls with a value
        (parsed), the parameters and literals of the reference, the sources already run, and the size
        cap (twice the pool's largest call: no slow calls)."""
        parsed = [
            i for src, status, _ in self.pool if status == "ok" and (i := inp.parse_args(src)) is not None
        ]
        s = new_search(self.problem) if parsed else None
        cap = 2 * max((magnitude(i) for i in parsed), default=0)
        return parsed, s.params if s else [], s.literals if s else {}, {src for src, _, _ in self.pool}, cap


def _differs(ref_status: str, ref_value: Any, o: StepOutcome) -> bool:
    """The survivor's outcome on a call differs from the reference's, which answered `ref_value`."""
    if ref_status != "ok":
        return False  # only calls with a usable expected value make tests
    return o.status != "ok" or not o.values or not same_value(o.values[0], ref_value)


def _run_limited(
    sandbox: Any,
    calls: list[tuple[str, str, list[str]]],
    limits: list[float],
    owners: list[Any],
    fail_fast: bool = False,
) -> list[list[StepOutcome]]:
    """run_calls with each problem's own time limit; the survivors of one problem (same owner) share
    sandbox jobs (see grouped.py). With `fail_fast`, a survivor's calls stop at the first that runs out
    of time (or memory): the later ones come back "not-run" instead of costing a time limit each."""
    items = [(owner, prog, [Step("eval", exprs=[f"{entry}({a})"]) for a in args], t)
             for (prog, entry, args), t, owner in zip(calls, limits, owners)]  # fmt: skip
    return run_each(sandbox, items, fail_fast=fail_fast)


BATCH = 16  # pooled calls per step in `_from_pool`
_TRY = """
def __unitrl_try(call):
    try:
        return (True, call())
    except MemoryError:
        raise
    except Exception as exc:
        return (False, type(exc).__name__)
"""


def _run_batched(
    sandbox: Any, calls: list[tuple[str, str, list[str]]], limits: list[float], owners: list[Any]
) -> list[list[StepOutcome]]:
    """`_run_limited(..., fail_fast=True)`'s outcomes with BATCH calls per step: a program runs many
    pooled calls, and a step (a fork's share of the supervisor's and the parent's work per result) per
    call cost more than the calls. Each call is wrapped so that its exception is its own outcome
    ("error"); a step that does not end "ok" as a whole (a call looped, ran out of memory, returned a
    value that cannot travel or raised something other than an Exception) runs again one call per
    step, so every outcome is the one a step per call gives, up to the first call that runs out of time
    or memory: the program's later calls come back "not-run"."""
    items, spans = [], []
    for (prog, entry, args), t, owner in zip(calls, limits, owners):
        groups = [args[k : k + BATCH] for k in range(0, len(args), BATCH)]
        steps = [Step("eval", exprs=["[" + ", ".join(f"__unitrl_try(lambda: {entry}({a}))" for a in g) + "]"])
                 for g in groups]  # fmt: skip
        items.append((owner, prog + "\n" + _TRY, steps, t))
        spans.append(groups)
    out: list[list[StepOutcome]] = []
    again: list[tuple[int, int]] = []  # (program, batch) to run one call per step
    for p, (groups, got) in enumerate(zip(spans, run_each(sandbox, items, fail_fast=True))):
        mine: list[StepOutcome] = []
        for b, (g, o) in enumerate(zip(groups, got)):
            if o.status == "not-run":  # after a batch that ran out of time
                mine += [StepOutcome("not-run")] * len(g)
                continue
            v = o.values[0] if o.status == "ok" and o.values else None
            pairs = v if isinstance(v, list) and len(v) == len(g) else None
            if pairs is None or not all(isinstance(x, tuple) and len(x) == 2 for x in pairs):
                again.append((p, b))
                mine += [StepOutcome("not-run")] * len(g)
                continue
            for ok, value in pairs:
                mine.append(
                    StepOutcome("ok", values=[value])
                    if ok is True
                    else StepOutcome("error", error=str(value))
                )
        out.append(mine)
    if again:
        redo = [(calls[p][0], calls[p][1], spans[p][b]) for p, b in again]
        fresh = _run_limited(
            sandbox, redo, [limits[p] for p, _ in again], [owners[p] for p, _ in again], fail_fast=True
        )
        for (p, b), outcomes in zip(again, fresh):
            at = b * BATCH
            out[p][at : at + len(outcomes)] = outcomes
    return out


def _from_pool(sandbox: Any, hunts: list[Hunt], timeout: float) -> None:
    """Run every survivor on its problem's pooled calls with a value; keep the first that separates,
    preferring a call that separates several survivors (fewer tests). A survivor's calls stop at the
    first that runs out of time: that call separates it, and each later one could cost a time limit."""
    calls, owners = [], []
    for h in hunts:
        usable = [(src, v) for src, status, v in h.pool if status == "ok"]
        for m, program in enumerate(h.survivors):
            calls.append((program, h.problem.entry_point or "", [src for src, _ in usable]))
            owners.append((h, m, usable))
    results = _run_batched(sandbox, calls, [h.limit for h, _, _ in owners], [h for h, _, _ in owners])
    by_call: dict[tuple[int, str], list[int]] = {}
    for (h, m, usable), outcomes in zip(owners, results):
        for (src, value), o in zip(usable, outcomes):
            if o.status != "not-run" and _differs("ok", value, o):
                by_call.setdefault((id(h), src), []).append(m)
    for (h, m, usable), _ in zip(owners, results):
        options = [(len(by_call[(id(h), src)]), -i, src, v) for i, (src, v) in enumerate(usable)
                   if m in by_call.get((id(h), src), [])]  # fmt: skip
        if options:
            _, _, src, value = max(options)
            h.found[m] = (src, value)


def _proposals(h: Hunt, rng: random.Random, n: int) -> list[str]:
    """Type-aware mutations of pooled calls (one or two arguments changed)."""
    parsed, params, literals, seen, cap = h.parents
    if not parsed:
        return []
    grown = mutate.grow_inputs(params, parsed, literals, rng, 2 * n, seen=seen)
    return [inp.args_source(i) for i in grown if magnitude(i) <= cap][:n]


def _search(
    sandbox: Any, hunts: list[Hunt], rngs: dict[str, random.Random], steps: int, timeout: float
) -> None:
    """Rounds of differential search: per round, one reference job and one job per open survivor."""
    for r in range(ROUNDS):
        ref_calls, mut_calls, plan = [], [], []
        for h in hunts:
            open_ = [m for m in range(len(h.survivors)) if m not in h.found]
            left = steps - h.spent
            if not open_ or left <= 0:
                continue
            per = max(2, left // ((ROUNDS - r) * len(open_)))
            props = _proposals(h, rngs[h.problem.task_id], per * len(open_))
            if not props:
                continue
            h.spent += len(props)
            ref_calls.append((h.problem.reference or "", h.problem.entry_point or "", props))
            for j, m in enumerate(open_):
                mine = props[j * per : (j + 1) * per] or props[:per]
                mut_calls.append((h.survivors[m], h.problem.entry_point or "", mine))
                plan.append((h, m, len(ref_calls) - 1, mine))
        if not plan:
            return
        ref_out = run_calls(sandbox, ref_calls, min(timeout, SEARCH_TIMEOUT))
        # Survivors run only the calls whose reference value can make a test, and stop at the first
        # that differs by running out of time (the search keeps the first call that differs anyway).
        usable: list[dict[str, Any]] = []
        for (_, _, props), outcomes in zip(ref_calls, ref_out):
            values = {src: o.values[0] for src, o in zip(props, outcomes) if o.status == "ok" and o.values}
            usable.append({src: v for src, v in values.items() if round_trips(v)})
        mut_calls = [(prog, entry, [src for src in mine if src in usable[k]])
                     for (prog, entry, _), (_, _, k, mine) in zip(mut_calls, plan)]  # fmt: skip
        mut_out = _run_limited(
            sandbox, mut_calls, [h.limit for h, _, _, _ in plan], [h for h, _, _, _ in plan], fail_fast=True
        )
        for (h, m, k, _), (_, _, run), outcomes in zip(plan, mut_calls, mut_out):
            for src, o in zip(run, outcomes):
                if o.status == "not-run":
                    break
                if _differs("ok", usable[k][src], o):
                    h.found[m] = (src, usable[k][src])
                    break


def guided_inputs(
    sandbox: Any,
    hunts: list[Hunt],
    *,
    steps: int,
    seed: int,
    timeout: float,
) -> dict[str, list[tuple[str, Any]]]:
    """task_id -> [(args source, expected value)]: one separating call per survivor found, deduplicated.
    Each problem's search draws from its own generator seeded by (seed, task_id)."""
    hunts = [h for h in hunts if h.survivors and h.problem.entry_point and h.problem.reference]
    _from_pool(sandbox, [h for h in hunts if h.pool], timeout)
    rngs = {h.problem.task_id: random.Random(f"guide:{seed}:{h.problem.task_id}") for h in hunts}
    if steps > 0:
        _search(sandbox, [h for h in hunts if h.pool], rngs, steps, timeout)
    out: dict[str, list[tuple[str, Any]]] = {}
    for h in hunts:
        picked = dict(sorted(h.found.values(), key=lambda sv: sv[0]))
        out[h.problem.task_id] = sorted(picked.items())
    return out
