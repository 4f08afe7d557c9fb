"""Split a test into what the untrusted program must compute and what the trusted parent compares.

For `assert f(args) == expected` (and any comparison, arithmetic, `abs`/`len`/`sorted`/`round`/`set`/
`math.isclose`... around calls into the program), the maximal sub-expressions that touch the program's
names (`f(args)`, `f(x).lower()`, `CONST`) are evaluated in the child and come back as exact builtin
values; the rest of the expression, which holds the expected values, is evaluated in the parent by a
whitelisted evaluator. Expected values therefore never enter the untrusted process and no object of the
program's making is ever compared. A test whose remainder is outside the whitelist (comprehensions,
lambdas, `or`, conditional expressions, several statements, a `check(candidate)` function) runs whole as
an `exec` step, in a separate harness process that never loads the program (child.py). `TestPlan.trusted`
says which mode a test got. The parent's check is bounded, because the program picks the values it works
on (`3 ** f(3)` with `f` returning `10**8`): at plan time every operation that can blow up (`**`, `<<`,
`*`, `+`, `%` formatting, `in`, and the calls range, bytes, int, str, repr, round, sum, sorted, min, max,
list, tuple, set, frozenset, dict, any, all, zip, enumerate, math.factorial/comb/prod/fsum) is rewritten
to a guard that prices the work before doing it: integers it makes stay within MAX_INT_BITS (100,000
bits; decimal text within 4,300 digits, as CPython's own limit), sequences, strings and range lengths
within MAX_ITEMS (10**7, counting a list repeated by `*` at its full unshared size), and all guarded
work of one `judge` call within MAX_STEPS units (about 30 ns each) and MAX_SECONDS of wall time (read
before each priced operation). Going over fails the test with "the comparison exceeded its budget: ...";
it never raises out of `judge`. What stays unguarded (comparisons, hashing, indexing, unary and the other
binary operators) is at most linear in operands the guards bounded, or quadratic on integers they keep
small; a check with none of the risky operations (`f(x) == [1, 2]`, `math.isclose`) gets no budget at all.
"""

from __future__ import annotations

import ast
import builtins
import math
import reprlib
from dataclasses import dataclass
from typing import Any

from unitrl.sandbox.budget import GUARD_NAMES, Budget, GuardRewriter, OverBudget

SAFE_FUNCS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "abs all any bool bytes complex dict divmod enumerate float frozenset int isinstance len list max "
        "min range repr reversed round set sorted str sum tuple type zip ord chr hex bin oct"
    ).split()
}
SAFE_CONSTS = {"None": None, "True": True, "False": False}
SAFE_MATH = {
    name: getattr(math, name)
    for name in (
        "isclose isnan isinf isfinite fabs floor ceil sqrt pi e inf nan log log2 log10 exp trunc fsum gcd "
        "comb factorial prod"
    ).split()
}
_ALLOWED = (
    ast.Expression,
    ast.Compare,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.Subscript,
    ast.Slice,
    ast.Load,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.Name,
    ast.Attribute,
    ast.Call,
    ast.keyword,
    ast.Starred,
)
_MAX_POW = 10_000


@dataclass
class TestPlan:
    """How one test runs: child expressions plus a trusted check, or a whole snippet in the child."""

    __test__ = False  # not a pytest test class

    source: str
    trusted: bool
    child_exprs: list[str]  # evaluated in the child (trusted mode)
    check: Any = None  # compiled parent expression over names _v0, _v1, ... (trusted mode)
    code: str = ""  # the snippet run in the child (exec mode)
    guarded: bool = False  # the check calls budget guards (it then needs a fresh budget per judge call)
    expected: tuple = ()  # `_e0`: the expected value of the `assert CALL == LITERAL` fast path


def plan_test(test: str) -> TestPlan:
    """Plan one test string (an `assert` statement or any snippet)."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return TestPlan(test, False, [], code=test)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return TestPlan(test, False, [], code=test)
    fast = _plan_equality(test, tree.body[0].test)
    if fast is not None:
        return fast
    conjuncts = _conjuncts(tree.body[0].test)
    child: list[str] = []
    parts = []
    for node in conjuncts:
        rewritten = _split(node, child) or _split_comparison(node, child)
        if rewritten is None:
            return TestPlan(test, False, [], code=test)
        parts.append(rewritten)
    # Every top-level `and` operand is checked; evaluating all of them only changes a verdict that is a
    # failure anyway (an operand that raises after a false one).
    expr = parts[0] if len(parts) == 1 else ast.BoolOp(op=ast.And(), values=parts)
    if not child:  # nothing from the program is involved: still run it in the child for its effects
        return TestPlan(test, False, [], code=test)
    tree_expr = ast.fix_missing_locations(ast.Expression(body=expr))
    if not _parent_safe(tree_expr):
        return TestPlan(test, False, [], code=test)
    guard = GuardRewriter()
    tree_expr = ast.fix_missing_locations(guard.visit(tree_expr))
    return TestPlan(test, True, child, check=compile(tree_expr, "<check>", "eval"), guarded=guard.used)


_EQ_CHECK = compile("_v0 == _e0", "<check>", "eval")


def _plan_equality(test: str, node: ast.expr) -> TestPlan | None:
    """The commonest test, `assert CALL == LITERAL` (what synthesis writes), planned without rewriting
    or compiling anything: the call's source text goes to the child, the literal is evaluated once here,
    and one shared compiled check compares them. Same split as the general path, about 20x cheaper."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return None
    call, literal = node.left, node.comparators[0]
    if not (isinstance(call, ast.Call) and _touches_program(call)):
        return None
    try:
        expected = ast.literal_eval(literal)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if call.lineno == call.end_lineno == 1:  # offsets count UTF-8 bytes
        source = test.encode()[call.col_offset : call.end_col_offset].decode()
    else:
        source = ast.get_source_segment(test, call)
    if not source:
        return None
    return TestPlan(test, True, [source], check=_EQ_CHECK, expected=(expected,))


def _split_comparison(node: ast.expr, child: list[str]) -> ast.expr | None:
    """`<anything> op <pure expected value>`: the child computes the left side whole."""
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        return None
    for program_side, expected_side, left in (
        (node.left, node.comparators[0], True),
        (node.comparators[0], node.left, False),
    ):
        scratch: list[str] = []
        pure = _split(expected_side, scratch)
        if pure is None or scratch:
            continue
        child.append(ast.unparse(program_side))
        placeholder = ast.Name(id=f"_v{len(child) - 1}", ctx=ast.Load())
        pair = (placeholder, pure) if left else (pure, placeholder)
        return ast.Compare(left=pair[0], ops=node.ops, comparators=[pair[1]])
    return None


def _conjuncts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [c for v in node.values for c in _conjuncts(v)]
    return [node]


def _is_safe_name(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in SAFE_FUNCS or node.id in SAFE_CONSTS
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id == "math" and node.attr in SAFE_MATH
    return False


def _touches_program(node: ast.AST) -> bool:
    """True for names, and attribute/call/subscript chains rooted at a name, that are not whitelisted."""
    if isinstance(node, ast.Name):
        return not _is_safe_name(node)
    if isinstance(node, ast.Attribute):
        return not _is_safe_name(node) and _rooted_in_name(node.value)
    if isinstance(node, ast.Call):
        return not _is_safe_name(node.func) and _rooted_in_name(node.func)
    if isinstance(node, ast.Subscript):
        return _touches_program(node.value)
    return False


def _rooted_in_name(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return isinstance(node, ast.Name)


def _parent_safe(tree: ast.AST) -> bool:
    """The check the parent evaluates may only name placeholders, whitelisted functions and math.X."""
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED + (ast.BoolOp, ast.And)):
            return False
        if isinstance(node, ast.Attribute) and not _is_safe_name(node):
            return False
        if isinstance(node, ast.Name) and not (
            _is_safe_name(node) or node.id == "math" or node.id.startswith("_v")
        ):
            return False
        if isinstance(node, ast.Call) and not _is_safe_name(node.func):
            return False
    return True


def _split(node: ast.expr, child: list[str]) -> ast.expr | None:
    """Replace program-touching sub-expressions with placeholders; None if the rest is not whitelisted."""
    if _touches_program(node):
        child.append(ast.unparse(node))
        return ast.Name(id=f"_v{len(child) - 1}", ctx=ast.Load())
    if isinstance(node, ast.Constant):
        return node
    if isinstance(node, ast.Name | ast.Attribute):  # whitelisted name or math.X
        return node
    if isinstance(node, ast.Call):
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return None
        args = [_split(a, child) for a in node.args]
        kws = [(k.arg, _split(k.value, child)) for k in node.keywords]
        if any(a is None for a in args) or any(v is None for _, v in kws):
            return None
        return ast.Call(func=node.func, args=args, keywords=[ast.keyword(arg=k, value=v) for k, v in kws])
    fields = {}
    if not isinstance(
        node,
        ast.Compare
        | ast.BinOp
        | ast.UnaryOp
        | ast.Tuple
        | ast.List
        | ast.Set
        | ast.Dict
        | ast.Subscript
        | ast.Slice,
    ):
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow | ast.LShift):
        if (
            isinstance(node.right, ast.Constant)
            and isinstance(node.right.value, int)
            and node.right.value > _MAX_POW
        ):
            return None
    for name, value in ast.iter_fields(node):
        if isinstance(value, ast.expr):
            new = _split(value, child)
            if new is None:
                return None
            fields[name] = new
        elif isinstance(value, list) and value and isinstance(value[0], ast.expr | type(None)):
            items = [None if v is None else _split(v, child) for v in value]
            if any(i is None and v is not None for i, v in zip(items, value)):
                return None
            fields[name] = items
        else:
            fields[name] = value
    return type(node)(**fields)


# ------------------------------------------------------------------ judging

# The check's names live in its builtins, so each call only builds a dict of the values (and budget).
_PARENT_NAMES = {**SAFE_FUNCS, **SAFE_CONSTS, "math": type("m", (), SAFE_MATH)}
_GUARDED_NAMES = {**_PARENT_NAMES, **GUARD_NAMES}
_VALUE_NAMES = [f"_v{i}" for i in range(1000)]


def judge(plan: TestPlan, values: list[Any]) -> tuple[bool, str]:
    """Evaluate the trusted check over values the child returned. (passed, detail); never raises."""
    if plan.guarded:
        env = {"__builtins__": _GUARDED_NAMES, "_b": Budget()}
    else:  # nothing in the check can blow up: no budget on this path, the common one
        env = {"__builtins__": _PARENT_NAMES}
    names = _VALUE_NAMES if len(values) <= len(_VALUE_NAMES) else [f"_v{i}" for i in range(len(values))]
    env.update(zip(names, values))
    if plan.expected:
        env["_e0"] = plan.expected[0]
    try:
        ok = bool(eval(plan.check, env))  # noqa: S307 - a whitelisted AST over exact builtin values
    except OverBudget as exc:
        return False, f"the comparison exceeded its budget: {exc}"
    except Exception as exc:  # noqa: BLE001 - e.g. comparing a returned None with a number
        return False, f"{type(exc).__name__}: {str(exc)[:300]}"
    if ok:
        return True, ""
    shown = ", ".join(_short(v) for v in values)
    return False, f"assertion failed; the program returned {shown}"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 120
_REPR.repr_int = lambda x, level: repr(x)[:120] if x.bit_length() < 4000 else f"<{x.bit_length()}-bit int>"


def _short(v: Any) -> str:
    if type(v) in (set, frozenset, dict) and len(v) > 1000:  # reprlib would sort them whole
        return f"<{type(v).__name__} of {len(v)} items>"
    text = _REPR.repr(v)  # bounded work even for a returned million-element list
    return text if len(text) <= 120 else text[:117] + "..."
