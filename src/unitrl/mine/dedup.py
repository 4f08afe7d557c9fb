"""Near-duplicate removal by normalized syntax tree.

Two functions are the same problem when their trees are equal after dropping docstrings and renaming
the function, its parameters and its local variables to positional placeholders (v0, v1, ... in order of
first appearance). Names from outside the function (modules, helpers, builtins) are kept: `math.floor`
and `math.ceil` are different problems. This is the AST-dump key the closest public Gorinski-style
pipelines and the Gorinski replay buffer use (REFERENCE.md section 2).
"""

from __future__ import annotations

import ast
import hashlib

from unitrl.mine.static import free_names
from unitrl.records import Problem


class _Normalize(ast.NodeTransformer):
    def __init__(self, keep: set[str]):
        self.keep = keep
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in self.keep:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.Name:  # noqa: N802 - NodeTransformer's naming
        node.id = self._rename(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:  # noqa: N802
        node.name = self._rename(node.name)
        if ast.get_docstring(node) is not None:
            node.body = node.body[1:] or [ast.Pass()]
        node.returns = None
        self.generic_visit(node)
        return node


def normalized_key(source: str, entry: str) -> str | None:
    """A hash of the entry function's normalized tree (None if it cannot be parsed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry]
    if not funcs:
        return None
    func = funcs[-1]
    keep = free_names(func)
    dump = ast.dump(_Normalize(keep).visit(func), annotate_fields=False, include_attributes=False)
    return hashlib.sha1(dump.encode("utf-8")).hexdigest()


def dedup(problems: list[Problem]) -> tuple[list[Problem], int]:
    """The first problem of each normalized-AST class, and how many were dropped."""
    seen: set[str] = set()
    kept = []
    for p in problems:
        key = normalized_key(p.reference or "", p.entry_point or "")
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        kept.append(p)
    return kept, len(problems) - len(kept)
