"""The work budget of the parent's check: guards that price an operation before doing it.

`GuardRewriter` rewrites a planned check so that `**`, `<<`, `*`, `+`, `%`, single `in` comparisons and
the calls that can blow up (range, bytes, int, str, repr, round, sum, sorted, min, max, list, tuple, set,
frozenset, dict, any, all, zip, enumerate, math.factorial/comb/prod/fsum) go through `_g_*` guards given a
per-call `Budget` as `_b`. Integers made stay within MAX_INT_BITS (decimal text within 4,300 digits),
sequences, strings and ranges within MAX_ITEMS (a list repeated by `*` counted at its unshared size), and
all priced work of one check within MAX_STEPS steps (about 30 ns each) and MAX_SECONDS, the clock read
before each priced operation. Going over raises `OverBudget`, which `assertion.judge` turns into a failed
test.
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
import re
from collections.abc import Callable
from functools import partial
from time import perf_counter
from typing import Any

MAX_INT_BITS = 100_000  # integers the check makes
MAX_DECIMAL_DIGITS = 4_300  # decimal text <-> int is quadratic; CPython's default limit, kept here
MAX_ITEMS = 10_000_000  # sequence, string, bytes and range lengths the check makes
MAX_STEPS = 20_000_000  # guarded work per judge call, in units of roughly 30 ns
MAX_SECONDS = 1.0
_FREE = 100  # steps (a few µs) not worth a clock read; the check's own size bounds how many such ops run
_NUMS = frozenset((int, bool, float, complex))
_SEQS = frozenset((str, bytes, list, tuple))
_CONTAINERS = frozenset((list, tuple, set, frozenset, dict))
_SIZED = _CONTAINERS | {int, str, bytes}
_INTS = frozenset((int, bool))
_FLAT = frozenset((float, bool, complex, type(None)))
_POW2_BASES = frozenset((2, 4, 8, 16, 32))
_HASHED = frozenset((set, frozenset, dict))


class OverBudget(Exception):
    """The parent's check would do more work than a comparison may (the test fails)."""


class Budget:
    """Work left to one judge call. Class defaults, so that making one per call costs next to nothing."""

    used = 0.0
    deadline = 0.0  # set by the first priced operation
    memo: dict[int, tuple[Any, int]] | None = None  # id -> (object, kept alive so the id stays its; size)

    def spend(self, units: float, what: str) -> None:
        """Charge `units` before doing the work; also the per-operation wall-time check."""
        if units < _FREE:
            return
        if not self.deadline:
            self.deadline = perf_counter() + MAX_SECONDS
        self.used += units
        if self.used > MAX_STEPS:
            raise OverBudget(f"{what} needs more than the {MAX_STEPS:,} steps a check may take")
        if perf_counter() > self.deadline:
            raise OverBudget(f"the check ran past {MAX_SECONDS} s before {what}")


def _cap(n: float, limit: int, what: str, unit: str) -> None:
    if n > limit:
        raise OverBudget(f"{what} would make {int(n):,} {unit} (at most {limit:,})")


def _int_bits(b: Budget, bits: float, what: str) -> None:
    _cap(bits, MAX_INT_BITS, what, "bits")
    b.spend(bits / 64, what)


def _length(x: Any) -> int:
    """Elements an iteration over `x` visits (ranges were bounded when made)."""
    try:
        return len(x)
    except TypeError:
        return operator.length_hint(x)


def _size(b: Budget, x: Any, limit: int) -> int:
    """Unshared size of `x` in steps: what comparing, hashing or printing it may cost. Stops past `limit`."""
    t = type(x)
    if t is str or t is bytes:
        return 1 + len(x) // 64
    if t is int:  # printing an int is quadratic in its length
        return 1 + (x.bit_length() >> 6) ** 2 // 8
    if t not in _CONTAINERS:
        return 1
    if b.memo is None:
        b.memo = {}
    hit = b.memo.get(id(x))
    if hit is not None:
        return hit[1]
    items = (*x.keys(), *x.values()) if t is dict else x
    kinds = set(map(type, items))  # at C speed; flat containers (the usual case) need no walk
    if kinds <= _FLAT or (kinds <= _INTS and max(map(int.bit_length, items), default=0) < 64):
        b.memo[id(x)] = (x, 1 + len(items))
        return 1 + len(items)
    total = 1
    for v in items:
        total += _size(b, v, limit - total) if type(v) in _SIZED else 1
        if total > limit:
            return total
    b.memo[id(x)] = (x, total)
    return total


def _g_pow(b: Budget, x: Any, y: Any) -> Any:
    if (
        type(x) in (int, bool)
        and type(y) in (int, bool)
        and y > 1
        and abs(x) > 1
        and y * x.bit_length() > 640
    ):
        _int_bits(b, y * math.log2(abs(x)), "x ** y")
    return x**y


def _g_lshift(b: Budget, x: Any, y: Any) -> Any:
    if type(x) in (int, bool) and type(y) in (int, bool) and x and y > 0:
        _int_bits(b, x.bit_length() + y, "x << y")
    return x << y


def _g_mul(b: Budget, x: Any, y: Any) -> Any:
    tx, ty = type(x), type(y)
    if tx in (int, bool) and ty in (int, bool):
        if x.bit_length() + y.bit_length() > 640:
            _int_bits(b, x.bit_length() + y.bit_length(), "x * y")
    elif tx in _SEQS and ty in (int, bool):
        return _repeat(b, x, y)
    elif ty in _SEQS and tx in (int, bool):
        return _repeat(b, y, x)
    return x * y


def _repeat(b: Budget, seq: Any, n: int) -> Any:
    """`seq * n`, priced at the result's unshared size: `[big] * n` is n copies for any later use."""
    if n <= 1 or not seq:
        return seq * n
    _cap(len(seq) * n, MAX_ITEMS, "sequence * n", "elements")
    if type(seq) is str or type(seq) is bytes:
        b.spend(len(seq) * n / 1024, "sequence * n")
        return seq * n
    one = _size(b, seq, MAX_ITEMS // n + 1)
    b.spend(one + len(seq) * n / 4, "sequence * n")
    _cap(one * n, MAX_ITEMS, "sequence * n", "steps to compare or print, counting repeats")
    out = seq * n
    b.memo[id(out)] = (out, one * n)  # type: ignore[index] - _size made it
    return out


def _g_add(b: Budget, x: Any, y: Any) -> Any:
    t = type(x)
    if t in _SEQS and type(y) is t:
        n = len(x) + len(y)
        _cap(n, MAX_ITEMS, "sequence + sequence", "elements")
        b.spend(n / 1024 if t is str or t is bytes else n / 4, "sequence + sequence")
    return x + y


_FORMAT_SPEC = re.compile(r"%(\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.?)", re.S)


def _g_mod(b: Budget, x: Any, y: Any) -> Any:
    """`%` formatting pads to any width or precision it is given ('%0*d' % (10**9, 1)): add them up."""
    if type(x) is not str and type(x) is not bytes:
        return x % y  # arithmetic on integers the other guards keep small
    args = y if type(y) is tuple else (y,)
    text = x if type(x) is str else x.decode("latin-1")
    total, i = len(text), 0
    for m in _FORMAT_SPEC.finditer(text):
        key, width, precision, conversion = m.groups()
        for part in (width, precision):
            if part == "*":
                star = args[i] if i < len(args) else 0
                total += abs(star) if type(star) in (int, bool) else 0
                i += 1
            elif part:
                total += int(part) if len(part) < 12 else MAX_ITEMS + 1
        i += key is None and conversion != "%"
    _cap(total, MAX_ITEMS, "% formatting", "characters")
    b.spend(total / 64 + 3 * _size(b, args, MAX_STEPS), "% formatting")  # %s and %r print their args
    return x % y


def _g_in(b: Budget, item: Any, container: Any, negate: bool) -> bool:
    t = type(container)
    if t is str or t is bytes:
        b.spend(len(container) / 1024, "x in text")
    elif t not in _HASHED and not (t is range and type(item) in (int, bool)):  # a scan
        b.spend(_length(container), "x in container")
    return (item not in container) if negate else (item in container)


def _range_len(r: range) -> int:
    span = r.stop - r.start if r.step > 0 else r.start - r.stop
    return max(0, (span + abs(r.step) - 1) // abs(r.step))


def _g_range(b: Budget, *args: Any) -> range:
    r = range(*args)
    _cap(_range_len(r), MAX_ITEMS, "range()", "elements")
    return r


def _g_bytes(b: Budget, *args: Any, **kwargs: Any) -> bytes:
    if args and type(args[0]) in (int, bool):
        _cap(args[0], MAX_ITEMS, "bytes(n)", "bytes")
        b.spend(args[0] / 1024, "bytes(n)")
    else:
        b.spend(2 * _length(args[0]) if args else 0, "bytes()")
    return bytes(*args, **kwargs)


def _g_int(b: Budget, *args: Any, **kwargs: Any) -> int:
    x = args[0] if args else 0
    if type(x) is str or type(x) is bytes:
        base = args[1] if len(args) > 1 else kwargs.get("base", 10)
        head = x[:3].lower().lstrip()  # base 0 reads a 0x/0o/0b prefix
        if base in _POW2_BASES or (base == 0 and head[1:2] in ("x", "o", "b", b"x", b"o", b"b")):
            _int_bits(b, len(x) * 5, "int(text)")
        else:
            _cap(len(x), MAX_DECIMAL_DIGITS, "int(text)", "digits")
            b.spend(len(x) ** 2 / 4096, "int(text)")
    return int(*args, **kwargs)


def _g_str(b: Budget, *args: Any, **kwargs: Any) -> str:
    if len(args) == 1 and not kwargs:
        return _text(b, str, args[0])
    b.spend(_length(args[0]) / 64 if args else 0, "str()")  # decoding bytes
    return str(*args, **kwargs)


def _g_repr(b: Budget, x: Any) -> str:
    return _text(b, repr, x)


def _text(b: Budget, to_text: Callable[[Any], str], x: Any) -> str:
    if type(x) is int:  # int -> decimal is quadratic in its length
        _cap(x.bit_length() * 0.302, MAX_DECIMAL_DIGITS, "str(int)", "digits")
        b.spend((x.bit_length() / 64) ** 2 / 8, "str(int)")
    elif type(x) is not str:
        b.spend(3 * _size(b, x, MAX_STEPS), "str()")
    return to_text(x)


def _g_round(b: Budget, x: Any, *args: Any, **kwargs: Any) -> Any:
    digits = args[0] if args else kwargs.get("ndigits")
    if type(x) in (int, bool) and type(digits) in (int, bool) and digits < 0:  # computes 10 ** -digits
        _int_bits(b, -digits * 3.33, "round(int, -n)")
    return round(x, *args, **kwargs)


def _consumer(fn: Callable[..., Any], what: str, weight: int) -> Callable[..., Any]:
    """A guard for a builtin whose work is `weight` steps per element of its first argument."""

    def guard(b: Budget, *args: Any, **kwargs: Any) -> Any:
        n = _length(args[0]) if len(args) == 1 else len(args)
        b.spend(weight * n, what)
        if "key" in kwargs:  # `key=str` must stay guarded when called once per element
            kwargs["key"] = _as_key(b, kwargs["key"], n)
        return fn(*args, **kwargs)

    return guard


def _as_key(b: Budget, key: Any, n: int) -> Any:
    guard = _KEY_GUARDS.get(key)
    if guard is None:
        return key
    b.spend(15 * n, "a guarded key")  # a Python-level call per element
    return partial(guard, b)


def _g_sorted(b: Budget, items: Any, *, key: Any = None, reverse: bool = False) -> list[Any]:
    n = _length(items)
    if n > 16:
        b.spend(n + n * math.log2(n) / 3, "sorted()")
    return sorted(items, key=key if key is None else _as_key(b, key, n), reverse=reverse)


def _g_sum(b: Budget, items: Any, start: Any = 0) -> Any:
    """sum() of numbers is linear; of lists or tuples each `+` copies the total so far: price that."""
    if type(items) is range and type(start) in _NUMS:
        b.spend(len(items) / 2, "sum()")
        return sum(items, start)
    items = items if type(items) is list or type(items) is tuple else list(_g_list(b, items))
    b.spend(len(items), "sum()")
    if type(start) in _NUMS and _NUMS.issuperset(map(type, items)):
        return sum(items, start)
    b.spend(2 * len(items), "sum()")
    so_far = copied = len(start) if type(start) in _SEQS else 0
    for v in items:
        so_far += len(v) if type(v) in _SEQS else 0
        copied += so_far
    _cap(so_far, MAX_ITEMS, "sum()", "elements")
    b.spend(copied / 4, "sum()")
    return sum(items, start)


def _g_math_prod(b: Budget, items: Any, *, start: Any = 1) -> Any:
    items = list(_g_list(b, items))
    if type(start) in _NUMS and _NUMS.issuperset(map(type, items)):
        bits = sum(v.bit_length() for v in (start, *items) if type(v) is int)
        _int_bits(b, bits, "math.prod()")
        return math.prod(items, start=start)
    b.spend(10 * len(items), "math.prod()")  # a Python-level `*` per element
    total = start
    for v in items:
        total = _g_mul(b, total, v)
    return total


def _g_math_factorial(b: Budget, n: Any) -> int:
    if type(n) in (int, bool) and n > 1:
        _cap(n, MAX_INT_BITS, "math.factorial()", "bits")  # n! has more bits than n
        _int_bits(b, math.lgamma(n + 1) / math.log(2), "math.factorial()")
    return math.factorial(n)


def _g_math_comb(b: Budget, n: Any, k: Any) -> int:
    if type(n) in (int, bool) and type(k) in (int, bool) and 0 < k < n:
        k = min(k, n - k)
        if n < 2**53:
            bits = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)
        else:
            bits = k * n.bit_length()  # comb(n, k) <= n ** k
        _int_bits(b, bits, "math.comb()")
    return math.comb(n, k)


def _g_zip(b: Budget, *args: Any, **kwargs: Any) -> zip:
    b.spend(8 * sum(_length(a) for a in args), "zip()")  # its consumer cannot tell how long it is
    return zip(*args, **kwargs)


def _g_enumerate(b: Budget, items: Any, start: int = 0) -> enumerate:
    b.spend(8 * _length(items), "enumerate()")
    return enumerate(items, start)


# Weights from timing each builtin on a million elements (a step is about 30 ns).
_g_list = _consumer(list, "list()", 2)
_OP_GUARDS = {
    ast.Pow: "_g_pow",
    ast.LShift: "_g_lshift",
    ast.Mult: "_g_mul",
    ast.Add: "_g_add",
    ast.Mod: "_g_mod",
}
_CALL_GUARDS: dict[str, Callable[..., Any]] = {
    "range": _g_range,
    "bytes": _g_bytes,
    "int": _g_int,
    "str": _g_str,
    "repr": _g_repr,
    "round": _g_round,
    "sorted": _g_sorted,
    "sum": _g_sum,
    "zip": _g_zip,
    "enumerate": _g_enumerate,
    "list": _g_list,
    "tuple": _consumer(tuple, "tuple()", 2),
    "set": _consumer(set, "set()", 5),
    "frozenset": _consumer(frozenset, "frozenset()", 5),
    "dict": _consumer(dict, "dict()", 3),
    "any": _consumer(any, "any()", 1),
    "all": _consumer(all, "all()", 1),
    "min": _consumer(min, "min()", 1),
    "max": _consumer(max, "max()", 1),
    "math_fsum": _consumer(math.fsum, "math.fsum()", 1),
    "math_prod": _g_math_prod,
    "math_factorial": _g_math_factorial,
    "math_comb": _g_math_comb,
}
# sorted/min/max call their key once per element: a guarded builtin must stay guarded there.
_KEY_GUARDS = {
    getattr(math, n[5:]) if n.startswith("math_") else getattr(builtins, n): g
    for n, g in _CALL_GUARDS.items()
}
GUARD_NAMES = {f"_g_{n}": g for n, g in _CALL_GUARDS.items()}  # what a rewritten check calls
GUARD_NAMES.update({n: globals()[n] for n in (*_OP_GUARDS.values(), "_g_in")})


class GuardRewriter(ast.NodeTransformer):
    """Route every operation that can blow up through a `_g_*` guard that is passed the budget `_b`."""

    used = False

    def _call(self, name: str, args: list[ast.expr], keywords: list[ast.keyword]) -> ast.Call:
        self.used = True
        budget = ast.Name(id="_b", ctx=ast.Load())
        return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=[budget, *args], keywords=keywords)

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        name = _OP_GUARDS.get(type(node.op))
        return node if name is None else self._call(name, [node.left, node.right], [])

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], ast.In | ast.NotIn):
            return node
        negate = ast.Constant(isinstance(node.ops[0], ast.NotIn))
        return self._call("_g_in", [node.left, node.comparators[0], negate], [])

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        f = node.func  # a whitelisted name or math.X (checked by _parent_safe)
        name = f.id if isinstance(f, ast.Name) else f"math_{f.attr}"  # type: ignore[attr-defined]
        if name not in _CALL_GUARDS:
            return node
        return self._call(f"_g_{name}", node.args, node.keywords)
