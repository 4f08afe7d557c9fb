"""The `execution` engine: tests whose expected values come from running the reference, no LLM.

Gorinski et al. obtain expected outputs by executing the original function on generated inputs; evalplus
grows inputs by type-aware mutation. We do both, guided by coverage: search.py grows a pool of calls to
the instrumented reference (types and shapes inferred from how the code uses each parameter; seeds from
doctests and the problem's own tests), and the tests are picked from it: calls that together reach every
branch outcome the pool reached, then calls spread over distinct outputs, then calls no constant or
identity program answers; raising calls only where the reference raises on purpose (its own `raise` of
that type; any builtin exception with --exception-tests). Each pick is rerun with the plain reference in
a separate job and kept when it answers the same with a value that survives `ast.literal_eval(repr(v))`
with the same type. Each becomes one standalone assert (ACECODER's format; floats with a tolerance; a
function that changes its arguments in place is also checked on them). A problem's own tests come first
and are extended, never replaced.
"""

from __future__ import annotations

import builtins
import random
from collections import Counter
from typing import Any

from unitrl.inputs.calls import round_trips, run_calls, same_value
from unitrl.inputs.coverage import ratio
from unitrl.inputs.generate import literal_source
from unitrl.inputs.search import Search, Tried, contract_raise, new_search, search_inputs
from unitrl.records import Problem
from unitrl.sandbox.jobs import StepOutcome

FLOAT_REL_TOL = 1e-6


# ------------------------------------------------------------------------------------ values and asserts


def with_args(entry: str) -> str:
    """A callable that returns (the value, the positional arguments after the call, the keyword ones)."""
    return f"(lambda *a, **k: ({entry}(*a, **k), a, k))"


def assert_for(entry: str, args_src: str, value: Any, after: Any = None) -> str:
    """One standalone assert; a scalar float is compared with a relative tolerance using builtins only.
    With `after` (the arguments after the call, for a function that changes them in place) the test
    checks those too."""
    if after is not None:
        return f"assert {with_args(entry)}({args_src}) == {literal_source((value, after[0], after[1]))}"
    call = f"{entry}({args_src})"
    if isinstance(value, float):
        return f"assert abs({call} - {value!r}) <= {FLOAT_REL_TOL!r} * max(1.0, abs({value!r}))"
    return f"assert {call} == {literal_source(value)}"


def exception_test(entry: str, args_src: str, error: str) -> str | None:
    """A test that the call raises the same builtin exception type (only with --exception-tests)."""
    name = error.split(":", 1)[0].strip()
    exc = getattr(builtins, name, None) if name.isidentifier() else None
    if not (isinstance(exc, type) and issubclass(exc, Exception)):
        return None
    return f"try:\n    {entry}({args_src})\nexcept {name}:\n    pass\nelse:\n    raise AssertionError('no {name}')"


# ------------------------------------------------------------------------------------ running calls


def _value(outcome: StepOutcome) -> Any:
    return outcome.values[0] if outcome.values else None


def tests_from_inputs(
    sandbox: Any, problems: list[Problem], inputs: dict[str, list[str]], timeout: float = 2.0
) -> dict[str, list[str]]:
    """Assert strings per task_id from argument-list sources, e.g. {"t": ["1, [2, 3]"]}.

    The reference runs on each input twice, in two separate jobs; inputs that raise, time out, answer
    differently the second time or give a value that does not round-trip through repr are left out.
    """
    todo = [p for p in problems if p.reference and p.entry_point and inputs.get(p.task_id)]
    calls = [(p.reference, p.entry_point, inputs[p.task_id]) for p in todo]
    first = run_calls(sandbox, calls, timeout)
    second = run_calls(sandbox, calls, timeout)
    out: dict[str, list[str]] = {p.task_id: [] for p in problems}
    for p, a, b, (_, entry, args) in zip(todo, first, second, calls):
        for src, x, y in zip(args, a, b):
            if x.status == y.status == "ok" and same_value(_value(x), _value(y)) and round_trips(_value(x)):
                out[p.task_id].append(assert_for(entry, src, _value(x)))
    return out


# ------------------------------------------------------------------------------------ the engine


def input_search(p: Problem) -> Search | None:
    """The input search of one function problem (None without a findable entry point)."""
    return new_search(p)


def _diverse(cands: list[Tried], k: int, taken: set[str]) -> list[Tried]:
    """Up to k calls, cycling over distinct outputs so one common answer does not dominate."""
    groups: dict[str, list[Tried]] = {}
    for c in cands:
        if c.src not in taken:
            groups.setdefault(repr(c.value), []).append(c)
    picked: list[Tried] = []
    cap = max(1, k // 2)  # no single answer (None, False, []) may fill more than half the tests
    for _ in range(cap):
        for key in list(groups):
            if groups[key] and len(picked) < k:
                picked.append(groups[key].pop(0))
    return picked


def _cover(cands: list[Tried], k: int) -> list[Tried]:
    """Greedy: the call reaching the most branch outcomes not yet reached, until nothing new (or k)."""
    covered: set[int] = set()
    picked: list[Tried] = []
    left = list(cands)
    while left and len(picked) < k:
        best = max(left, key=lambda c: len(c.hits - covered))
        if not best.hits - covered:
            break
        picked.append(best)
        covered |= best.hits
        left.remove(best)
    return picked


TRIVIAL_VALUES = (None, True, False, 0, 1, "", [], {}, ())


def _first_arg(t: Tried) -> Any:
    args, kwargs = t.inp
    return args[0] if args else next(iter(kwargs.values()), None)


def _against_trivial(chosen: list[Tried], rest: list[Tried]) -> list[Tried]:
    """Calls to add so that no constant of TRIVIAL_VALUES and no identity (the first argument back)
    matches every expected value, where the pool has such a call (`0 == False`: compared as a test
    compares, with ==)."""
    added: list[Tried] = []
    trivial = [lambda t, c=c: c for c in TRIVIAL_VALUES] + [_first_arg]
    for answer in trivial:
        have = chosen + added
        if have and all(_equal(answer(t), t.value) for t in have):
            other = next((t for t in rest if t not in added and not _equal(answer(t), t.value)), None)
            if other is not None:
                added.append(other)
    return added


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an odd comparison is no match
        return False


def pick_tests(s: Search, n: int, exception_tests: bool) -> tuple[list[Tried], list[Tried]]:
    """(value calls, raising calls) to turn into tests: calls covering every branch outcome reached,
    then distinct outputs; raising calls where the reference raises on purpose (or, with
    `exception_tests`, any builtin exception of the main signature)."""
    main = s.main_signature()
    ok = s.good()
    first = [t for t in ok if t.sig == main]
    chosen = _cover(first, n)
    chosen += _cover([t for t in ok if t not in first], n - len(chosen))  # other plausible types
    taken = {t.src for t in chosen}
    chosen += _diverse(first, n - len(chosen), taken)
    taken = {t.src for t in chosen}
    chosen += _diverse([t for t in ok if t not in first], n - len(chosen), taken)
    chosen += _against_trivial(
        chosen, [t for t in first if t not in chosen] + [t for t in ok if t not in first]
    )
    raising = [t for t in s.tried if contract_raise(s, t) and (main is None or t.sig == main)]
    if exception_tests:
        raising += [t for t in s.tried if t.status == "raised" and t.sig == main and t not in raising]
    return chosen, _cover(raising, max(1, n // 5)) or raising[:1]


def synthesize_execution(
    sandbox: Any,
    problems: list[Problem],
    *,
    n_tests: int = 20,
    seed: int = 0,
    exception_tests: bool = False,
    timeout: float = 1.0,
    rounds: int = 4,
) -> tuple[list[Problem], dict[str, list[tuple[str, str, Any]]]]:
    """Problems with `tests` and meta["synth"] filled, plus each task's input pool
    [(args source, status, value)] for telling mutants apart later. A problem's own tests are kept
    first and extended; the new tests come from a coverage-guided search (search.py).

    Each problem draws from its own generator seeded by (seed, task_id), so its tests do not depend on
    which other problems share the batch (chunk size, resumed runs)."""
    todo = {
        p.task_id: (p, s)
        for p in problems
        if p.reference and p.entry_point and not p.is_stdio
        if (s := new_search(p))
    }
    rngs = {tid: random.Random(f"{seed}:{tid}") for tid in todo}
    search_inputs(
        sandbox, {t: s for t, (_, s) in todo.items()}, rngs, want=2 * n_tests, rounds=rounds, timeout=timeout
    )
    # Pick, then rerun the picks with the plain reference in a separate job (determinism).
    picks = {}
    for tid, (p, s) in todo.items():
        n_new = max(n_tests - len(p.tests), n_tests // 4)
        picks[tid] = pick_tests(s, n_new, exception_tests)
    calls = [  # whole expressions (entry ""): the arguments come back too where the call changes them
        (
            p.reference,
            "",
            [
                f"{with_args(p.entry_point) if t.after else p.entry_point}({t.src})"
                for t in picks[tid][0] + picks[tid][1]
            ],
        )
        for tid, (p, _) in todo.items()
    ]
    again = dict(zip(todo, run_calls(sandbox, calls, timeout)))
    out, pools = [], {}
    for p in problems:
        if p.task_id not in todo:
            reason = "stdio" if p.is_stdio else "no-reference"
            out.append(_with_meta(p, list(p.tests), {"n_generated": 0, "dropped": {reason: 1}}))
            continue
        _, s = todo[p.task_id]
        pools[p.task_id] = [(t.src, t.status, t.value) for t in s.tried]
        values, raising = picks[p.task_id]
        tests, dropped = _tests_for(p.entry_point or "", values, raising, again[p.task_id])
        dropped.update(t.status for t in s.tried if t.status != "ok")
        new = [t for t in tests if t not in p.tests]
        covered = set().union(*(t.hits for t in values + raising)) if values or raising else set()
        out.append(
            _with_meta(
                p,
                list(p.tests) + new,
                {
                    "n_generated": len(s.tried),
                    "n_existing": len(p.tests),
                    "dropped": dict(dropped),
                    "pool_branch_coverage": ratio(s.covered, s.inst),
                    "picked_branch_coverage": ratio(covered, s.inst),
                },
            )
        )
    return out, pools


def _tests_for(
    entry: str, values: list[Tried], raising: list[Tried], rerun: list[StepOutcome]
) -> tuple[list[str], Counter]:
    dropped: Counter = Counter()
    tests = []
    for t, o in zip(values + raising, rerun):
        if t.status == "ok":
            got = _value(o) if o.status == "ok" else None  # with t.after: (value, args after, kwargs after)
            if t.after is None:
                same = o.status == "ok" and same_value(got, t.value)
            else:
                same = isinstance(got, tuple) and len(got) == 3 and same_value(got, (t.value, *t.after))
            if same:
                tests.append(assert_for(entry, t.src, t.value, t.after))
            else:
                dropped["nondeterministic"] += 1
        elif o.status == "error" and o.error.split(":", 1)[0] == str(t.value).split(":", 1)[0]:
            test = exception_test(entry, t.src, str(t.value))
            if test:
                tests.append(test)
            else:
                dropped["non-builtin-exception"] += 1
    return tests, dropped


def _with_meta(p: Problem, tests: list[str], figures: dict[str, Any]) -> Problem:
    meta = dict(p.meta)
    meta["synth"] = {"engine": "execution", "n_kept": len(tests)} | figures
    return Problem(p.task_id, p.prompt, p.entry_point, tests, p.reference, p.source, meta)
