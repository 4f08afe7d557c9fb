"""Programs that should never pass a useful suite, and the expected values a suite checks.

A suite that `return False` passes teaches nothing: a policy can collect the reward without solving
the task. `trivial_programs` is a fixed set of one-line programs with the problem's entry point
(constants None/True/False/0/1/''/[]/{}/(), the first argument returned unchanged, a raise) plus the
suite's own most common expected value as a constant; quality.py grades each in the sandbox like any
program, and a problem whose suite one of them fully passes is degenerate. `expected_key` reads the
expected value (or the expected exception) a test checks, to count a suite's distinct expected values.
"""

from __future__ import annotations

import ast
from collections import Counter
from typing import Any

TRIVIAL_BODIES: dict[str, str] = {
    "return-none": "return None",
    "return-true": "return True",
    "return-false": "return False",
    "return-0": "return 0",
    "return-1": "return 1",
    "return-empty-str": "return ''",
    "return-empty-list": "return []",
    "return-empty-dict": "return {}",
    "return-empty-tuple": "return ()",
    "identity": "return args[0] if args else next(iter(kwargs.values()), None)",
    "raise": "raise ValueError('trivial program')",
}


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def expected_key(test: Any) -> str | None:
    """What a test expects, as a comparable key: the repr of the expected value of `assert f(x) == v`
    (also the float in the tolerance form `abs(f(x) - v) <= ...`), "raises X" for a test that the call
    raises X; None when the test is of another form."""
    if not isinstance(test, str):
        return None
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Try):
        handlers = tree.body[0].handlers
        if len(handlers) == 1 and isinstance(handlers[0].type, ast.Name):
            return f"raises {handlers[0].type.id}"
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    node = tree.body[0].test
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return None
    if isinstance(node.ops[0], ast.Eq | ast.Is):
        ok, value = _literal(node.comparators[0])
        return repr(value) if ok else None
    if isinstance(node.ops[0], ast.LtE) and isinstance(node.left, ast.Call):  # abs(f(x) - v) <= tol
        inner = node.left.args[0] if node.left.args else None
        if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub):
            ok, value = _literal(inner.right)
            return repr(value) if ok else None
    return None


def distinct_expected(tests: list[Any]) -> int | None:
    """How many distinct expected values (or exceptions) the suite checks; None if none can be read."""
    keys = [k for k in map(expected_key, tests) if k is not None]
    return len(set(keys)) if keys else None


def trivial_programs(entry: str, tests: list[Any]) -> list[tuple[str, str]]:
    """(name, program) for each trivial program of this entry point, the suite's own most common
    expected value included (`return-common`)."""
    bodies = dict(TRIVIAL_BODIES)
    values = [k for k in map(expected_key, tests) if k is not None and not k.startswith("raises ")]
    if values:
        common = Counter(values).most_common(1)[0][0]
        if f"return {common}" not in bodies.values():
            bodies["return-common"] = f"return {common}"
    return [(name, f"def {entry}(*args, **kwargs):\n    {body}\n") for name, body in bodies.items()]
