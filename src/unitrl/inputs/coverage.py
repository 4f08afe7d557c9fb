"""Branch coverage of a reference, measured inside the sandbox by instrumenting its source.

The reference's syntax tree is rewritten so that every branch outcome reports itself when it happens:
`if t:`, `while t:` and `a if t else b` test `_unitrl_br(k, t)`, which records outcome 2k+1 (true) or 2k
(false) and returns `bool(t)`; `for x in it:` iterates `_unitrl_loop(k, it)`, which records 2k+1 when the
body is entered and 2k when the iterable is exhausted (coverage.py's two arcs of a loop); every function
body and `except` handler records that it ran. Constant tests (`while True:`) are left alone. The
instrumented program computes exactly what the original does; its outcome ids come back from the
sandbox as values, either per call (`probe_expr`: the value or the exception, the outcomes that call
reached, and the arguments after the call, so a function that changes its arguments in place is seen
doing it) or per test of a suite (`take_step` between the tests). A probed call also counts its probe
events (branch tests, loop turns, function entries) and stops with "too-much-work" past WORK_BUDGET:
a deterministic measure of a slow input, where a CPU-time limit near a call's running time would
decide differently from run to run (the CPU limit stays, for time spent in builtins). Branch coverage is covered
outcomes over all of them; a helper the entry point never calls counts against it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from unitrl.sandbox.jobs import Step

WORK_BUDGET = 200_000  # probe events (branch tests, loop turns, function entries) per search call

PRELUDE = """
_unitrl_hits = set()
_unitrl_work = [0, 0]  # [probe events in this call, budget (0: none)]


class _UnitrlTooMuchWork(BaseException):
    pass


def _unitrl_br(k, v):
    v = bool(v)
    _unitrl_hits.add(2 * k + v)
    w = _unitrl_work
    w[0] += 1
    if w[1] and w[0] > w[1]:
        raise _UnitrlTooMuchWork()
    return v


def _unitrl_loop(k, it):
    entered = False
    w = _unitrl_work
    for v in it:
        if not entered:
            entered = True
            _unitrl_hits.add(2 * k + 1)
        w[0] += 1
        if w[1] and w[0] > w[1]:
            raise _UnitrlTooMuchWork()
        yield v
    _unitrl_hits.add(2 * k)


def _unitrl_take():
    out = sorted(_unitrl_hits)
    _unitrl_hits.clear()
    return out


def _unitrl_plain(v, depth=0):
    if depth > 20:
        return False
    if v is None or type(v) in (bool, int, float, complex, str, bytes):
        return True
    if type(v) in (list, tuple, set, frozenset):
        return all(_unitrl_plain(x, depth + 1) for x in v)
    if type(v) is dict:
        return all(_unitrl_plain(k, depth + 1) and _unitrl_plain(x, depth + 1) for k, x in v.items())
    return False


def _unitrl_probe(_unitrl_fn, /, *args, **kwargs):
    _unitrl_hits.clear()
    _unitrl_work[0], _unitrl_work[1] = 0, _UNITRL_BUDGET
    try:
        value = _unitrl_fn(*args, **kwargs)
    except _UnitrlTooMuchWork:
        return ["too-much-work", _unitrl_work[1], _unitrl_take(), None]
    except Exception as exc:
        return ["raised", (type(exc).__name__ + ": " + str(exc))[:300], _unitrl_take(), None]
    finally:
        _unitrl_work[1] = 0
    after = [list(args), kwargs] if _unitrl_plain([args, kwargs]) else None
    return ["ok", value, _unitrl_take(), after]
"""


@dataclass
class Instrumented:
    """An instrumented reference: its source and a description of every outcome id it can report."""

    source: str
    outcomes: dict[int, str] = field(default_factory=dict)  # id -> "line 12: if true", ...
    raises: dict[int, str] = field(default_factory=dict)  # id of a `raise X` site -> "X"

    @property
    def total(self) -> int:
        return len(self.outcomes)


class _Rewriter(ast.NodeTransformer):
    def __init__(self) -> None:
        self.sites = 0
        self.outcomes: dict[int, str] = {}
        self.raises: dict[int, str] = {}

    def _site(self, line: int, what: str, pair: bool = True) -> int:
        k = self.sites
        self.sites += 1
        if pair:
            self.outcomes[2 * k] = f"line {line}: {what} false"
            self.outcomes[2 * k + 1] = f"line {line}: {what} true"
        else:
            self.outcomes[2 * k + 1] = f"line {line}: {what}"
        return k

    def _mark(self, k: int, line: int) -> ast.stmt:
        call = ast.Call(ast.Name("_unitrl_br", ast.Load()), [ast.Constant(k), ast.Constant(True)], [])
        return ast.copy_location(ast.Expr(call), ast.Pass(lineno=line, col_offset=0))

    def _test(self, node: ast.expr, line: int, what: str) -> ast.expr:
        if isinstance(node, ast.Constant):
            return node  # `while True:`: one outcome can never happen
        k = self._site(line, what)
        return ast.Call(ast.Name("_unitrl_br", ast.Load()), [ast.Constant(k), node], [])

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        k = self._site(node.lineno, f"def {node.name}", pair=False)
        doc = 1 if ast.get_docstring(node) is not None else 0
        node.body.insert(doc, self._mark(k, node.lineno))
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        node.test = self._test(node.test, node.lineno, "if")
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        self.generic_visit(node)
        node.test = self._test(node.test, node.lineno, "while")
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        node.test = self._test(node.test, node.lineno, "conditional")
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        k = self._site(node.lineno, "for (exhausted / entered)")
        node.iter = ast.Call(ast.Name("_unitrl_loop", ast.Load()), [ast.Constant(k), node.iter], [])
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        self.generic_visit(node)
        k = self._site(node.lineno, "except", pair=False)
        node.body.insert(0, self._mark(k, node.lineno))
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = exc.id if isinstance(exc, ast.Name) else exc.attr if isinstance(exc, ast.Attribute) else ""
        if not name:
            return node
        k = self._site(node.lineno, f"raise {name}", pair=False)
        self.raises[2 * k + 1] = name
        return [self._mark(k, node.lineno), node]  # type: ignore[return-value]


def instrument(source: str) -> Instrumented | None:
    """The reference with outcome probes and the probe helpers prepended; None if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    rw = _Rewriter()
    # Only code inside functions is instrumented: module-level code runs once, at load, for every input.
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.FunctionDef):
            tree.body[i] = rw.visit(stmt)
    body = ast.unparse(ast.fix_missing_locations(tree))
    future = [s for s in body.splitlines() if s.startswith("from __future__ import")]
    rest = "\n".join(s for s in body.splitlines() if not s.startswith("from __future__ import"))
    prelude = PRELUDE + f"\n_UNITRL_BUDGET = {int(WORK_BUDGET)}\n"
    text = "\n".join(future) + ("\n" if future else "") + prelude + "\n\n" + rest + "\n"
    return Instrumented(text, rw.outcomes, rw.raises)


def probe_expr(entry: str, args_src: str) -> str:
    """An eval expression for one call returning ["ok", value, ids, [args, kwargs] after the call (None
    unless all plain values)] or ["raised", "Type: message", ids, None]."""
    return f"_unitrl_probe({entry}{', ' if args_src else ''}{args_src})"


def take_step() -> Step:
    """A step that returns (and resets) the outcome ids reached since the previous one."""
    return Step("eval", exprs=["_unitrl_take()"])


def ratio(covered: set[int], inst: Instrumented | None) -> float | None:
    """Covered outcomes over all outcomes (1.0 for a reference with none: a straight line)."""
    if inst is None:
        return None
    if not inst.total:
        return 1.0
    return round(len(covered & inst.outcomes.keys()) / inst.total, 4)
