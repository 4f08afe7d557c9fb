"""Checks of single field values in records read from files, one small function per kind of value.

Each check takes the field's name (as shown to the user, e.g. `tests[3]` or `tests[0].stdout`) and the
parsed JSON value, and raises `Bad(field, reason)` when later code could not use the value: wrong JSON
type, a non-finite or out-of-range number, an empty id, a test string that does not compile. The table
of which check applies to which field of which record lives in `unitrl.records`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

Check = Callable[[str, Any], None]


class Bad(Exception):
    """A field value that fails its check: the field (e.g. `tests[3]`) and why."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


def kind(v: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if isinstance(v, bool):
        return "a boolean"
    names = {type(None): "null", int: "an integer", float: "a number", str: "a string"}
    if type(v) in names:
        return names[type(v)]
    return "a list" if isinstance(v, list) else "an object" if isinstance(v, dict) else type(v).__name__


def _want(ok: bool, name: str, what: str, v: Any) -> None:
    if not ok:
        raise Bad(name, f"expected {what}, got {kind(v)}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def text(name: str, v: Any) -> None:
    _want(isinstance(v, str), name, "a string", v)


def opt_text(name: str, v: Any) -> None:
    _want(v is None or isinstance(v, str), name, "a string or null", v)


def task_id(name: str, v: Any) -> None:
    text(name, v)
    if not v.strip():
        raise Bad(name, "must not be empty")


def sample_id(name: str, v: Any) -> None:
    _want(isinstance(v, str) or is_int(v), name, "a string or an integer", v)


def opt_sample_id(name: str, v: Any) -> None:
    _want(v is None or isinstance(v, str) or is_int(v), name, "a string, an integer or null", v)


def mapping(name: str, v: Any) -> None:
    _want(isinstance(v, dict), name, "an object", v)


def flag(name: str, v: Any) -> None:
    _want(isinstance(v, bool), name, "true or false", v)


def number(name: str, v: Any, low: float = -math.inf, high: float = math.inf) -> None:
    """A finite JSON number (not a boolean) in [low, high]."""
    _want(isinstance(v, int | float) and not isinstance(v, bool), name, "a number", v)
    if not math.isfinite(v) or not low <= v <= high:
        bounds = "finite" if math.isinf(low) and math.isinf(high) else f"in [{low:g}, {high:g}]"
        raise Bad(name, f"must be {bounds}, got {str(v)[:40]}")


def rate(name: str, v: Any) -> None:
    number(name, v, 0.0, 1.0)


def seconds(name: str, v: Any) -> None:
    number(name, v, 0.0)


def entry_point(name: str, v: Any) -> None:
    opt_text(name, v)
    if v and not all(part.isidentifier() for part in v.split(".")):
        raise Bad(name, f"not a Python name: {v[:60]!r}")


def one_of(choices: Sequence[str]) -> Check:
    def check(name: str, v: Any) -> None:
        text(name, v)
        if v not in choices:
            raise Bad(name, f"unknown value {v[:40]!r} (known: {', '.join(choices)})")

    return check


@functools.lru_cache(maxsize=65536)
def compile_error(code: str) -> str | None:
    """Why a test string does not compile, or None (cached: problem files are read by several stages)."""
    try:
        compile(code, "<test>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"does not compile: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return f"does not compile: {type(exc).__name__}: {str(exc)[:80]}"
    return None


def tests(name: str, v: Any) -> None:
    """Assert/script tests (strings that compile) or stdin/stdout objects, never a mix."""
    _want(isinstance(v, list), name, "a list", v)
    stdio = bool(v) and isinstance(v[0], dict)
    for i, t in enumerate(v):
        where = f"{name}[{i}]"
        if not stdio:
            _want(isinstance(t, str), where, "a test string (like the first test)", t)
            if error := compile_error(t):
                raise Bad(where, error)
            continue
        _want(isinstance(t, dict), where, 'a {"stdin", "stdout"} object (like the first test)', t)
        if extra := sorted(set(t) - {"stdin", "stdout"}):
            raise Bad(f"{where}.{extra[0][:40]}", "unknown key (allowed: stdin, stdout)")
        if "stdout" not in t:
            raise Bad(f"{where}.stdout", "missing")
        for key in ("stdin", "stdout"):
            if key in t:
                text(f"{where}.{key}", t[key])


def objects(checks: dict[str, Check], required: Sequence[str]) -> Check:
    """A list of objects whose keys each have a check (e.g. a Result's per-test verdicts)."""

    def check(name: str, v: Any) -> None:
        _want(isinstance(v, list), name, "a list", v)
        for i, item in enumerate(v):
            _want(isinstance(item, dict), f"{name}[{i}]", "an object", item)
            for key in required:
                if key not in item:
                    raise Bad(f"{name}[{i}].{key}", "missing")
            for key, value in item.items():
                if key not in checks:
                    raise Bad(f"{name}[{i}].{str(key)[:40]}", f"unknown key (allowed: {', '.join(checks)})")
                checks[key](f"{name}[{i}].{key}", value)

    return check
