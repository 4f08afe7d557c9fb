"""Wrong programs made by operators synth never uses, for an honest check of test strength.

`unitrl.synth.mutants` (the operators synth's guided search and kill rates use) swaps comparison,
arithmetic and boolean operators, steps integer constants by one, negates conditions, drops a unary
operator, returns None, shifts slice bounds and flips break/continue. A suite tuned against those could
look strong on them alone. These operators are different and live only here, in the benchmark:

- delete-statement: an assignment, augmented assignment or expression statement becomes `pass`;
- swap-variable: a variable read becomes another variable of the same function;
- replace-constant: an int becomes 0 (or 1 when it is 0), a string '' (or 'x'), a float 0.0;
- swap-call: min/max, any/all, sum/len, lower/upper, startswith/endswith, isdigit/isalpha,
  strip/lstrip, append/insert-at-front are exchanged;
- swap-arguments: a call's two positional arguments are exchanged;
- drop-else: an `if`'s else (or elif chain) is removed; swap-branches: its two bodies are exchanged.

Every single-site mutant of each kind is made; duplicates, ones that do not compile and ones identical
(after normalizing) to the source or to any mutant synth's own operators make are left out.
"""

from __future__ import annotations

import ast
import copy

CALL_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any", "sum": "len"}
METHOD_SWAPS = {"lower": "upper", "upper": "lower", "startswith": "endswith", "endswith": "startswith",
                "isdigit": "isalpha", "isalpha": "isdigit", "strip": "lstrip"}  # fmt: skip


def _functions(tree: ast.Module) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]


def _edits(tree: ast.Module) -> list[tuple[str, int]]:
    """(operator, site index) for every applicable site, in walk order."""
    out = []
    for i, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Assign | ast.AugAssign) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        ):
            out.append(("delete-statement", i))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.append(("swap-variable", i))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, str, float):
            out.append(("replace-constant", i))
        elif isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id in CALL_SWAPS) or (
                isinstance(f, ast.Attribute) and (f.attr in METHOD_SWAPS or f.attr == "append")
            ):
                out.append(("swap-call", i))
            if len(node.args) == 2 and not node.keywords:
                out.append(("swap-arguments", i))
        elif isinstance(node, ast.If) and node.orelse:
            out += [("drop-else", i), ("swap-branches", i)]
    return out


def _locals(fn: ast.FunctionDef) -> list[str]:
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    names += [n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return list(dict.fromkeys(names))


def _apply(tree: ast.Module, op: str, index: int, variant: int) -> bool:
    """Edit the tree in place at the site; False when this variant does not apply."""
    nodes = list(ast.walk(tree))
    node = nodes[index]
    parents = {id(c): p for p in nodes for c in ast.iter_child_nodes(p)}
    if op == "delete-statement":
        parent = parents.get(id(node))
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(parent, field, None)
            if isinstance(stmts, list) and node in stmts:
                stmts[stmts.index(node)] = ast.Pass()
                return variant == 0
        return False
    if op == "swap-variable":
        fn = next((f for f in _functions(tree) if any(n is node for n in ast.walk(f))), None)
        others = [n for n in (_locals(fn) if fn else []) if n != node.id]
        if variant >= len(others) or node.id not in (_locals(fn) if fn else []):
            return False
        node.id = others[variant]
        return True
    if op == "replace-constant":
        if variant:
            return False
        v = node.value
        node.value = (
            (1 if v == 0 else 0) if type(v) is int else ("x" if v == "" else "") if type(v) is str else 0.0
        )
        parent = parents.get(id(node))
        return not (isinstance(parent, ast.Expr) and type(v) is str)  # a docstring is not code
    if op == "swap-call":
        if variant:
            return False
        f = node.func
        if isinstance(f, ast.Name):
            f.id = CALL_SWAPS[f.id]
        elif f.attr == "append":
            f.attr, node.args = "insert", [ast.Constant(0), *node.args]
        else:
            f.attr = METHOD_SWAPS[f.attr]
        return True
    if op == "swap-arguments":
        if variant:
            return False
        node.args = node.args[::-1]
        return True
    if op == "drop-else":
        node.orelse = []
        return variant == 0
    if op == "swap-branches":
        node.body, node.orelse = node.orelse, node.body
        return variant == 0
    return False


def independent_mutants(
    source: str, exclude: set[str] = frozenset(), per_site: int = 3
) -> list[tuple[str, str]]:
    """(operator, mutant source) for every single-site edit by the operators above (up to `per_site`
    variants of a site: other variables to swap in), normalized and deduplicated, minus `exclude`
    (normalized sources: synth's own mutants) and the source itself."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    original = ast.unparse(tree)
    seen = set(exclude) | {original}
    out = []
    for op, index in _edits(tree):
        for variant in range(per_site):
            clone = copy.deepcopy(tree)
            if not _apply(clone, op, index, variant):
                continue
            try:
                text = ast.unparse(ast.fix_missing_locations(clone))
                compile(text, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            if text not in seen:
                seen.add(text)
                out.append((op, text))
    return out


def normalized(source: str) -> str:
    return ast.unparse(ast.parse(source))
