"""The `execution` engine: tests whose expected values come from running the reference, no LLM.

Gorinski et al. obtain expected outputs by executing the original function on generated inputs; evalplus
grows inputs by type-aware mutation. We do both: seed inputs from the source (inputs.py), run them in the
sandbox (ONE eval step per input, so each has its own time limit), learn the argument types from the
seeds that ran, grow the pool by mutation and edge cases (mutate.py), then keep inputs the reference
answers identically in two separate jobs, whose value survives `ast.literal_eval(repr(v))` with the same
type. Each becomes one standalone assert (ACECODER's test format); scalar floats get a tolerance.
"""

from __future__ import annotations

import ast
import builtins
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from unitrl.records import Problem
from unitrl.sandbox.jobs import Job, Step, StepOutcome
from unitrl.synth import inputs as inp
from unitrl.synth import mutate

MAX_REPR = 1000  # longer expected values make unreadable tests; drop them
FLOAT_REL_TOL = 1e-6


# ------------------------------------------------------------------------------------ values and asserts


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down (1 == 1.0 == True must not count as the same)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def round_trips(v: Any) -> bool:
    """`repr(v)` is a literal that evaluates back to an equal value of the same type."""
    try:
        text = repr(v)
        return len(text) <= MAX_REPR and same_value(ast.literal_eval(text), v)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def assert_for(entry: str, args_src: str, value: Any) -> str:
    """One standalone assert; a scalar float is compared with a relative tolerance using builtins only."""
    call = f"{entry}({args_src})"
    if isinstance(value, float):
        return f"assert abs({call} - {value!r}) <= {FLOAT_REL_TOL!r} * max(1.0, abs({value!r}))"
    return f"assert {call} == {value!r}"


def exception_test(entry: str, args_src: str, error: str) -> str | None:
    """A test that the call raises the same builtin exception type (only with --exception-tests)."""
    name = error.split(":", 1)[0].strip()
    exc = getattr(builtins, name, None) if name.isidentifier() else None
    if not (isinstance(exc, type) and issubclass(exc, Exception)):
        return None
    return f"try:\n    {entry}({args_src})\nexcept {name}:\n    pass\nelse:\n    raise AssertionError('no {name}')"


# ------------------------------------------------------------------------------------ running calls


def run_calls(
    sandbox: Any, calls: list[tuple[str, str, list[str]]], timeout: float
) -> list[list[StepOutcome]]:
    """For each (program, entry, [args source]) one job with one eval step per call; outcomes in order."""
    jobs = [
        Job(
            program=program,
            steps=[Step("eval", exprs=[f"{entry}({a})"]) for a in args],
            timeout=timeout,
            tag=i,
        )
        for i, (program, entry, args) in enumerate(calls)
    ]
    results = sandbox.run(jobs) if jobs else []
    return [r.steps for r in results]


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

DROP_BY_STATUS = {"error": "raised", "timeout": "timeout", "memory": "memory", "output-limit": "output-limit"}


def _classify(outcome: StepOutcome) -> str:
    """'ok' for a usable expected value, else the drop reason."""
    if outcome.status == "ok":
        return "ok" if round_trips(_value(outcome)) else "not-literal"
    return DROP_BY_STATUS.get(outcome.status, outcome.status)


def _main_signature(tried: list[tuple[inp.Input, bool]]) -> list[inp.Input]:
    """The inputs that ran, of the argument-type signature that runs most reliably (then most often).

    A function meant for lists may still accept `0.0` by accident (a falsy value skips its loop); the
    share of tries that ran tells the intended types from such accidents."""
    stats: dict[tuple, list[int]] = {}
    for i, ok in tried:
        s = stats.setdefault(inp.signature(i), [0, 0])
        s[0] += ok
        s[1] += 1
    good = [sig for sig, (ok, _) in stats.items() if ok]
    if not good:
        return []
    best = max(good, key=lambda sig: ((stats[sig][0] + 1) / (stats[sig][1] + 2), stats[sig][0]))  # Laplace
    return [i for i, ok in tried if ok and inp.signature(i) == best]


def _diverse(cands: list[tuple[str, Any]], k: int) -> list[tuple[str, Any]]:
    """Up to k (args, value) picks, cycling over distinct outputs so one common answer does not dominate."""
    groups: dict[str, list[tuple[str, Any]]] = {}
    for c in cands:
        groups.setdefault(repr(c[1]), []).append(c)
    picked: list[tuple[str, Any]] = []
    cap = max(1, k // 2)  # no single answer (None, False, []) may fill more than half the tests
    for _ in range(cap):
        for key in list(groups):
            if groups[key] and len(picked) < k:
                picked.append(groups[key].pop(0))
    return picked


@dataclass
class _Search:
    """One problem's input search: what we know of its parameters and every call tried so far."""

    params: list[inp.Param]
    literals: dict[str, list[Any]]
    examples: list[inp.Input]
    tried: list[tuple[inp.Input, str, StepOutcome]] = field(default_factory=list)  # (input, source, outcome)

    def ok_main(self) -> list[inp.Input]:
        return _main_signature([(i, _classify(o) == "ok") for i, _, o in self.tried])


def input_search(p: Problem) -> _Search | None:
    func = inp.find_function(p.reference or "", p.entry_point or "")
    if func is None:
        return None
    return _Search(inp.function_params(func), inp.body_literals(func), inp.doctest_args(func, func.name))


def _next_inputs(s: _Search, rng: random.Random, n: int) -> list[inp.Input]:
    """Seeds first; then growth from the calls that ran; a wider type search while none has."""
    if not s.tried:
        fresh = mutate.seed_inputs(s.params, s.literals, s.examples, rng, n)
    elif ok := s.ok_main():
        fresh = mutate.grow_inputs(s.params, ok, s.literals, rng, n)
    else:
        fresh = mutate.seed_inputs(s.params, s.literals, [], rng, n, explore=True)
    done = {src for _, src, _ in s.tried}
    return [i for i in fresh if inp.args_source(i) not in done]


def synthesize_execution(
    sandbox: Any,
    problems: list[Problem],
    *,
    n_tests: int = 20,
    seed: int = 0,
    exception_tests: bool = False,
    timeout: float = 1.0,
    rounds: int = 3,
) -> tuple[list[Problem], dict[str, list[tuple[str, str, Any]]]]:
    """Problems with `tests` and meta["synth"] filled, plus each task's input pool
    [(args source, status, value)] for telling equivalent mutants apart later."""
    rng = random.Random(seed)
    todo = {p.task_id: (p, s) for p in problems if p.reference and p.entry_point if (s := input_search(p))}
    # 1. Rounds of search: every round is one sandbox batch over all problems still short of inputs.
    for _ in range(rounds):
        batch = [
            (p, s, _next_inputs(s, rng, 2 * n_tests))
            for p, s in todo.values()
            if len(s.ok_main()) < 2 * n_tests
        ]
        batch = [(p, s, new) for p, s, new in batch if new]
        calls = [(p.reference, p.entry_point, [inp.args_source(i) for i in new]) for p, _, new in batch]
        for (_, s, new), (_, _, srcs), outcomes in zip(batch, calls, run_calls(sandbox, calls, timeout)):
            s.tried += list(zip(new, srcs, outcomes))
    # 2. Pick diverse candidates, the intended argument types first; rerun them in a separate job.
    pools, picks = {}, {}
    for tid, (_, s) in todo.items():
        pools[tid] = [
            (src, _classify(o), _value(o) if o.status == "ok" else o.error) for _, src, o in s.tried
        ]
        main = {inp.args_source(i) for i in s.ok_main()}
        cands = [(src, v) for src, status, v in pools[tid] if status == "ok"]
        first = _diverse([c for c in cands if c[0] in main], n_tests)
        picks[tid] = first + _diverse([c for c in cands if c[0] not in main], n_tests - len(first))
    calls = [(p.reference, p.entry_point, [src for src, _ in picks[tid]]) for tid, (p, _) in todo.items()]
    again = dict(zip(todo, run_calls(sandbox, calls, timeout)))
    # 3. Asserts and bookkeeping.
    out = []
    for p in problems:
        if p.task_id not in todo:
            out.append(_with_meta(p, [], 0, Counter({"no-reference": 1})))
            continue
        _, search = todo[p.task_id]
        main = search.ok_main()
        sig = inp.signature(main[0]) if main else None
        # Exception tests only for calls of the intended argument types: a TypeError on a wrong type says nothing.
        raising = [
            (src, o.error)
            for i, src, o in search.tried
            if _classify(o) == "raised" and inp.signature(i) == sig
        ]
        tests, dropped = _tests_for(
            p, picks[p.task_id], again[p.task_id], pools[p.task_id], raising if exception_tests else []
        )
        out.append(_with_meta(p, tests, len(pools[p.task_id]), dropped))
    return out, pools


def _tests_for(
    p: Problem,
    picked: list[tuple[str, Any]],
    rerun: list[StepOutcome],
    pool: list[tuple[str, str, Any]],
    raising: list[tuple[str, str]],
) -> tuple[list[str], Counter]:
    dropped = Counter(status for _, status, _ in pool if status != "ok")
    dropped["surplus"] = sum(1 for _, s, _ in pool if s == "ok") - len(picked)
    tests = []
    for (src, value), o in zip(picked, rerun):
        if o.status == "ok" and same_value(_value(o), value):
            tests.append(assert_for(p.entry_point or "", src, value))
        else:
            dropped["nondeterministic"] += 1
    for src, err in raising[: max(1, len(tests) // 5)]:
        test = exception_test(p.entry_point or "", src, str(err))
        if test:
            tests.append(test)
    return tests, Counter({k: v for k, v in dropped.items() if v > 0})


def _with_meta(p: Problem, tests: list[str], n_generated: int, dropped: Counter) -> Problem:
    meta = dict(p.meta)
    meta["synth"] = {
        "engine": "execution",
        "n_generated": n_generated,
        "n_kept": len(tests),
        "dropped": dict(dropped),
    }
    return Problem(p.task_id, p.prompt, p.entry_point, tests, p.reference, p.source, meta)
