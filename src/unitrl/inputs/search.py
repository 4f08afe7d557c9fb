"""The `execution` engine's input search: coverage-guided growth of a pool of calls to the reference.

Each problem gets a `Search`: its parameters with inferred types and shapes (inputs.py, infer.py), the
literals of the whole reference, example calls (doctests and the problem's own tests) and the
instrumented reference (coverage.py). Every round proposes new calls for every problem and runs them in
ONE sandbox batch: seeds first; then type-aware mutations of calls that ran, parents drawn by energy (a
call that reached a branch outcome or an output value nobody reached before gets more), plus a few
fresh seeds while coverage stays low. A problem stops when a round adds nothing new and it has enough
calls. Calls the reference answers are classified here; which of them become tests is execution.py's.

The "main" signature (argument types) is the one whose calls reach the most branch outcomes, then the
most plausible (each argument of a type some evidence points to), then the most calls; when the
problem has example calls, only their signatures count. A function meant for a bool `is_negative` may
accept a list by accident, but the calls with the intended types reach more of it.
"""

from __future__ import annotations

import ast
import builtins
import functools
import random
import re
from dataclasses import dataclass, field
from typing import Any

from unitrl.inputs import generate as inp
from unitrl.inputs import mutate
from unitrl.inputs.coverage import Instrumented, instrument, probe_expr
from unitrl.inputs.literals import module_constants
from unitrl.records import Problem
from unitrl.sandbox.jobs import Job, Step, StepOutcome

DROP_BY_STATUS = {"error": "raised", "timeout": "timeout", "memory": "memory", "output-limit": "output-limit"}


@dataclass(eq=False)
class Tried:
    """One call of the instrumented reference: its outcome and the branch outcomes it reached. Compared
    by identity: a search never tries the same call twice, and field-by-field equality made every
    `t in calls` of the test picking walk values and outcome sets."""

    inp: inp.Input
    src: str
    status: str  # "ok", "raised", "not-literal", "timeout", ...
    value: Any  # the value when ok, the error text when raised
    hits: frozenset[int] = frozenset()
    energy: float = 1.0
    after: inp.Input | None = None  # the arguments after the call, when the call changed them in place

    @functools.cached_property
    def sig(self) -> tuple[str, ...]:
        """`kinds(self.inp)`, computed once: the search asks for it on every pass over its calls."""
        return kinds(self.inp)


@dataclass
class Search:
    """One problem's input search: what we know of its parameters and every call tried so far."""

    entry: str
    params: list[inp.Param]
    literals: dict[str, list[Any]]
    examples: list[inp.Input]
    inst: Instrumented | None
    tried: list[Tried] = field(default_factory=list)
    covered: set[int] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)
    stale_rounds: int = 0

    @functools.cached_property
    def example_sigs(self) -> set[tuple[str, ...]]:
        """The argument kinds of the example calls (docstring, the problem's own tests)."""
        return {kinds(e) for e in self.examples}

    def ok(self) -> list[Tried]:
        return [t for t in self.tried if t.status == "ok"]

    def reach(self) -> dict[tuple, tuple[set, int]]:
        """Per signature (argument kinds): the outcomes its calls reached and how many ran."""
        stats: dict[tuple, tuple[set, int]] = {}
        for t in self.ok():
            cov, n = stats.get(t.sig, (set(), 0))
            stats[t.sig] = (cov | t.hits, n + 1)
        return stats

    def main_signature(self) -> tuple | None:
        stats = self.reach()
        allowed = self.example_sigs & stats.keys() or stats.keys()
        if not allowed:
            return None
        return max(allowed, key=lambda sig: (len(stats[sig][0]), self.plausibility(sig), stats[sig][1]))

    def good(self) -> list[Tried]:
        """The calls that ran and are of an allowed signature (see `allowed`)."""
        main, stats = self.main_signature(), self.reach()
        return [t for t in self.ok() if self.allowed(t, main, stats)]

    def param(self, slot: int | str) -> inp.Param | None:
        """The parameter a positional index or a keyword name fills."""
        if isinstance(slot, str):
            return next((p for p in self.params if p.name == slot), None)
        positional = [p for p in self.params if p.kind == "pos"]
        var = next((p for p in self.params if p.kind == "var"), None)
        return positional[slot] if slot < len(positional) else var

    def _param_at(self, slot: str, i: int) -> inp.Param | None:
        if "=" in slot:
            name = slot.split("=", 1)[0]
            return next((p for p in self.params if p.name == name), None)
        return self.param(i)

    def plausibility(self, sig: tuple) -> int:
        """How many arguments are of a type some evidence (hint, default, usage, name) points to."""
        score = 0
        for i, slot in enumerate(sig):
            p = self._param_at(slot, i)
            head = slot.split("=", 1)[-1]
            score += p is not None and head in {t.split("[")[0] for t in p.plausible}
        return score

    def allowed(self, t: Tried, main: tuple | None, stats: dict | None = None) -> bool:
        """Main-signature calls; without example calls also calls of a signature that reaches all the
        main one does, or whose every argument is of a plausible type (or, for a parameter nothing
        tells about, of the main signature's type)."""
        sig = t.sig
        if sig == main or (self.examples and sig in self.example_sigs):
            return True
        if self.examples or main is None:
            return False
        stats = stats if stats is not None else self.reach()
        if sig in stats and stats[sig][0] >= stats[main][0]:
            return True  # `concat(a, b)` on lists reaches all it does on strings: both are meant
        main_by_slot = {slot.split("=", 1)[0] if "=" in slot else i: slot for i, slot in enumerate(main)}
        for i, slot in enumerate(sig):
            p = self._param_at(slot, i)
            head = slot.split("=", 1)[-1]
            if p is None:
                return False
            if p.plausible:
                if head not in {x.split("[")[0] for x in p.plausible}:
                    return False
            elif main_by_slot.get(slot.split("=", 1)[0] if "=" in slot else i) != slot:
                return False
        return True


def kinds(i: inp.Input) -> tuple[str, ...]:
    """The argument type heads of one call, e.g. ('list', 'int', 'key=str')."""
    return tuple(s.split("[")[0] for s in inp.signature(i))


def new_search(p: Problem) -> Search | None:
    """A search for a function problem with a reference; None when the entry point cannot be found."""
    try:
        tree = ast.parse(p.reference or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    func = funcs.get(p.entry_point or "")
    if func is None:
        return None
    examples = inp.doctest_args(func, func.name) + [i for _, i in inp.test_calls(p.tests, func.name)]
    params = inp.function_params(func, funcs, examples, module_constants(tree))
    inst = instrument(p.reference or "")
    return Search(func.name, params, inp.body_literals(tree), examples, inst) if inst else None


def propose(s: Search, rng: random.Random, n: int) -> list[inp.Input]:
    """Seeds first; then growth from the calls that ran (novel ones first); a wider type search while
    nothing has run."""
    if not s.tried:
        fresh = mutate.seed_inputs(s.params, s.literals, s.examples, rng, n)
        fresh += mutate.seed_inputs(s.params, s.literals, [], rng, n // 4, explore=True)
    else:
        parents = s.good()
        if parents:
            done = {t.src for t in s.tried}
            # Deeper calls (more outcomes reached) and the author's examples are the better parents.
            examples = {inp.args_source(e) for e in s.examples}
            weights = [t.energy * (1 + len(t.hits)) ** 2 * (3 if t.src in examples else 1) for t in parents]
            grown = mutate.grow_inputs(
                s.params, [t.inp for t in parents], s.literals, rng, n - n // 4, weights=weights, seen=done
            )
            wide = s.inst is not None and len(s.covered) < 0.9 * s.inst.total  # low coverage: other types
            fresh = grown + mutate.seed_inputs(
                s.params, s.literals, [], rng, n // 4, explore=wide and rng.random() < 0.5
            )
        else:  # nothing ran yet: half from what the errors so far taught (see learn_from_errors)
            fresh = mutate.seed_inputs(s.params, s.literals, [], rng, n // 2)
            fresh += mutate.seed_inputs(s.params, s.literals, [], rng, n - n // 2, explore=True)
    done = {t.src for t in s.tried}
    # After a call timed out, stay within twice the size of the largest call that ran (`prime_fib(1001)`
    # spends the whole time limit; every call that big would too).
    slow = any(t.status == "timeout" for t in s.tried)
    cap = 2 * max((magnitude(t.inp) for t in s.ok()), default=16) if slow else None
    out: dict[str, inp.Input] = {}
    for i in fresh:
        src = inp.args_source(i)
        if src not in done and len(src) <= 2000 and (cap is None or magnitude(i) <= cap):
            out.setdefault(src, i)
    return list(out.values())[:n]


def magnitude(value: Any) -> int:
    """How big a value is, for running time: the largest integer or length anywhere inside it."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int | float):
        return int(min(abs(value), 10**12)) if value == value else 0
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        return max([len(value)] + [magnitude(k) + magnitude(v) for k, v in value.items()])
    if isinstance(value, list | tuple | set | frozenset):
        return max([len(value)] + [magnitude(v) for v in value])
    return 0


RESCUE_ROUNDS = 4  # extra rounds for a problem on which nothing has run yet
SEARCH_TIMEOUT = 0.25  # CPU seconds per search call: an input slower than that makes a slow test anyway


def run_round(sandbox: Any, batch: list[tuple[Search, list[inp.Input]]], timeout: float) -> None:
    """Run every proposed call of every problem in one sandbox batch; record outcomes and novelty."""
    timeout = min(timeout, SEARCH_TIMEOUT)
    jobs = []
    for i, (s, calls) in enumerate(batch):
        exprs = [probe_expr(s.entry, inp.args_source(c)) for c in calls]
        jobs.append(
            Job(program=s.inst.source, steps=[Step("eval", exprs=[e]) for e in exprs], timeout=timeout, tag=i)
        )
    results = sandbox.run(jobs) if jobs else []
    for (s, calls), r in zip(batch, results):
        novel = False
        for c, o in zip(calls, r.steps):
            t = classify(c, o)
            if t.status == "ok":
                key = repr(t.value)
                new_cov, new_out = bool(t.hits - s.covered), key not in s.outputs
                t.energy = 1.0 + 4.0 * new_cov + 2.0 * new_out
                novel |= new_cov or new_out
                s.covered |= t.hits
                s.outputs.add(key)
            s.tried.append(t)
        s.stale_rounds = 0 if novel else s.stale_rounds + 1
        learn_from_errors(s, s.tried[-len(calls) :] if calls else [])


# TypeError/AttributeError messages that name the type an argument should have had: (pattern, the types
# wanted, best first); the pattern's groups name the rejected types (no group: any type was rejected).
_SCALARS = {"int", "float", "str", "bytes", "bool"}
_WANTS: list[tuple[re.Pattern, list[str]]] = [
    (re.compile(r"bytes-like object is required, not '(\w+)'"), ["bytes"]),
    (re.compile(r"(?:must be|expected) str(?:ing)?(?: instance)?,? (?:not |got )?'?(\w+)'?"), ["str"]),
    (re.compile(r"can only concatenate str \(not \"(\w+)\"\)"), ["str"]),
    (re.compile(r"'(\w+)' object cannot be interpreted as an integer"), ["int"]),
    (re.compile(r"must be real number, not (\w+)"), ["float"]),
    (re.compile(r"expected string or bytes-like object(?:, got '(\w+)')?"), ["str"]),
    (re.compile(r"unsupported operand type\(s\) for (?:[&|^]|<<|>>|divmod\(\))=?: '(\w+)' and '(\w+)'"), ["int"]),
    (re.compile(r"int\(\) argument must be a string, a bytes-like object or a (?:real )?number, not '(\w+)'"),
     ["str"]),
    (re.compile(r"'(\w+)' object is not iterable"), ["list[int]", "str"]),
    (re.compile(r"object of type '(\w+)' has no len\(\)"), ["str", "list[int]"]),
    (re.compile(r"'(\w+)' object is not subscriptable"), ["list[int]", "str"]),
    (re.compile(r"(str)ing indices must be integers"), ["dict[str,str]"]),
    (re.compile(r"(list|tuple) indices must be integers or slices, not str"), ["dict[str,str]"]),
    (re.compile(r"'(\w+)' object is not callable"), ["object"]),
]  # fmt: skip
_COMPARE = re.compile(r"not supported between instances of '(\w+)' and '(\w+)'")
_ATTR = re.compile(r"'(\w+)' object has no attribute '(\w+)'")
_HAS_ATTR = {"str": "str", "bytes": "bytes", "list": "list[int]", "dict": "dict[str,int]", "set": "set[int]"}


def _wanted(msg: str) -> tuple[list[str], set[str] | None]:
    """(types the message asks for, the rejected types; None: any) from one error message."""
    for pattern, types in _WANTS:
        if m := pattern.search(msg):
            bad = {g for g in m.groups() if g}
            if types == ["int"] and bad:  # `1.5 & 3`: the operand that was not an int
                bad -= {"int"}
            return types, bad or None
    if m := _COMPARE.search(msg):  # `3 <= [1]`: the container should have been the scalar
        a, b = m.groups()
        if (a in _SCALARS) != (b in _SCALARS):
            scalar, other = (a, b) if a in _SCALARS else (b, a)
            return [scalar], {other}
        return [], None
    if m := _ATTR.search(msg):
        wanted = [typ for name, typ in _HAS_ATTR.items() if hasattr(getattr(builtins, name), m.group(2))]
        return wanted[:1], {m.group(1)}
    return [], None


def learn_from_errors(s: Search, tried: list[Tried]) -> None:
    """Promote the types an error message asks for, on the parameters that got the type it rejected
    (`a bytes-like object is required, not 'list'` -> bytes for the list argument)."""
    for t in tried:
        if t.status != "raised" or not str(t.value).startswith(("TypeError", "AttributeError")):
            continue
        wanted, bad = _wanted(str(t.value))
        if not wanted:
            continue
        for slot, value in _slots(t.inp):
            p = s.param(slot)
            if p is None or p.hinted or (bad and type(value).__name__ not in bad):
                continue
            for w in reversed(wanted):
                if w not in p.plausible:
                    p.plausible = [w, *p.plausible]
                    p.types = [w, *[x for x in p.types if x != w]]


def _slots(i: inp.Input) -> list[tuple[int | str, Any]]:
    args, kwargs = i
    return list(enumerate(args)) + list(kwargs.items())


def classify(c: inp.Input, o: StepOutcome) -> Tried:
    """A probe outcome as a Tried call: its status, value or error, and the outcomes it reached."""
    from unitrl.inputs.calls import round_trips, same_value

    src = inp.args_source(c)
    if o.status != "ok" or not o.values or not isinstance(o.values[0], list) or len(o.values[0]) != 4:
        return Tried(c, src, DROP_BY_STATUS.get(o.status, o.status), o.error)
    tag, value, hits, after = o.values[0]
    hits = frozenset(h for h in hits if isinstance(h, int)) if isinstance(hits, list) else frozenset()
    if tag == "too-much-work":  # a slow input, decided by counting (see coverage.WORK_BUDGET)
        return Tried(c, src, "timeout", f"more than {value} probe events", hits)
    if tag == "raised":
        name = str(value).split(":", 1)[0]
        status = "memory" if name == "MemoryError" else "recursion" if name == "RecursionError" else "raised"
        return Tried(c, src, status, str(value), hits)
    status = "ok" if round_trips(value) else "not-literal"
    changed = None
    if isinstance(after, list) and len(after) == 2 and isinstance(after[1], dict):
        now = (tuple(after[0]), after[1])
        if not same_value(list(now[0]), list(c[0])) or not same_value(now[1], c[1]):
            changed = now if round_trips(now) else None
            status = status if changed is not None else "not-literal"
    return Tried(c, src, status, value, hits, after=changed)


def contract_raise(s: Search, t: Tried) -> bool:
    """The reference raised on purpose: the error's type is one its own `raise` statement reached."""
    if t.status != "raised" or s.inst is None:
        return False
    name = str(t.value).split(":", 1)[0].strip()
    return any(s.inst.raises.get(h) == name for h in t.hits)


def search_inputs(
    sandbox: Any, searches: dict[str, Search], rngs: dict[str, random.Random], *, want: int, rounds: int,
    timeout: float, rescue: int = RESCUE_ROUNDS,
) -> None:  # fmt: skip
    """Rounds of proposals, one sandbox batch each, until every problem is saturated or rounds run out.
    A problem with branch outcomes still unreached that found something new last round gets up to
    `rounds` more (the search is still paying off there); one on which no call has run yet gets up to
    `rescue` more (each round's errors teach the next what types to try)."""
    for r in range(max(2 * rounds, rounds + rescue)):
        batch = []
        for tid, s in searches.items():
            enough = len(s.good()) >= want
            complete = s.inst is None or len(s.covered) >= s.inst.total
            if r and enough and s.stale_rounds >= (1 if complete else 2):
                continue  # nothing new lately and plenty of calls: done
            stuck = not any(t.status == "ok" for t in s.tried)
            if r >= rounds and (
                r >= rounds + rescue if stuck else r >= 2 * rounds or s.stale_rounds or complete
            ):
                continue
            calls = propose(s, rngs[tid], want if not (enough and complete) else max(8, want // 3))
            if calls:
                batch.append((s, calls))
        if not batch:
            return
        run_round(sandbox, batch, timeout)
