"""Seed inputs for a function, read from its source alone (no execution): the `execution` engine's start.

Where the values come from, in order of trust: doctest examples in the docstring (real calls the author
wrote), type hints, default values, how the body uses each parameter (`p.startswith` -> str, `range(p)`
-> int, `for x in p` -> a sequence, arithmetic -> a number), the parameter's name, and the literals in
the body (a function that compares against "GET" is worth calling with "GET"). The result is a list of
argument tuples of plain Python values; `args_source` turns one into "1, [2, 3], key='x'".
Later rounds grow these by type-aware mutation (mutate.py) once the sandbox tells which seeds run.
"""

from __future__ import annotations

import ast
import doctest
from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------ value pools

EDGE_POOLS: dict[str, list[Any]] = {
    "int": [0, 1, -1, 2, 3, 5, 7, 10, 12, 100, -7, 1001],
    "float": [0.0, 1.0, -1.5, 0.5, 2.5, 3.14159, 1e-3, -0.25, 1e6],
    "str": [
        "",
        "a",
        "abc",
        "Hello World",
        "hello world",
        "  spaced  ",
        "a,b,c",
        "racecar",
        "12345",
        "aAbB",
        "x_y-z",
        "ünïcödé ✓",
        "line1\nline2",
        "aaa",
    ],
    "bool": [True, False],
    "bytes": [b"", b"a", b"abc", b"\x00\xff\x10", b"hello world"],
    "none": [None],
}

# Name fragments -> type, for untyped parameters (stdlib code is mostly unannotated).
NAME_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("flag", "strict", "reverse", "ignore", "verbose", "is_", "use_", "allow", "keep"), "bool"),
    (
        (
            "num",
            "count",
            "size",
            "width",
            "index",
            "idx",
            "length",
            "level",
            "depth",
            "pos",
            "start",
            "end",
            "stop",
            "step",
            "base",
            "limit",
            "indent",
            "year",
            "month",
            "day",
            "bits",
        ),
        "int",
    ),
    (
        (
            "text",
            "string",
            "name",
            "word",
            "line",
            "path",
            "prefix",
            "suffix",
            "sep",
            "char",
            "pattern",
            "url",
            "s",
            "fmt",
            "msg",
            "key",
            "label",
            "src",
            "data",
        ),
        "str",
    ),
    (("list", "items", "seq", "values", "arr", "nums", "lst", "elements", "iterable", "args"), "list[int]"),
    (("dict", "mapping", "table", "map", "kwargs"), "dict[str,int]"),
    (("x", "y", "z", "r", "g", "b", "h", "v", "a", "t", "value", "rate", "ratio"), "float"),
    (("n", "i", "j", "k", "m"), "int"),
]

FALLBACK_TYPES = ["int", "str", "list[int]", "float", "bytes", "list[str]", "dict[str,int]", "bool"]
STR_METHODS = {m for m in dir(str) if not m.startswith("_")} - {"count", "index"}
LIST_METHODS = {"append", "extend", "pop", "sort", "insert", "remove", "reverse"}
DICT_METHODS = {"items", "keys", "values", "get", "setdefault", "update"}


@dataclass
class Param:
    name: str
    kind: str  # "pos" or "kw" (keyword-only)
    types: list[str] = field(default_factory=list)  # candidate types, most likely first
    default: Any = None
    has_default: bool = False


# ------------------------------------------------------------------------------------ type guessing


def annotation_type(node: ast.expr | None) -> str | None:
    """'int', 'list[str]', 'dict[str,int]', ... from an annotation; None where we cannot say."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return annotation_type(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        simple = {
            "int": "int",
            "float": "float",
            "str": "str",
            "bool": "bool",
            "bytes": "bytes",
            "list": "list[int]",
            "List": "list[int]",
            "Sequence": "list[int]",
            "Iterable": "list[int]",
            "dict": "dict[str,int]",
            "Dict": "dict[str,int]",
            "Mapping": "dict[str,int]",
            "tuple": "tuple[int,int]",
            "Tuple": "tuple[int,int]",
            "set": "set[int]",
            "Set": "set[int]",
        }
        return simple.get(name)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        return annotation_type(node.left) or annotation_type(node.right)
    if isinstance(node, ast.Subscript):
        head = annotation_type(node.value)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        inner = [annotation_type(a) or "int" for a in args]
        base = ast.unparse(node.value).split(".")[-1]
        if base in ("Optional", "Union"):
            return next((t for t in inner if t != "none"), None)
        if head is None:
            return None
        kind = head.split("[")[0]
        if kind == "tuple" and inner and inner[-1] != "...":
            return f"tuple[{','.join(inner)}]"
        if kind == "dict" and len(inner) == 2:
            return f"dict[{inner[0]},{inner[1]}]"
        return f"{kind}[{inner[0]}]"
    return None


def value_type(v: Any) -> str:
    """The type string of a concrete value (used on defaults, doctest args and observed seeds)."""
    if v is None:
        return "none"
    if isinstance(v, bool | int | float | str | bytes):
        return type(v).__name__
    if isinstance(v, list | set | frozenset):
        kind = "set" if isinstance(v, set | frozenset) else "list"
        return f"{kind}[{value_type(next(iter(v))) if v else 'int'}]"
    if isinstance(v, tuple):
        return f"tuple[{','.join(value_type(x) for x in v)}]" if v else "tuple[int,int]"
    if isinstance(v, dict):
        if not v:
            return "dict[str,int]"
        k, val = next(iter(v.items()))
        return f"dict[{value_type(k)},{value_type(val)}]"
    return "int"


def usage_types(func: ast.FunctionDef, name: str) -> list[str]:
    """Types suggested by how the body uses parameter `name`."""
    votes: list[str] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name:
            if node.attr in DICT_METHODS:
                votes.append("dict[str,int]")
            elif node.attr in LIST_METHODS:
                votes.append("list[int]")
            elif node.attr in STR_METHODS:
                votes.append("str")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and _mentions(node.args, name):
            if node.func.id in ("range", "chr", "bin", "hex", "oct"):
                votes.append("int")
            elif node.func.id in (
                "len",
                "sorted",
                "enumerate",
                "reversed",
                "set",
                "sum",
                "max",
                "min",
                "zip",
            ):
                votes.append("list[int]")
            elif node.func.id == "ord":
                votes.append("str")
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Name) and node.iter.id == name:
            votes.append("list[int]")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name:
            votes.append("list[int]")
        elif isinstance(node, ast.BinOp) and _mentions([node.left, node.right], name):
            other = node.right if _mentions([node.left], name) else node.left
            if isinstance(other, ast.Constant) and isinstance(other.value, str):
                votes.append("str")
            elif isinstance(
                node.op, ast.Sub | ast.Mult | ast.Div | ast.FloorDiv | ast.Pow | ast.Mod | ast.Add
            ):
                votes.append("int" if isinstance(node.op, ast.FloorDiv | ast.Mod) else "float")
        elif isinstance(node, ast.Compare) and _mentions([node.left, *node.comparators], name):
            for c in [node.left, *node.comparators]:
                if isinstance(c, ast.Constant) and not isinstance(c.value, bool) and c.value is not None:
                    votes.append(value_type(c.value))
    return [t for t, _ in sorted(_counts(votes).items(), key=lambda kv: -kv[1])]


def _mentions(nodes: list[ast.expr], name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in nodes)


def _counts(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in items:
        out[t] = out.get(t, 0) + 1
    return out


def name_types(name: str) -> list[str]:
    low = name.lower()
    for fragments, typ in NAME_HINTS:
        if any(low == f or low.startswith(f) or low.endswith("_" + f) for f in fragments):
            return [typ]
    return []


def function_params(func: ast.FunctionDef) -> list[Param]:
    """The parameters to fill, with candidate types ranked (hint > default > usage > name > fallbacks)."""
    a = func.args
    positional = a.posonlyargs + a.args
    defaults: list[Any] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    pairs = [(arg, d, "pos") for arg, d in zip(positional, defaults)]
    pairs += [(arg, d, "kw") for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
    params = []
    for i, (arg, default_node, kind) in enumerate(pairs):
        if i == 0 and arg.arg in ("self", "cls"):
            continue
        p = Param(arg.arg, kind)
        if default_node is not None:
            try:
                p.default, p.has_default = ast.literal_eval(default_node), True
            except ValueError:
                pass
        ranked = [annotation_type(arg.annotation)]
        ranked += [value_type(p.default)] if p.has_default and p.default is not None else []
        ranked += usage_types(func, arg.arg) + name_types(arg.arg) + FALLBACK_TYPES
        p.types = list(dict.fromkeys(t for t in ranked if t))
        params.append(p)
    return params


# ------------------------------------------------------------------------------------ literal sources


def body_literals(func: ast.FunctionDef) -> dict[str, list[Any]]:
    """Constants in the body, grouped by type, plus their neighbours for ints (boundaries matter)."""
    out: dict[str, list[Any]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Constant) and node.value is not None and not isinstance(node.value, complex):
            v = node.value
            if isinstance(v, str) and len(v) > 40:
                continue  # a docstring or message, not a meaningful input
            out.setdefault(value_type(v), []).append(v)
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 10**9:
                out["int"] += [v - 1, v + 1]
    return {k: list(dict.fromkeys(vs)) for k, vs in out.items()}


def doctest_args(func: ast.FunctionDef, entry: str) -> list[tuple[tuple, dict]]:
    """(args, kwargs) of each `>>> entry(...)` example with literal arguments in the docstring."""
    doc = ast.get_docstring(func) or ""
    found = []
    try:
        examples = doctest.DocTestParser().get_examples(doc)
    except ValueError:
        return []
    for ex in examples:
        try:
            node = ast.parse(ex.source.strip(), mode="eval").body
        except SyntaxError:
            continue
        if not (isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == entry):
            continue
        try:
            args = tuple(ast.literal_eval(x) for x in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except (ValueError, SyntaxError, TypeError):
            continue
        found.append((args, kwargs))
    return found


# ------------------------------------------------------------------------------------ call sources

Input = tuple[tuple, dict]  # (positional args, keyword args) as plain values


def signature(inp: Input) -> tuple[str, ...]:
    """The argument types of one call, e.g. ('list[int]', 'int', 'key=str')."""
    args, kwargs = inp
    return tuple(value_type(a) for a in args) + tuple(
        f"{k}={value_type(v)}" for k, v in sorted(kwargs.items())
    )


def args_source(inp: Input) -> str:
    """'1, [2, 3], key='x'': the text between the call's parentheses."""
    args, kwargs = inp
    return ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])


def find_function(source: str, name: str) -> ast.FunctionDef | None:
    """The top-level `def name` in `source` (the last one, as Python would bind it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None
