"""What each parameter must be, inferred from how the function uses it (not only from its type hints).

We follow every expression rooted at a parameter, through subscripts, loop variables and simple
assignments (`spec['sign']`, `for k, v in d.items()`, `x = items[0]`), and read what its context says:
a subscript with a constant string key makes a dict with that key; an integer index or a slice makes a
sequence; a method call names str, bytes, list, dict or set by which type has the method (and by the type
of its literal arguments: `h.startswith(b'GIF')` is bytes starting with b'GIF'); a comparison or an `in`
test with literals gives their type and values (`h[6:10] == b'JFIF'` puts b'JFIF' at offset 6);
arithmetic with literals gives a number (or a string for `+ 'x'`); `len`, iteration, `sorted`, `sum`,
`isinstance` checks, and calls into the reference's own helpers (analysed in turn) add theirs. The
result per parameter is a `Shape`: weighted votes for a type head, the literals seen, the keys and
element shape of containers, and literals to embed at an offset (or anywhere) in strings and bytes.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from unitrl.inputs.literals import Regex, flat, head_of, literal

HEADS = ("int", "float", "str", "bytes", "bool", "list", "tuple", "dict", "set", "none", "object")
_BUILTIN_ATTRS = set().union(*(dir(t) for t in (int, float, str, bytes, list, tuple, dict, set)))
_STR_ONLY = set(dir(str)) - set(dir(bytes)) - set(dir(list))
_BYTES_OR_STR = (set(dir(str)) & set(dir(bytes))) - set(dir(list)) - set(dir(object))
_LIST_ONLY = {"append", "extend", "insert", "remove", "sort", "reverse", "pop", "copy", "clear"}
_DICT_ONLY = {"items", "keys", "values", "get", "setdefault", "update", "popitem"}
_SET_ONLY = set(dir(set)) - set(dir(list)) - set(dir(object))
_SEQ_FUNCS = {"sorted", "sum", "min", "max", "enumerate", "reversed", "zip", "any", "all", "list", "tuple"}
_SEARCHING = {"split", "rsplit", "replace", "find", "rfind", "index", "partition", "rpartition", "count"}
_RE_FUNCS = {"match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer"}
_ISINSTANCE = {"int": "int", "float": "float", "str": "str", "bytes": "bytes", "bytearray": "bytes",
               "bool": "bool", "list": "list", "tuple": "tuple", "dict": "dict", "set": "set",
               "frozenset": "set", "Mapping": "dict", "Sequence": "list", "Integral": "int",
               "Real": "float", "Number": "int"}  # fmt: skip


@dataclass
class Shape:
    """What we learned about one parameter (or one path inside it, e.g. `spec['sign']`)."""

    votes: Counter = field(default_factory=Counter)  # type head -> weight
    literals: list[Any] = field(default_factory=list)  # values it was compared with or tested against
    keys: dict[Any, Shape] = field(default_factory=dict)  # constant subscripts -> their shapes
    elem: Shape | None = None  # elements (iteration, variable index)
    # Literals to place in a str/bytes/list: (offset, literal); offset -1 is a suffix, None anywhere.
    embeds: list[tuple[int | None, Any]] = field(default_factory=list)
    min_len: int = 0
    optional: bool = False  # compared with None
    seps: list[str] = field(default_factory=list)  # what it is split on: words joined by these make sense

    def vote(self, head: str, weight: float = 1.0) -> None:
        self.votes[head] += weight

    def element(self) -> Shape:
        if self.elem is None:
            self.elem = Shape()
        return self.elem

    def key(self, k: Any) -> Shape:
        return self.keys.setdefault(k, Shape())

    def heads(self) -> list[str]:
        """Type heads by weight (ties in HEADS order)."""
        return [h for h, _ in sorted(self.votes.items(), key=lambda kv: (-kv[1], HEADS.index(kv[0])))]

    def type_string(self, head: str, depth: int = 0) -> str:
        """'list[str]', 'dict[str,int]', ... for a head, with element types from what we saw inside."""
        inner = None
        if self.elem is not None and depth < 3:
            inner = self.elem.type_string((self.elem.heads() or ["int"])[0], depth + 1)
        if head in ("list", "set"):
            return f"{head}[{inner or _key_type(self) or 'int'}]"
        if head == "tuple":
            return f"tuple[{inner or 'int'},{inner or 'int'}]"
        if head == "dict":
            vals = Counter(h for s in self.keys.values() for h in s.heads()[:1])
            return f"dict[str,{vals.most_common(1)[0][0] if vals else inner or 'int'}]"
        return head


def _key_type(s: Shape) -> str | None:
    ints = [k for k in s.keys if isinstance(k, int)]
    return (s.keys[ints[0]].heads() or [None])[0] if ints else None


class _Analysis:
    """One function's parameters: walk the body once, resolving paths and voting from contexts."""

    def __init__(
        self, func: ast.FunctionDef, helpers: dict[str, ast.FunctionDef], depth: int, consts: dict[str, Any]
    ) -> None:
        self.func, self.helpers, self.depth, self.consts = func, helpers, depth, consts
        self.names: dict[str, Shape] = {}
        a = func.args
        for arg in a.posonlyargs + a.args + a.kwonlyargs + ([a.vararg] if a.vararg else []):
            self.names[arg.arg] = Shape()
        self.params = dict(self.names)
        self.parents: dict[int, ast.AST] = {}
        self.cache: dict[int, Shape] = {}  # node id -> its path's shape (votes a subscript casts count once)

    def run(self) -> dict[str, Shape]:
        for node in ast.walk(self.func):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
        for stmt in self.func.body:  # aliases first, in order, so later uses resolve
            for node in ast.walk(stmt):
                self._alias(node)
        for node in ast.walk(self.func):
            shape = self.path(node)
            if shape is not None and self._is_maximal(node):
                self._context(node, shape)
        return self.params

    # -------------------------------------------------------------------------------- paths
    def path(self, node: ast.AST) -> Shape | None:
        """The shape a path expression denotes: a parameter, an alias, or a subscript of one."""
        if id(node) in self.cache:
            return self.cache[id(node)]
        shape = self._resolve(node)
        if shape is not None:
            self.cache[id(node)] = shape
        return shape

    def _resolve(self, node: ast.AST) -> Shape | None:
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and node.args and (base := self.path(node.func.value)) is not None
        ):  # fmt: skip
            ok, k = literal(node.args[0], self.consts)
            if ok and isinstance(k, str):
                base.vote("dict", 2)
                return base.key(k)
            return None
        if isinstance(node, ast.Subscript):
            base = self.path(node.value)
            if base is None:
                return None
            sl = node.slice
            if isinstance(sl, ast.Slice):
                return base  # a slice has the base's type
            ok, k = literal(sl, self.consts)
            if ok and isinstance(k, str):
                base.vote("dict", 2)
                return base.key(k)
            if ok and isinstance(k, int) and not isinstance(k, bool):
                base.min_len = max(base.min_len, k + 1 if k >= 0 else -k)
                return base.key(k) if abs(k) < 8 else base.element()
            base.vote("list", 0.5)  # p[i]: a sequence (or a dict with variable keys)
            return base.element()
        return None

    def _is_maximal(self, node: ast.AST) -> bool:
        parent = self.parents.get(id(node))
        return not (isinstance(parent, ast.Subscript) and parent.value is node and self.path(parent))

    def _alias(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, shape = node.targets[0], self.path(node.value)
            if shape is not None and isinstance(target, ast.Name) and target.id not in self.params:
                self.names[target.id] = shape
        elif isinstance(node, ast.For | ast.comprehension):
            self._loop_target(node.target, node.iter)

    def _loop_target(self, target: ast.AST, it: ast.AST) -> None:
        shape = self.path(it)
        method = None
        if shape is None and isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute):
            shape, method = self.path(it.func.value), it.func.attr
        if method is not None and method not in ("items", "keys", "values"):
            return
        if shape is None:
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "enumerate":
                if it.args and (inner := self.path(it.args[0])) is not None and isinstance(target, ast.Tuple):
                    self._bind(target.elts[-1], inner.element())
            return
        shape.vote("dict" if method in ("items", "keys", "values") else "list", 0.5)
        if method == "items" and isinstance(target, ast.Tuple) and len(target.elts) == 2:
            self._bind(target.elts[1], shape.element())
        elif method in (None, "values"):
            self._bind(target, shape.element())

    def _bind(self, target: ast.AST, shape: Shape) -> None:
        if isinstance(target, ast.Name) and target.id not in self.params:
            self.names[target.id] = shape

    # -------------------------------------------------------------------------------- contexts
    def _context(self, node: ast.AST, s: Shape) -> None:
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.Attribute) and parent.value is node:
            call = self.parents.get(id(parent))
            args = None
            if isinstance(call, ast.Call) and call.func is parent:  # keyword `sep=` counts as the first
                args = call.args + [k.value for k in call.keywords if k.arg in ("sep", "prefix", "suffix")]
            if parent.attr not in _BUILTIN_ATTRS or (args is None and parent.attr.startswith("__")):
                s.vote("object", 1.5)  # obj.__code__, obj.cr_frame: an object no literal builds
            self._method(s, parent.attr, args)
        elif isinstance(parent, ast.Compare):
            self._compare(node, parent, s)
        elif isinstance(parent, ast.BinOp | ast.AugAssign):
            self._arith(node, parent, s)
        elif isinstance(parent, ast.Call) and node in parent.args:
            self._call_arg(parent, parent.args.index(node), s)
        elif isinstance(parent, ast.If | ast.While | ast.IfExp | ast.BoolOp) or (
            isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
        ):
            s.vote("bool", 0.3)
        elif isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub | ast.Invert):
            s.vote("int", 1)
        elif (
            isinstance(parent, ast.Assign)
            and parent.value is node
            and isinstance(parent.targets[0], ast.Tuple)
        ):
            s.vote("tuple", 1)
            s.min_len = max(s.min_len, len(parent.targets[0].elts))
        elif isinstance(parent, ast.For | ast.comprehension) and parent.iter is node:
            s.vote("list", 1)
            s.vote("str", 0.2)

    def _method(self, s: Shape, attr: str, args: list[ast.expr] | None) -> None:
        lits = [v for ok, v in (literal(a, self.consts) for a in args or []) if ok]
        if attr in _DICT_ONLY:
            s.vote("dict", 2)
            if attr in ("get", "setdefault", "pop") and lits and isinstance(lits[0], str):
                s.key(lits[0])
        elif attr in _LIST_ONLY:
            s.vote("list", 2)
        elif attr in _SET_ONLY:
            s.vote("set", 2)
        elif attr in _STR_ONLY:
            s.vote("str", 2)
        elif attr in _BYTES_OR_STR:
            kind = "bytes" if any(isinstance(v, bytes) for v in flat(lits)) else "str"
            s.vote(kind, 2)
            if attr in ("startswith", "endswith"):
                where = 0 if attr == "startswith" else -1
                s.embeds += [(where, v) for v in flat(lits) if isinstance(v, str | bytes) and v]
        elif attr in ("count", "index"):
            s.vote("str", 0.7)
            s.vote("list", 0.7)
        if attr in _SEARCHING:
            s.embeds += [(None, v) for v in lits[:1] if isinstance(v, str | bytes) and v]
        if attr in ("split", "rsplit"):
            sep = lits[0] if lits and isinstance(lits[0], str) and lits[0] else " "
            s.seps.append(sep)

    def _compare(self, node: ast.AST, cmp: ast.Compare, s: Shape) -> None:
        operands = [cmp.left, *cmp.comparators]
        i = operands.index(node)
        ops = [cmp.ops[i - 1]] if i else []
        ops += [cmp.ops[i]] if i < len(cmp.ops) else []
        others = [o for j, o in enumerate(operands) if abs(j - i) == 1]
        if all(isinstance(op, ast.Eq) for op in cmp.ops):  # a == b == 'x': every operand equals 'x'
            ops, others = list(cmp.ops), [o for o in operands if o is not node]
        sliced = self._slice_offset(node)
        for op, other in zip(ops, others):
            ok, v = literal(other, self.consts)
            if not ok:
                continue
            if v is None and isinstance(op, ast.Is | ast.IsNot | ast.Eq | ast.NotEq):
                s.optional = True
                continue
            left_side = other is not cmp.left
            if isinstance(op, ast.In | ast.NotIn) and left_side:  # node in (a, b) / node in 'abc'
                vals = list(v) if isinstance(v, tuple | list | bytes) else [v]
                if isinstance(v, set | frozenset):
                    vals = sorted(v, key=repr)  # a fixed order, whatever the hash seed
                if isinstance(v, str):
                    vals = list(v) or [v]
                    s.vote("str", 1)
                self._literal_votes(s, vals, sliced)
            elif isinstance(op, ast.In | ast.NotIn):  # 'x' in node
                if isinstance(v, str | bytes):
                    s.vote("str" if isinstance(v, str) else "bytes", 1)
                    s.embeds.append((None, v))
                else:
                    s.vote("list", 1)
                    s.element().literals.append(v)
            else:
                self._literal_votes(s, [v], sliced)

    def _literal_votes(self, s: Shape, vals: list[Any], offset: int | None) -> None:
        for v in vals:
            s.vote(head_of(v) if not isinstance(v, bool) else "bool", 1.5)
            s.literals.append(v)
            if offset is not None and isinstance(v, str | bytes):
                s.embeds.append((offset, v))

    def _slice_offset(self, node: ast.AST) -> int | None:
        """For `p[3:7] == lit` the literal's offset in p (the node passed in is the slice)."""
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            ok, lo = literal(node.slice.lower, self.consts) if node.slice.lower is not None else (True, 0)
            if ok and isinstance(lo, int) and lo < 0 and node.slice.upper is None:
                return -1  # p[-2:] == lit: a suffix
            return lo if ok and isinstance(lo, int) and lo >= 0 else None
        return None

    def _arith(self, node: ast.AST, op: ast.BinOp | ast.AugAssign, s: Shape) -> None:
        other = op.value if isinstance(op, ast.AugAssign) else op.right if op.left is node else op.left
        ok, v = literal(other, self.consts)
        if isinstance(op.op, ast.Mod) and isinstance(op, ast.BinOp) and op.left is not node:
            return  # '%s' % node: formatting says nothing
        if ok and isinstance(v, str | bytes):
            s.vote("str" if isinstance(v, str) else "bytes", 1.5)
        elif ok and isinstance(v, float):
            s.vote("float", 1.5)
        elif ok and isinstance(v, int):
            bits = isinstance(op.op, ast.BitAnd | ast.BitOr | ast.BitXor | ast.LShift | ast.RShift)
            s.vote("int", 2 if bits or isinstance(op.op, ast.FloorDiv | ast.Mod) else 1.2)
            if bits:
                s.literals.append(v)
        elif isinstance(op.op, ast.Div):
            s.vote("float", 0.8)
        else:
            s.vote("int", 0.5)
            s.vote("float", 0.4)

    def _call_arg(self, call: ast.Call, pos: int, s: Shape) -> None:
        f = call.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
        pattern = None
        if (
            isinstance(f, ast.Attribute)
            and name in _RE_FUNCS
            and pos == (1 if name in ("sub", "subn") else 0)
        ):
            ok, rx = literal(f.value, self.consts)  # compiled.search(text), compiled.sub(repl, text)
            pattern = rx.pattern if ok and isinstance(rx, Regex) else None
        elif owner == "re" and name in _RE_FUNCS and pos == 1:
            ok, pat = literal(call.args[0], self.consts)
            pattern = pat if ok and isinstance(pat, str) else None
        if pattern is not None:
            s.vote("str", 2)
            s.embeds.append((None, Regex(pattern)))
            return
        if name in ("range", "chr", "bin", "hex", "oct") or (
            owner == "math" and name in ("factorial", "comb")
        ):
            s.vote("int", 2)
        elif name == "ord":  # one character
            s.vote("str", 2)
            s.literals += ["a", "Z", "0", " ", "=", "\n", "\x7f", "é", "€"]
        elif name == "len":
            s.vote("list", 0.6)
            s.vote("str", 0.5)
        elif name in _SEQ_FUNCS:
            s.vote("list", 1)
            if name == "sum":
                s.element().vote("int", 1)
        elif name == "join" and isinstance(f, ast.Attribute):
            s.vote("list", 1)
            s.element().vote("str", 2)
        elif name == "isinstance" and pos == 0 and len(call.args) == 2:
            kinds = call.args[1].elts if isinstance(call.args[1], ast.Tuple) else [call.args[1]]
            for k in kinds:
                head = _ISINSTANCE.get(k.id if isinstance(k, ast.Name) else getattr(k, "attr", ""))
                s.vote(head or "object", 3 if head else 1.5)
        elif name in ("hasattr", "getattr", "callable", "type", "vars", "dir") and pos == 0:
            s.vote("object", 1.5)
        elif owner == "re" and name in _RE_FUNCS and pos >= 1:
            s.vote("str", 2)
        elif owner == "math":
            s.vote("float", 1.5)
        elif name in ("int", "float") and owner == "":
            s.vote("str", 0.6)
            s.vote("float" if name == "int" else "int", 0.4)
        elif name == "abs" or name == "round":
            s.vote("float", 1)
        elif name in self.helpers and self.depth < 2 and not call.keywords:
            helper = self.helpers[name]
            names = [a.arg for a in helper.args.posonlyargs + helper.args.args]
            if pos < len(names) and helper is not self.func:
                sub = infer_shapes(helper, self.helpers, self.depth + 1, self.consts)
                _merge(s, sub.get(names[pos], Shape()))


def _merge(into: Shape, other: Shape) -> None:
    into.votes.update(other.votes)
    into.literals += other.literals
    into.embeds += other.embeds
    into.min_len = max(into.min_len, other.min_len)
    into.optional |= other.optional
    for k, sub in other.keys.items():
        _merge(into.key(k), sub)
    if other.elem is not None:
        _merge(into.element(), other.elem)


def infer_shapes(
    func: ast.FunctionDef,
    helpers: dict[str, ast.FunctionDef] | None = None,
    depth: int = 0,
    consts: dict[str, Any] | None = None,
) -> dict[str, Shape]:
    """Parameter name -> Shape, from the function's body (and the helpers it passes them to)."""
    return _Analysis(func, helpers or {}, depth, consts or {}).run()
