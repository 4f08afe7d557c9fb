"""Calling a reference on generated arguments in the sandbox, and comparing what comes back.

Shared by `mine` (its dynamic check: two separate runs must agree) and `synth` (expected values are
what the reference returns): a value is kept only when it is the same value of the same type all the
way down, and a test's expected value only when its `repr` evaluates back to it. `source` writes a
value back as Python source (importers building tests from JSON or evalplus inputs use it too).
"""

from __future__ import annotations

import ast
import math
from typing import Any

from unitrl.sandbox.jobs import Job, Step, StepOutcome

MAX_REPR = 1000  # longer expected values make unreadable tests; drop them


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


def literal(value: Any) -> str | None:
    """`repr(value)` when it evaluates back to the same value of the same type (no size cap)."""
    try:
        text = repr(value)
        return text if same_value(ast.literal_eval(text), value) else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def source(value: Any) -> str:
    """Python source for an input value: its literal, with non-finite floats as `float('inf')` etc."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list | tuple):
        items = ", ".join(source(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{source(k)}: {source(v)}" for k, v in value.items()) + "}"
    if isinstance(value, set | frozenset) and value:
        body = "{" + ", ".join(source(v) for v in value) + "}"
        return body if isinstance(value, set) else f"frozenset({body})"
    text = literal(value)
    if text is None:
        raise ValueError(f"an input of type {type(value).__name__} cannot be written as Python source")
    return text
