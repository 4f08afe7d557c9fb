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
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from unitrl.inputs.infer import Shape, infer_shapes
from unitrl.inputs.literals import literal

# ------------------------------------------------------------------------------------ value pools


class Expr:
    """An argument that is not a literal but an expression building an object (a class, a function, a
    generator...): for functions that inspect objects. Its repr is its source, so it drops into calls."""

    __slots__ = ("src",)

    def __init__(self, src: str) -> None:
        self.src = src

    def __repr__(self) -> str:
        return self.src

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other.src == self.src

    def __hash__(self) -> int:
        return hash(("expr", self.src))


# Objects one expression can build with builtins only, one of each common kind.
OBJECTS = [Expr(e) for e in (
    "int", "len", "lambda x: x", "(x for x in [])", "iter([1, 2])", "object()", "str.upper", "'a'.upper",
    "(1).__add__", "int.__add__", "property(len)", "type('C', (), {'x': 1})", "range(3)",
    "ValueError('x')", "...", "staticmethod(len)", "type", "NotImplemented",
)]  # fmt: skip


EDGE_POOLS: dict[str, list[Any]] = {
    "int": [0, 1, -1, 2, 3, 5, 7, 10, 12, 100, -7, 1001, -12, 123, -305],
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
    "object": OBJECTS,
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

# Name fragments -> values worth trying (a codec name is not any string; a month is 1..12).
NAME_VALUES: list[tuple[tuple[str, ...], list[Any]]] = [
    (("encoding", "charset", "codec"), ["utf-8", "ascii", "latin-1", "utf-16"]),
    (("errors",), ["strict", "replace", "ignore", "surrogateescape", "backslashreplace"]),
    (("month",), list(range(1, 13))),
    (("day",), [1, 2, 15, 28, 29, 30, 31]),
    (("year",), [1, 1970, 1999, 2000, 2024, 9999]),
    (("hour",), [0, 1, 11, 12, 23]),
    (("minute", "second"), [0, 1, 30, 59]),
]


def name_values(name: str) -> list[Any]:
    """Values a parameter's name says are meaningful (`encoding` -> codec names)."""
    low = name.lower()
    return [
        v
        for frags, vals in NAME_VALUES
        if any(low == f or low.endswith("_" + f) for f in frags)
        for v in vals
    ]


FALLBACK_TYPES = ["int", "str", "list[int]", "float", "bytes", "list[str]", "dict[str,int]", "bool", "object"]


_SIMPLE_HINTS = {"int": "int", "float": "float", "str": "str", "bool": "bool", "bytes": "bytes",
                 "bytearray": "bytes", "list": "list[int]", "List": "list[int]", "Sequence": "list[int]",
                 "Iterable": "list[int]", "Collection": "list[int]", "dict": "dict[str,int]",
                 "Dict": "dict[str,int]", "Mapping": "dict[str,int]", "tuple": "tuple[int,int]",
                 "Tuple": "tuple[int,int]", "set": "set[int]", "Set": "set[int]", "frozenset": "set[int]",
                 "AbstractSet": "set[int]", "None": "none", "NoneType": "none"}  # fmt: skip


@dataclass
class Param:
    name: str
    kind: str  # "pos", "var" (*args) or "kw" (keyword-only)
    types: list[str] = field(default_factory=list)  # candidate types, most likely first
    default: Any = None
    has_default: bool = False
    hinted: bool = False  # the annotation names the types: nothing else is ever generated
    plausible: list[str] = field(default_factory=list)  # types some evidence points to (not fallbacks)
    shape: Shape | None = None  # how the body uses it (keys, literals, embeds)


# ------------------------------------------------------------------------------------ type guessing


def annotation_types(node: ast.expr | None) -> list[str] | None:
    """Every type an annotation allows ('int | None' -> ['int', 'none']); None where we cannot say."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return annotation_types(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Constant) and node.value is None:
        return ["none"]
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        return [_SIMPLE_HINTS[name]] if name in _SIMPLE_HINTS else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | Y
        left, right = annotation_types(node.left), annotation_types(node.right)
        return None if left is None or right is None else list(dict.fromkeys(left + right))
    if isinstance(node, ast.Subscript):
        base = ast.unparse(node.value).split(".")[-1]
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base in ("Optional", "Union"):
            parts = [annotation_types(a) for a in args]
            if any(p is None for p in parts):
                return None
            return list(
                dict.fromkeys([t for p in parts for t in p] + (["none"] if base == "Optional" else []))
            )
        head = _SIMPLE_HINTS.get(base)
        if head is None:
            return None
        inner = [(annotation_types(a) or ["int"])[0] for a in args]
        kind = head.split("[")[0]
        if kind == "tuple" and inner and inner[-1] != "...":
            return [f"tuple[{','.join(inner)}]"] if "..." not in inner else ["tuple[int,int]"]
        if kind == "dict" and len(inner) == 2:
            return [f"dict[{inner[0]},{inner[1]}]"]
        return [f"{kind}[{inner[0]}]"]
    return None


def annotation_type(node: ast.expr | None) -> str | None:
    """The first non-None type an annotation allows ('int | None' -> 'int'); None where we cannot say."""
    types = [t for t in annotation_types(node) or [] if t != "none"]
    return types[0] if types else None


def value_type(v: Any) -> str:
    """The type string of a concrete value (used on defaults, doctest args and observed seeds)."""
    if v is None:
        return "none"
    if isinstance(v, Expr):
        return "object"
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
    """Types suggested by how the body uses parameter `name`, most likely first (see infer.py)."""
    shape = infer_shapes(func).get(name)
    return [shape.type_string(h) for h in shape.heads() if h != "none"] if shape else []


def name_types(name: str) -> list[str]:
    low = name.lower()
    for fragments, typ in NAME_HINTS:
        # one- and two-letter fragments ("s", "n", "x") must be the whole name or its last word
        if any(low == f or low.endswith("_" + f) or (len(f) > 2 and low.startswith(f)) for f in fragments):
            return [typ]
    return []


def function_params(
    func: ast.FunctionDef,
    helpers: dict[str, ast.FunctionDef] | None = None,
    examples: list[Input] = (),
    consts: dict[str, Any] | None = None,
) -> list[Param]:
    """The parameters to fill, with candidate types ranked: a hint decides alone (`bool | str` never
    gets a list); otherwise example calls > default > usage > name > fallbacks."""
    a = func.args
    positional = a.posonlyargs + a.args
    defaults: list[Any] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    pairs = [(arg, d, "pos") for arg, d in zip(positional, defaults)]
    pairs += [(a.vararg, None, "var")] if a.vararg else []
    pairs += [(arg, d, "kw") for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
    shapes = infer_shapes(func, helpers, consts=consts)
    params = []  # top-level functions only: a first parameter named `cls` is an argument like any other
    for i, (arg, default_node, kind) in enumerate(pairs):
        p = Param(arg.arg, kind, shape=shapes.get(arg.arg))
        if p.shape is not None and (named := name_values(arg.arg)):
            p.shape.literals += [v for v in named if v not in p.shape.literals]
        if default_node is not None:
            ok, value = literal(default_node, consts)
            # a default we cannot build (a sentinel object) may still be left out of a call
            p.default, p.has_default = (value if ok else _UNBUILDABLE), True
        if kind == "var":  # *args: extra positional values of the element type
            elem = p.shape.elem if p.shape and p.shape.elem else None
            keyed = [sub for k, sub in (p.shape.keys.items() if p.shape else []) if isinstance(k, int)]
            ranked = usage_types_of(elem) + [t for sub in keyed for t in usage_types_of(sub)]
            hint = annotation_types(arg.annotation)
            p.plausible = list(dict.fromkeys((hint or []) + ranked))
            p.types = list(dict.fromkeys(p.plausible + ([] if hint else FALLBACK_TYPES)))
            params.append(p)
            continue
        hint = annotation_types(arg.annotation)
        if hint and any(t != "none" for t in hint):
            p.hinted = True
            p.types = p.plausible = [t for t in hint if t != "none"] + [t for t in hint if t == "none"]
            params.append(p)
            continue
        seen = _example_types(examples, i if kind == "pos" else -1, arg.arg)
        ranked = seen + ([value_type(p.default)] if p.has_default and _buildable(p.default) else [])
        ranked += usage_types_of(p.shape) + name_types(arg.arg)
        p.plausible = list(dict.fromkeys(ranked))
        p.types = list(dict.fromkeys(ranked + FALLBACK_TYPES))
        params.append(p)
    return params


_UNBUILDABLE = object()


def _buildable(v: Any) -> bool:
    return v is not None and v is not _UNBUILDABLE


def usage_types_of(shape: Shape | None) -> list[str]:
    return [shape.type_string(h) for h in shape.heads() if h != "none"] if shape else []


def _example_types(examples: list[Input], pos: int, name: str) -> list[str]:
    """Types an argument took in the docstring's examples and the problem's own tests."""
    out = []
    for args, kwargs in examples:
        if name in kwargs:
            out.append(value_type(kwargs[name]))
        elif 0 <= pos < len(args):
            out.append(value_type(args[pos]))
    return [t for t, _ in Counter(out).most_common()]


# ------------------------------------------------------------------------------------ literal sources


def body_literals(func: ast.AST) -> dict[str, list[Any]]:
    """Constants in the code (a function, or the whole reference with the tables it carries), grouped by
    type, plus their neighbours for ints (boundaries matter)."""
    out: dict[str, list[Any]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Constant) and node.value is not None and not isinstance(node.value, complex):
            v = node.value
            if isinstance(v, str) and len(v) > 40:
                continue  # a docstring or message, not a meaningful input
            out.setdefault(value_type(v), []).append(v)
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 10**9:
                out["int"] += [v - 1, v + 1]
    for v in docstring_values(func):  # values a docstring shows (`operator['+', '*']`) are inputs too
        out.setdefault(value_type(v), []).append(v)
    return {k: list(dict.fromkeys(vs)) for k, vs in out.items()}


def _flat_scalars(v: Any) -> list[Any]:
    if isinstance(v, set | frozenset):
        v = sorted(v, key=repr)  # a fixed order, whatever the hash seed
    if isinstance(v, list | tuple | set | frozenset):
        return [x for item in v for x in _flat_scalars(item)]
    if isinstance(v, dict):
        return [x for kv in v.items() for item in kv for x in _flat_scalars(item)]
    return [v] if isinstance(v, int | float | str) and not isinstance(v, bool) else []


def docstring_values(tree: ast.AST, limit: int = 64) -> list[Any]:
    """Scalars inside the bracketed literals of the docstrings in `tree` (`[2, 3, 4, 5]`, `{'a': 1}`):
    a docstring's examples show what the inputs look like even where they are not written as calls."""
    found: list[Any] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            continue
        doc = ast.get_docstring(node) or ""
        for m in re.finditer(r"[\[{(]", doc):
            depth, end = 0, None
            for k in range(m.start(), min(len(doc), m.start() + 400)):
                depth += {"[": 1, "{": 1, "(": 1, "]": -1, "}": -1, ")": -1}.get(doc[k], 0)
                if depth == 0:
                    end = k + 1
                    break
            if end is None:
                continue
            try:
                value = ast.literal_eval(doc[m.start() : end])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            found += [v for v in _flat_scalars(value) if not isinstance(v, str) or len(v) <= 40]
            if len(found) >= limit:
                return found[:limit]
    return found


def doctest_args(func: ast.FunctionDef, entry: str) -> list[tuple[tuple, dict]]:
    """(args, kwargs) of each example call `entry(...)` with literal arguments in the docstring, in any
    of the forms docstrings use (`>>> f(1)`, `f(1) ==> 2`, `f("a") ➞ "b"`, `for f(3) == 4`)."""
    doc = ast.get_docstring(func) or ""
    found: dict[str, tuple[tuple, dict]] = {}
    for m in re.finditer(rf"(?<![\w.]){re.escape(entry)}\(", doc):
        start = m.end()
        for close in (k for k in range(start, min(len(doc), start + 2000)) if doc[k] == ")"):
            parsed = parse_args(doc[start:close])
            if parsed is not None:
                found.setdefault(args_source(parsed), parsed)
                break
    return list(found.values())


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
    return ", ".join(
        [literal_source(a) for a in args] + [f"{k}={literal_source(v)}" for k, v in kwargs.items()]
    )


def literal_source(v: Any, depth: int = 0) -> str:
    """`repr(v)`, except that a set's elements are written in a fixed order (sorted by their own text).
    A set of strings iterates in an order that changes with each process's hash seed, so `repr` would
    make a different test text (and a different search) on every run."""
    if depth > 100:
        return repr(v)
    t = type(v)
    if t is list:
        return "[" + ", ".join(literal_source(x, depth + 1) for x in v) + "]"
    if t is tuple:
        inner = [literal_source(x, depth + 1) for x in v]
        return "(" + inner[0] + ",)" if len(inner) == 1 else "(" + ", ".join(inner) + ")"
    if t is dict:
        return (
            "{"
            + ", ".join(
                f"{literal_source(k, depth + 1)}: {literal_source(x, depth + 1)}" for k, x in v.items()
            )
            + "}"
        )
    if t is set or t is frozenset:
        inner = sorted(literal_source(x, depth + 1) for x in v)
        body = "{" + ", ".join(inner) + "}"
        if t is frozenset:
            return f"frozenset({body})" if inner else "frozenset()"
        return body if inner else "set()"
    return repr(v)


def find_function(source: str, name: str) -> ast.FunctionDef | None:
    """The top-level `def name` in `source` (the last one, as Python would bind it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None


def parse_args(src: str) -> Input | None:
    """The values of an argument-list source ("1, [2], key='x'"); None unless every one is a literal."""
    try:
        call = ast.parse(f"f({src})", mode="eval").body
        assert isinstance(call, ast.Call)
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except (ValueError, SyntaxError, TypeError, AssertionError, MemoryError, RecursionError):
        return None
    return (args, kwargs) if all(k.arg for k in call.keywords) else None


def test_calls(tests: list[Any], entry: str) -> list[tuple[str, Input]]:
    """(args source, values) of each `entry(...)` call with literal arguments in a problem's own tests."""
    out: dict[str, Input] = {}
    for t in tests:
        if not isinstance(t, str):
            continue
        try:
            tree = ast.parse(t)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry:
                src = ast.unparse(node)[len(entry) + 1 : -1]
                parsed = parse_args(src)
                if parsed is not None:
                    out.setdefault(args_source(parsed), parsed)
    return list(out.items())
