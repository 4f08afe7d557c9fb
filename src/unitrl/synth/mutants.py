"""Wrong variants of a reference (mutants), to measure how much a test suite catches: its kill rate.

Classic mutation testing (DeMillo, Lipton and Sayward 1978; the operator set follows mutmut/MutPy's
common core): swap a comparison, step an integer constant by one, swap an arithmetic operator, swap
`and`/`or`, negate a condition, drop a `not` or a unary minus, change a returned value, shift a slice
bound, swap `break`/`continue`. Each mutant changes exactly one site. Docstrings are never touched.
A mutant is killed when it fails at least one test. A mutant that agrees with the reference on every
input we ever generated is most likely equivalent and is left out of the rate (it can not be killed).
"""

from __future__ import annotations

import ast
import copy
import random
from collections.abc import Callable

CMP_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BIN_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitXor: ast.BitOr,
}

Mutation = Callable[[ast.AST], ast.AST | None]  # edits the node in place or returns a replacement


def _swap_op(table: dict[type, type]) -> Mutation:
    def apply(node: ast.AST) -> None:
        node.op = table[type(node.op)]()  # type: ignore[attr-defined]

    return apply


def _swap_cmp(i: int) -> Mutation:
    def apply(node: ast.AST) -> None:
        node.ops[i] = CMP_SWAPS[type(node.ops[i])]()  # type: ignore[attr-defined]

    return apply


def _const(delta: int) -> Mutation:
    def apply(node: ast.AST) -> None:
        node.value += delta  # type: ignore[attr-defined]

    return apply


def _negate_test(node: ast.AST) -> None:
    node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)  # type: ignore[attr-defined]


def _swap_boolop(node: ast.AST) -> None:
    node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]


def _unwrap_unary(node: ast.AST) -> ast.AST:
    return node.operand  # type: ignore[attr-defined]


def _return_none(node: ast.AST) -> None:
    node.value = ast.Constant(None)  # type: ignore[attr-defined]


def _slice_bound(which: str) -> Mutation:
    def apply(node: ast.AST) -> None:
        bound = getattr(node, which)
        setattr(
            node,
            which,
            ast.BinOp(left=bound, op=ast.Add(), right=ast.Constant(1)) if bound else ast.Constant(1),
        )

    return apply


def _flip_loop_jump(node: ast.AST) -> ast.AST:
    return ast.Continue() if isinstance(node, ast.Break) else ast.Break()


def mutations_at(node: ast.AST) -> list[tuple[str, Mutation]]:
    """The (operator name, mutation) pairs that apply to one node."""
    out: list[tuple[str, Mutation]] = []
    if isinstance(node, ast.Compare):
        out += [("comparison", _swap_cmp(i)) for i, op in enumerate(node.ops) if type(op) in CMP_SWAPS]
    elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in BIN_SWAPS:
        out.append(("arithmetic", _swap_op(BIN_SWAPS)))
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        out += [("constant+1", _const(1)), ("constant-1", _const(-1))]
    elif isinstance(node, ast.BoolOp):
        out.append(("boolean", _swap_boolop))
    elif isinstance(node, ast.If | ast.While | ast.IfExp):
        out.append(("negate-condition", _negate_test))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        out.append(("drop-unary", _unwrap_unary))
    elif isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
        out.append(("return-none", _return_none))
    elif isinstance(node, ast.Slice):
        out += [("slice-lower", _slice_bound("lower"))] + (
            [("slice-upper", _slice_bound("upper"))] if node.upper else []
        )
    elif isinstance(node, ast.Break | ast.Continue):
        out.append(("loop-jump", _flip_loop_jump))
    return out


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _sites(tree: ast.Module) -> list[ast.AST]:
    """Nodes inside function bodies, in a fixed order, skipping docstrings."""
    skip = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and ast.get_docstring(fn) is not None:
            skip.add(id(fn.body[0].value))  # type: ignore[attr-defined]
    sites = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for stmt in fn.body:
                sites += [n for n in ast.walk(stmt) if id(n) not in skip]
    return sites


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, new: ast.AST):
        self.target, self.new = target, new

    def generic_visit(self, node: ast.AST) -> ast.AST:
        return self.new if node is self.target else super().generic_visit(node)


def _splice(source: bytes, starts: list[int], node: ast.AST, mutation: Mutation) -> str | None:
    """The mutant as the source with one segment replaced (formatting and comments kept), or None when
    the edit cannot be made in place (the caller then rebuilds the whole tree)."""
    if isinstance(node, ast.If | ast.While):
        target, new = node.test, None  # `not (...)` around the condition's own text
    elif isinstance(node, ast.Return):
        target, new = node.value, "None"
    elif isinstance(node, ast.Break | ast.Continue):
        target, new = node, "continue" if isinstance(node, ast.Break) else "break"
    else:
        target = node
        edited = copy.deepcopy(node)  # the small subtree the mutation edits, never the whole module
        replacement = mutation(edited)
        new = ast.unparse(replacement if replacement is not None else edited)
        if new == ast.unparse(node):
            return None
        if not isinstance(node, ast.Slice | ast.stmt):
            new = f"({new})"
    if target is None or getattr(target, "end_lineno", None) is None:
        return None
    lo = starts[target.lineno - 1] + target.col_offset  # type: ignore[attr-defined]
    hi = starts[target.end_lineno - 1] + target.end_col_offset  # type: ignore[attr-defined]
    if new is None:
        new = f"not ({source[lo:hi].decode()})"
    return (source[:lo] + new.encode() + source[hi:]).decode()


def _in_fstring(tree: ast.Module) -> set[int]:
    """ids of nodes inside f-strings: their positions are not reliable enough to splice."""
    return {id(n) for j in ast.walk(tree) if isinstance(j, ast.JoinedStr) for n in ast.walk(j)}


def make_mutants(source: str, max_mutants: int = 12, seed: int = 0) -> list[tuple[str, str]]:
    """Up to `max_mutants` (operator, mutant source) pairs, each differing from `source` at one site.
    A mutant is the source with the one site's text replaced; where that cannot be done in place, the
    whole tree is edited and unparsed."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    sites = _sites(tree)
    plan = [(i, name, m) for i, node in enumerate(sites) for name, m in mutations_at(node)]
    random.Random(seed).shuffle(plan)
    raw = source.encode()
    starts = [0]
    for line in raw.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    fstrings = _in_fstring(tree)
    original = None
    out: dict[str, str] = {}
    for i, name, mutation in plan:
        if len(out) >= max_mutants:
            break
        text = None if id(sites[i]) in fstrings else _splice(raw, starts, sites[i], mutation)
        if text is not None:
            try:
                compile(text, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                text = None
        if text is None:  # rebuild: a fresh tree (parsing is several times faster than deepcopy)
            original = original if original is not None else ast.unparse(tree)
            clone = ast.parse(source)
            node = _sites(clone)[i]
            new = mutation(node)
            if new is not None:
                clone = _Replace(node, new).visit(clone)
            try:
                text = ast.unparse(ast.fix_missing_locations(clone))
                compile(text, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                continue  # e.g. `continue` outside a loop after a flip
            if text == original:
                continue
        out.setdefault(text, name)
    return [(name, text) for text, name in out.items()]
