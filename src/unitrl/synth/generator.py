"""The `llm-generator` engine (HARDTESTGEN-style): the LLM writes a program that prints many test inputs.

The model sees the task and its reference and answers with a small Python program that prints one input
per line as JSON: the list of positional arguments of one call (function problems), or the whole stdin
text of one run (stdin/stdout problems, or problems with no entry point), small edge cases, random ones,
large and adversarial ones alike. That program is untrusted, so it runs in the SANDBOX, as one eval step
with its own time limit: its `random` is seeded from (seed, task_id), and what it prints goes to an
in-memory buffer capped at `max_output` characters (the generator is stopped there, the last partial
line dropped). Each line is then validated: it must parse, have the right shape, be a literal that
survives `repr`, fit `max_input_chars`, and not repeat an earlier one. Expected outputs come from running
the reference in the sandbox twice (values that differ, raise or time out are dropped). The kept tests
are picked by a seeded sampler that always includes the largest inputs and spreads the rest over
distinct outputs; they extend the problem's existing tests of the same kind, never replace them.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from unitrl.inputs.calls import same_value
from unitrl.records import Problem, extract_code
from unitrl.sandbox.jobs import Job, Step, StepOutcome
from unitrl.synth.execution import assert_for

MAX_OUTPUT = 500_000  # characters a generator may print before it is stopped
MAX_INPUT_CHARS = 20_000  # one input: an argument list's source, or a stdin text
MAX_CANDIDATES = 200  # distinct valid inputs the reference is run on, per problem
GENERATOR_TIMEOUT = 10.0  # CPU seconds for the generator program

_TASK = "## Task\n{task}\n\n## Reference solution\n```python\n{reference}\n```\n\n"
_RULES = """Print about {n_inputs} inputs: edge cases (empty, single element, zero, negative, duplicates, the
boundaries the task states), typical random cases, a few LARGE cases (up to about {max_chars} characters
per line) and adversarial cases likely to break wrong or slow solutions. Every input must be valid for
the task. Use the `random` module for randomness (it is already seeded; do not seed it). Use the
standard library only, no files, network or subprocesses. Answer with the program only, in one
```python code block."""
FUNCTION_ASK = """Write a Python program that prints test inputs for the function `{entry}`, one per line,
each line a JSON array of the positional arguments of one call, e.g. `print(json.dumps([[3, 1, 2], 2]))`.
"""
STDIO_ASK = """Write a Python program that prints test inputs for this stdin/stdout program, one per line,
each line a JSON string holding the WHOLE standard input of one run, e.g.
`print(json.dumps("3\\n1 2 3\\n"))`.
"""

# The generator runs inside this wrapper, in the sandbox: stdout captured and capped, random seeded,
# sys.exit() a normal end, and an exception after some inputs keeps the inputs printed before it.
_WRAPPER = """
def _unitrl_generate():
    import io, random, sys

    class _Full(BaseException):  # not an Exception: a generator's `except Exception` cannot swallow it
        pass

    class _Capped(io.StringIO):
        def write(self, s):
            if self.tell() + len(s) > {cap}:
                super().write(s[: max(0, {cap} - self.tell())])
                raise _Full
            return super().write(s)

    random.seed({seed})
    out, old, error, capped = _Capped(), sys.stdout, "", False
    sys.stdout = out
    try:
        exec(compile({source!r}, "<generator>", "exec"), {{"__name__": "__main__"}})
    except _Full:
        capped = True
    except SystemExit:
        pass
    except Exception as exc:
        error = (type(exc).__name__ + ": " + str(exc))[:300]
    finally:
        sys.stdout = old
    return [out.getvalue(), capped, error]
"""


def is_stdio_problem(p: Problem) -> bool:
    return p.is_stdio or not p.entry_point


def generator_messages(p: Problem, n_inputs: int, max_chars: int = MAX_INPUT_CHARS) -> list[dict]:
    task = str(p.meta.get("instruction") or p.prompt).strip()
    ask = STDIO_ASK if is_stdio_problem(p) else FUNCTION_ASK.format(entry=p.entry_point)
    text = (
        _TASK.format(task=task, reference=(p.reference or "").strip())
        + ask
        + _RULES.format(n_inputs=n_inputs, max_chars=max_chars)
    )
    return [{"role": "user", "content": text}]


def generator_seed(seed: int, task_id: str) -> int:
    """A stable 63-bit seed per (run seed, problem): the same inputs whatever else is in the batch."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{task_id}".encode()).digest()[:8], "big") >> 1


def generator_job(source: str, seed: int, cap: int = MAX_OUTPUT, timeout: float = GENERATOR_TIMEOUT) -> Job:
    program = _WRAPPER.format(cap=int(cap), seed=int(seed), source=source)
    return Job(program=program, steps=[Step("eval", exprs=["_unitrl_generate()"])], timeout=timeout)


def generator_output(outcome: StepOutcome) -> tuple[str, bool, str]:
    """(printed text, capped, error) from the generator's eval step; a failed step printed nothing."""
    value = outcome.values[0] if outcome.status == "ok" and outcome.values else None
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)):
        return "", False, outcome.error or f"generator step {outcome.status}"
    return value[0], bool(value[1]), str(value[2])


def parse_inputs(
    text: str, stdio: bool, capped: bool = False, max_chars: int = MAX_INPUT_CHARS
) -> tuple[list[str], Counter]:
    """Validated, distinct inputs from the generator's lines: argument-list sources (function problems)
    or stdin texts; and how many lines were rejected, by reason."""
    lines = text.split("\n")  # not splitlines(): a raw U+2028 inside a JSON string is no line break
    if capped and lines:
        lines.pop()  # cut off mid-line by the cap
    kept: list[str] = []
    seen: set[str] = set()
    rejected: Counter = Counter()
    for line in lines:
        if not line.strip():
            continue
        item = _one_input(line, stdio)
        if item is None:
            rejected["invalid-line"] += 1
        elif len(item) > max_chars:
            rejected["too-large"] += 1
        elif item in seen:
            rejected["duplicate"] += 1
        else:
            seen.add(item)
            kept.append(item)
    return kept, rejected


def literal_source(value: Any, limit: int = MAX_INPUT_CHARS) -> str | None:
    """`repr(value)` when it is at most `limit` characters and evaluates back to the same value and
    types (NaN, infinities and objects are not literals an assert can hold)."""
    try:
        text = repr(value)
        return text if len(text) <= limit and same_value(ast.literal_eval(text), value) else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _one_input(line: str, stdio: bool) -> str | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # ValueError also covers ints too long to convert
        return None
    if stdio:
        return value if isinstance(value, str) else None
    if not isinstance(value, list):
        return None
    args = [literal_source(a, 1 << 62) for a in value]
    return None if None in args else ", ".join(args)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ the engine


def run_generators(
    sandbox: Any, sources: list[str], seeds: list[int], timeout: float = GENERATOR_TIMEOUT
) -> list[tuple[str, bool, str]]:
    """Run each generator program in the sandbox: (printed text, capped, error) per program, in order."""
    jobs = [
        replace(generator_job(src, sd, timeout=timeout), tag=i)
        for i, (src, sd) in enumerate(zip(sources, seeds))
    ]
    return [generator_output(r.steps[0]) for r in (sandbox.run(jobs) if jobs else [])]


def _verdict(a: StepOutcome, b: StepOutcome, stdio: bool, max_chars: int) -> tuple[str, Any]:
    """(status, expected) of one input from the reference's two runs; status "ok" means usable, and
    "raised" keeps the error (a mutant must raise there too)."""
    if a.status != "ok":
        return ("raised" if a.status == "error" else a.status), a.error
    got, again = (
        (a.stdout, b.stdout)
        if stdio
        else (a.values[0] if a.values else None, b.values[0] if b.values else None)
    )
    if b.status != "ok" or not same_value(got, again):
        return "nondeterministic", None
    if stdio:
        return ("ok", got) if got is not None and len(got) <= max_chars else ("too-large-output", None)
    return ("ok", got) if literal_source(got, max_chars) is not None else ("not-literal", None)


def reference_outcomes(
    sandbox: Any, todo: list[tuple[Problem, list[str]]], timeout: float, max_chars: int = MAX_INPUT_CHARS
) -> list[list[tuple[str, str, Any]]]:
    """Per (problem, inputs): (input, status, expected) from running the reference twice, in separate
    jobs; stdio problems run it as __main__ with each input as stdin."""

    def job(i: int, p: Problem, ins: list[str]) -> Job:
        if is_stdio_problem(p):
            return Job(p.reference or "", [Step("stdio", stdin=s) for s in ins], timeout=timeout, tag=i)
        return Job(
            p.reference or "", [Step("eval", exprs=[f"{p.entry_point}({s})"]) for s in ins], timeout, i
        )

    jobs = [job(i, p, ins) for i, (p, ins) in enumerate(todo)]
    first, second = (sandbox.run(jobs) if jobs else [] for _ in range(2))
    out = []
    for (p, ins), r1, r2 in zip(todo, first, second):
        stdio = is_stdio_problem(p)
        out.append([(src, *_verdict(a, b, stdio, max_chars)) for src, a, b in zip(ins, r1.steps, r2.steps)])
    return out


def _spread(cands: list[tuple[str, Any]], n: int, rng: random.Random, large_share: float = 0.2) -> list:
    """n picks: the largest inputs (a share of the picks), then the rest in seeded random order taken
    round-robin over distinct expected outputs; returned in the generator's order."""
    order = {src: i for i, (src, _) in enumerate(cands)}
    n_large = min(n, int(n * large_share))
    large = sorted(cands, key=lambda c: (-len(c[0]), order[c[0]]))[:n_large]
    taken = {src for src, _ in large}
    rest = [c for c in cands if c[0] not in taken]
    rng.shuffle(rest)
    groups: dict[str, list] = {}
    for c in rest:
        groups.setdefault(repr(c[1]), []).append(c)
    spread: list = []
    while len(spread) < n - n_large and any(groups.values()):
        for g in groups.values():
            if g and len(spread) < n - n_large:
                spread.append(g.pop(0))
    return sorted(large + spread, key=lambda c: order[c[0]])


def _pool(inputs: list[str], n: int, rng: random.Random) -> list[str]:
    """At most n inputs for the reference to run: the largest fifth always, a seeded sample of the rest."""
    if len(inputs) <= n:
        return inputs
    return [src for src, _ in _spread([(s, s) for s in inputs], n, rng)]


def _tests(p: Problem, picked: list[tuple[str, Any]]) -> list:
    """The problem's existing tests of the same kind, extended by the picked (input, expected) pairs."""
    stdio = is_stdio_problem(p)
    new: list = (
        [{"stdin": s, "stdout": out} for s, out in picked]
        if stdio
        else [assert_for(p.entry_point or "", s, v) for s, v in picked]
    )
    old = [t for t in p.tests if isinstance(t, dict) == stdio]
    return old + [t for t in new if t not in old]


@dataclass
class _Generated:
    """One problem's generator run: its program, seed, what it printed and the inputs kept from it."""

    problem: Problem
    program: str
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)


def generate_inputs(
    sandbox: Any, endpoint: Any, problems: list[Problem], n_tests: int, seed: int, **opts: Any
) -> tuple[list[_Generated], dict[str, str]]:
    """Ask for one generator per problem, run them all in the sandbox, validate what they printed.
    `opts`: temperature, max_tokens, generator_timeout, max_chars. Problems with no usable input are
    returned as drop reasons: no-answer (the endpoint failed: transient) or generator-failed."""
    msgs = [generator_messages(p, 3 * n_tests, opts["max_chars"]) for p in problems]
    answers = endpoint.complete_many(
        msgs, temperature=opts["temperature"], max_tokens=opts["max_tokens"], seed=seed, errors="empty"
    )
    dropped = {p.task_id: "no-answer" for p, a in zip(problems, answers) if not a}
    gens = [
        _Generated(p, extract_code(a[0]), generator_seed(seed, p.task_id))
        for p, a in zip(problems, answers)
        if a
    ]
    printed = run_generators(
        sandbox, [g.program for g in gens], [g.seed for g in gens], opts["generator_timeout"]
    )
    kept = []
    for g, (text, capped, error) in zip(gens, printed):
        stdio = is_stdio_problem(g.problem)
        inputs, g.rejected = parse_inputs(text, stdio, capped, opts["max_chars"])
        g.inputs = _pool(inputs, MAX_CANDIDATES, random.Random(g.seed))
        g.rejected["surplus-input"] += len(inputs) - len(g.inputs)
        g.info = {"lines": text.count("\n"), "capped": capped, "error": error, "seed": g.seed}
        if g.inputs:
            kept.append(g)
        else:
            dropped[g.problem.task_id] = "generator-failed"
    return kept, dropped


def synthesize_llm_generator(
    sandbox: Any,
    endpoint: Any,
    problems: list[Problem],
    *,
    n_tests: int = 20,
    seed: int = 0,
    temperature: float = 0.7,
    max_tokens: int = 2048,
    timeout: float = 1.0,
    generator_timeout: float = GENERATOR_TIMEOUT,
    max_chars: int = MAX_INPUT_CHARS,
) -> tuple[list[Problem], dict[str, str], dict[str, list[tuple[str, str, Any]]]]:
    """Problems with generated tests, the reason each other was dropped, and per function problem the
    pool [(args source, status, value)] the quality step uses to tell equivalent mutants apart."""
    opts = dict(temperature=temperature, max_tokens=max_tokens, generator_timeout=generator_timeout,
                max_chars=max_chars)  # fmt: skip
    usable = [p for p in problems if p.reference]
    gens, dropped = generate_inputs(sandbox, endpoint, usable, n_tests, seed, **opts)
    dropped.update((p.task_id, "no-reference") for p in problems if not p.reference)
    outcomes = reference_outcomes(sandbox, [(g.problem, g.inputs) for g in gens], timeout, max_chars)
    out, pools = [], {}
    for g, rows in zip(gens, outcomes):
        p, stdio = g.problem, is_stdio_problem(g.problem)
        ok = [(s, v) for s, status, v in rows if status == "ok"]
        rng = random.Random(f"{g.seed}:pick")
        picked = _spread(ok, n_tests, rng)
        g.rejected.update(status for _, status, _ in rows if status != "ok")
        g.rejected["surplus"] += len(ok) - len(picked)
        if not stdio:
            pools[p.task_id] = rows
        synth = {
            "engine": "llm-generator",
            "model": endpoint.model,
            "kind": "stdio" if stdio else "function",
            "generator": g.info,
            "generator_program": g.program,
            "n_generated": len(g.inputs) + g.rejected["surplus-input"],
            "n_kept": len(picked),
            "n_existing": sum(isinstance(t, dict) == stdio for t in p.tests),
            "dropped": {k: v for k, v in g.rejected.items() if v > 0},
        }
        out.append(replace(p, tests=_tests(p, picked), meta=dict(p.meta, synth=synth)))
    return out, dropped, pools
