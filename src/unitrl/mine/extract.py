"""Turn one source file into candidate problems: each top-level function with everything it needs.

A function is self-contained when every module-level name it reads can be carried along: a pure import,
a simple top-level assignment (a constant, a table, a compiled regex), or another top-level function that
passes the same purity checks, recursively. Classes, names bound under `if`/`try` at module level, star
imports and anything else are not carried, and the function is dropped with the reason. The reference is
the carried pieces in their original order followed by the function; the prompt is the function's
imports, signature and own docstring (a human-eval style prompt); a function whose signature uses a name
the prompt does not define (a default `_sentinel`, a module-level type) is dropped, since no completion
of that prompt could run.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
from dataclasses import dataclass, field

from unitrl.mine import static
from unitrl.mine.corpus import SourceFile
from unitrl.records import Problem

MAX_CARRIED = 12  # more module-level pieces than this is a library, not a problem


@dataclass
class Extraction:
    problems: list[Problem] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


TAINTED: list[ast.stmt] = []  # a name bound or changed under module-level control flow: never carried


def _root_name(node: ast.AST) -> str | None:
    """`t` for `t[k]`, `t.a.b`, `t[k].x`: the name whose object a subscript or attribute target changes."""
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)  # fmt: skip


def _module_level(node: ast.AST) -> list[ast.AST]:
    """The nodes of a module-level statement that run in the module's scope (not inside a nested def,
    class, lambda or comprehension: their names are their own)."""
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        out.append(n)
        if n is node or not isinstance(n, _SCOPES):
            todo += ast.iter_child_nodes(n)
    return out


def _stores(stmt: ast.stmt) -> tuple[set[str], set[str], set[str]]:
    """(names a statement binds, names whose objects it changes: `t[k] = v`, `t.x += 1`, `del t[k]`,
    `t.update(...)`, names it passes to a call whose value it drops: `_fill(t)` may fill t in)."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}, set(), set()
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}, set(), set()
    bound, changed, passed = set(), set(), set()
    for node in _module_level(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):  # `del name`: see module_table
            bound.add(node.id)
        elif isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            if (root := _root_name(node)) is not None:
                changed.add(root)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            if (root := _method_target(node.value)) is not None:
                changed.add(root)  # `t.update(...)`, `t.append(x)`: may change t in place
            call = node.value  # `_fill(t)`, `_register(t, key=u)`: the callee may change what it is given
            passed |= {
                a.id for a in [*call.args, *(k.value for k in call.keywords)] if isinstance(a, ast.Name)
            }
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node is not stmt:
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return bound, changed, passed


def _method_target(call: ast.Call) -> str | None:
    """`t` for a call `t.update(...)` / `t.append(...)`: one that may change t in place."""
    return _root_name(call.func.value) if isinstance(call.func, ast.Attribute) else None


_FLAT = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Pass)


def _flat(stmt: ast.stmt) -> bool:
    """A statement that runs the same way every time: an assignment or expression, or a `for` loop over
    such statements (`for c in safe: table[c] = chr(c)` fills a table; an `if` or `try` may not run)."""
    if isinstance(stmt, ast.For):
        return not stmt.orelse and all(_flat(b) for b in stmt.body)
    return isinstance(stmt, _FLAT)


def module_table(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """Top-level name -> the statements that make its final value, in order: its last binding, plus what
    follows and changes it (`t[k] = v`, `t.update(...)`, `x = x + 1`). A name bound or changed inside
    module-level control flow other than a plain `for` loop (`if WIN: sep = ...`, `try: ...`) maps to
    TAINTED: carrying only the plain binding would give the function a different value from the module's."""
    table: dict[str, list[ast.stmt]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Delete) and all(isinstance(t, ast.Name) for t in stmt.targets):
            continue  # `del helper` cleans the module's namespace; the function is mined as written
        if isinstance(stmt, ast.Try) and all(isinstance(b, ast.Import | ast.ImportFrom) for b in stmt.body):
            # `try: from _heapq import *` swaps in a C version of the same functions: what the
            # fallback branches bind (not what they delete) is still control flow
            for part in stmt.handlers + stmt.orelse + stmt.finalbody:
                bound, changed, _ = _stores(part)
                for name in bound | changed:
                    table[name] = TAINTED
            continue
        if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            continue  # `x: int` binds nothing
        bound, changed, passed = _stores(stmt)
        # a function, class or module handed to a call (`register(f)`) is not data the call fills in
        changed |= {
            n
            for n in passed - bound - changed
            if table.get(n) and isinstance(table[n][0], ast.Assign | ast.AnnAssign | ast.AugAssign)
        }
        simple = _flat(stmt) or isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef
                                           | ast.AsyncFunctionDef | ast.ClassDef)  # fmt: skip
        loads = {n.id for n in _module_level(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        for name in bound | changed:
            before = table.get(name)
            if not simple or before is TAINTED:
                table[name] = TAINTED
            elif name in changed or isinstance(stmt, ast.AugAssign) or (name in loads and before):
                # an in-place change, or a rebinding from the old value: it needs what came before
                if before is None or isinstance(before[0], ast.Import | ast.ImportFrom):
                    table[name] = TAINTED  # changes a module object (or a name bound elsewhere)
                else:
                    table[name] = before + [stmt]
            else:
                table[name] = [stmt]
    return table


def _stmt_verdict(stmt: ast.stmt) -> tuple[str | None, set[str]]:
    """(drop reason or None, names this carried statement needs in turn)."""
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        if any(a.name == "*" for a in stmt.names):
            return "star-import", set()
        return static.import_verdict(stmt), set()
    if isinstance(stmt, ast.ClassDef):
        return _class_verdict(stmt)
    if isinstance(stmt, ast.AsyncFunctionDef):
        return "async", set()
    if isinstance(stmt, ast.FunctionDef):
        if stmt.decorator_list:
            return "decorated-helper", set()
        return static.body_verdict(stmt), static.free_names(stmt)
    # An assignment: its value must itself be pure.
    wrapper = ast.FunctionDef(
        name="_",
        args=ast.arguments([], [], None, [], [], None, []),
        body=[stmt],
        decorator_list=[],
        returns=None,
        type_params=[],
    )
    needs = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    inner = {  # comprehension variables and lambda arguments are the statement's own names
        n.id if isinstance(n, ast.Name) else n.arg
        for scope in ast.walk(stmt)
        if isinstance(scope, _SCOPES)
        for n in ast.walk(scope)
        if (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)) or isinstance(n, ast.arg)
    }
    return static.body_verdict(wrapper), needs - inner - static.BUILTIN_NAMES


def _class_verdict(stmt: ast.ClassDef) -> tuple[str | None, set[str]]:
    """A module's own exception class (`class Error(ValueError): pass`, a docstring, constant class
    attributes) travels with a function that raises it; any other class keeps the function out: its
    instances are state the problem's inputs could not build."""
    bases = [b.id for b in stmt.bases if isinstance(b, ast.Name)]
    plain = (
        not stmt.decorator_list
        and not stmt.keywords
        and len(bases) == len(stmt.bases) > 0
        and all(
            isinstance(b, ast.Pass)
            or (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))
            or (isinstance(b, ast.Assign) and isinstance(b.value, ast.Constant))
            for b in stmt.body
        )
    )
    if not plain:
        return "uses-class", set()
    builtin = [b for b in bases if b in static.BUILTIN_NAMES]
    if any(
        not (isinstance(getattr(builtins, b, None), type) and issubclass(getattr(builtins, b), BaseException))
        for b in builtin
    ):
        return "uses-class", set()
    return None, set(bases) - set(builtin)  # the module's own bases must be exception classes too


def carried_statements(
    func: ast.FunctionDef, table: dict[str, list[ast.stmt]]
) -> tuple[list[ast.stmt], str | None]:
    """The module-level statements `func` needs (transitively), or a drop reason."""
    needed: dict[int, ast.stmt] = {}
    todo = list(static.free_names(func))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        stmts = table.get(name)
        if stmts is TAINTED:
            return [], "bound-under-control-flow"
        if not stmts:
            return [], "unresolved-name"
        for stmt in stmts:
            if stmt is func or id(stmt) in needed:
                continue
            reason, more = _stmt_verdict(stmt)
            if reason:
                return [], reason
            needed[id(stmt)] = stmt
            todo += sorted(more)
        if len(needed) > MAX_CARRIED:
            return [], "too-many-dependencies"
    return list(needed.values()), None


def prompt_of(func: ast.FunctionDef, carried: list[ast.stmt]) -> str:
    """Imports + signature + the function's own docstring, human-eval style."""
    imports = [ast.unparse(s) for s in carried if isinstance(s, ast.Import | ast.ImportFrom)]
    stub = ast.FunctionDef(
        name=func.name,
        args=func.args,
        body=[],
        decorator_list=[],
        returns=func.returns,
        type_params=getattr(func, "type_params", []),
    )
    stub.body = (
        [ast.Expr(ast.Constant(ast.get_docstring(func, clean=False)))] if ast.get_docstring(func) else []
    )
    header = ast.unparse(ast.fix_missing_locations(ast.Module([stub], []))) if stub.body else None
    if header is None:  # no docstring: the bare signature
        sig = ast.unparse(ast.fix_missing_locations(ast.Module([_with_pass(stub)], [])))
        header = sig.rsplit("\n", 1)[0]
    return "\n".join(imports + ([""] if imports else []) + [header]) + "\n"


def undefined_in_prompt(func: ast.FunctionDef, carried: list[ast.stmt]) -> set[str]:
    """Names the signature uses (defaults, annotations) that the prompt does not define: the prompt
    holds only the carried imports, so `def f(x=_sentinel)` or `-> Foo` with a module-level `Foo`
    would fail before any completion runs."""
    a = func.args
    parts: list[ast.AST | None] = [*a.defaults, *a.kw_defaults, func.returns]
    parts += [arg.annotation for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if arg]
    used = {n.id for part in parts if part is not None for n in ast.walk(part) if isinstance(n, ast.Name)}
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for s in carried
        if isinstance(s, ast.Import | ast.ImportFrom)
        for alias in s.names
    }
    return used - imported - static.BUILTIN_NAMES


def _with_pass(stub: ast.FunctionDef) -> ast.FunctionDef:
    stub.body = [ast.Pass()]
    return stub


def task_id_for(module: str, name: str, reference: str) -> str:
    """Stable id: module and function name, plus a short hash so same-named functions never collide."""
    digest = hashlib.sha1(reference.encode("utf-8")).hexdigest()[:6]
    return f"mine/{module}.{name}/{digest}"


def extract_problems(src: SourceFile, require_docstring: bool = True, max_lines: int = 60) -> Extraction:
    """Candidate problems of one source file, with drop counts per reason."""
    out = Extraction()
    try:
        tree = ast.parse(src.text)
    except (SyntaxError, ValueError):
        out.drop("syntax-error")
        return out
    table = module_table(tree)
    for func in tree.body:
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        reason = static.entry_verdict(func, require_docstring, max_lines)
        if reason is None:
            carried, reason = carried_statements(func, table)  # type: ignore[arg-type]
        if reason is None:
            reason = static.restricted_verdict([*carried, func])  # type: ignore[list-item]
        if reason:
            out.drop(reason)
            continue
        if undefined_in_prompt(func, carried):  # type: ignore[arg-type]
            out.drop("prompt-uses-undefined-name")
            continue
        order = {id(s): i for i, s in enumerate(tree.body)}
        pieces = sorted(carried, key=lambda s: order[id(s)]) + [func]
        reference = "\n\n".join(ast.get_source_segment(src.text, s) or ast.unparse(s) for s in pieces) + "\n"
        out.problems.append(
            Problem(
                task_id=task_id_for(src.name, func.name, reference),
                prompt=prompt_of(func, carried),  # type: ignore[arg-type]
                entry_point=func.name,
                reference=reference,
                source=f"{src.origin}:{func.lineno}" if ":" not in src.origin else src.origin,
                meta={"mine": {"module": src.name, "n_carried": len(carried)}},
            )
        )
    return out
