"""Literal values read from source without running it: constants, constant tables, pure calls on them.

`literal(node, consts)` evaluates a node when it is a literal (`3`, `(b'JFIF', b'Exif')`), a name of one
of the reference's module-level constants (`NL`), a pure builtin call on literals (`ord(b'P')`), or a
compiled regular expression (`re.compile(r'\\.\\d+$')` -> `Regex`); `module_constants` collects the
`NAME = literal` assignments of a module in order, as they bind at run time.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any


def literal(node: ast.AST | None, consts: dict[str, Any] | None = None) -> tuple[bool, Any]:
    """(is a literal, its value) for constants, tuples/lists/sets of constants, and names of the
    reference's module-level constants (`NL = '\\n'`)."""
    if consts and isinstance(node, ast.Name) and node.id in consts:
        return True, consts[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _PURE_CALLS:
        parts = [literal(a, consts) for a in node.args]  # ord(b'P'), len('abc'): computed here
        if all(ok for ok, _ in parts) and not node.keywords:
            try:
                return True, _PURE_CALLS[node.func.id](*[v for _, v in parts])
            except (TypeError, ValueError, OverflowError):
                return False, None
    if _regex_call(node):
        ok, pat = literal(node.args[0], consts)  # type: ignore[attr-defined]
        return (True, Regex(pat)) if ok and isinstance(pat, str) else (False, None)
    if consts and isinstance(node, ast.Tuple | ast.List | ast.Set):
        parts = [literal(e, consts) for e in node.elts]
        if all(ok for ok, _ in parts):
            vals = [v for _, v in parts]
            return True, tuple(vals) if isinstance(node, ast.Tuple) else vals
    try:
        return True, ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


@dataclass(frozen=True)
class Regex:
    """A compiled pattern the code matches a parameter against (`NAME = re.compile(r'...')`)."""

    pattern: str


_PURE_CALLS: dict[str, Any] = {"ord": ord, "chr": chr, "len": len, "bytes": bytes, "str": str, "int": int,
                               "float": float, "tuple": tuple, "frozenset": frozenset}  # fmt: skip


def _regex_call(node: ast.AST | None) -> bool:
    f = node.func if isinstance(node, ast.Call) else None
    return (
        isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "re"
        and f.attr == "compile" and bool(node.args)  # type: ignore[union-attr]
    )  # fmt: skip


def module_constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level `NAME = literal` assignments (the last one wins, as at run time)."""
    out: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            ok, v = literal(stmt.value, out)
            if ok:
                out[stmt.targets[0].id] = v
            else:
                out.pop(stmt.targets[0].id, None)
    return out


def head_of(v: Any) -> str:
    if v is None:
        return "none"
    return {bool: "bool", int: "int", float: "float", str: "str", bytes: "bytes", list: "list",
            tuple: "tuple", dict: "dict", set: "set", frozenset: "set"}.get(type(v), "int")  # fmt: skip


def flat(values: list[Any]) -> list[Any]:
    out = []
    for v in values:
        out += list(v) if isinstance(v, tuple) else [v]
    return out
