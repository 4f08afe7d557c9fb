"""Type-aware generation and mutation of input values (after evalplus's type-aware input mutation).

evalplus (Liu et al., NeurIPS 2023, section 2.1) grows a seed pool by mutating one argument at a time
with an operator that keeps its type: ints step or flip sign, strings gain, lose or swap characters or
substrings, lists gain, lose, duplicate or mutate elements, and so on; and it mixes in values seen
elsewhere in the pool (here: literals from the function body). We follow that, plus the edge cases
named in our issue (empty, zero, negative, large, unicode, duplicates). Everything is a plain builtin
value built on the trusted side, so `repr` of it is a valid argument literal.
"""

from __future__ import annotations

import random
from typing import Any

from unitrl.synth.inputs import EDGE_POOLS, Input, Param, args_source, value_type

MAX_LEN = 24  # keeps generated containers and strings small: tests stay readable and fast
UNICODE = "äöüßéñ漢字😀∑"


def split_type(typ: str) -> tuple[str, list[str]]:
    """'dict[str,list[int]]' -> ('dict', ['str', 'list[int]'])."""
    if "[" not in typ:
        return typ, []
    head, inner = typ.split("[", 1)
    inner = inner[:-1]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    parts.append(cur)
    return head, [p.strip() for p in parts if p.strip()]


def sample_value(typ: str, rng: random.Random, literals: dict[str, list[Any]], depth: int = 0) -> Any:
    """A value of type `typ`: a body literal, an edge value, or a built container."""
    head, inner = split_type(typ)
    if head in EDGE_POOLS:
        pool = EDGE_POOLS[head] + literals.get(head, []) * 2  # literals count double
        return rng.choice(pool)
    elem = inner[0] if inner else "int"
    size = rng.choice([0, 1, 2, 3, 4, 5, 8]) if depth == 0 else rng.choice([0, 1, 2, 3])
    if head in ("list", "set"):
        items = [sample_value(elem, rng, literals, depth + 1) for _ in range(size)]
        if head == "set":
            return set(x for x in items if _hashable(x))
        return items
    if head == "tuple":
        return tuple(sample_value(t, rng, literals, depth + 1) for t in (inner or ["int", "int"]))
    if head == "dict":
        key_t, val_t = (inner + ["str", "int"])[:2] if len(inner) < 2 else inner[:2]
        keys = [sample_value(key_t, rng, literals, depth + 1) for _ in range(size)]
        return {k: sample_value(val_t, rng, literals, depth + 1) for k in keys if _hashable(k)}
    return rng.choice(EDGE_POOLS["int"])


def edge_values(typ: str) -> list[Any]:
    """Boundary values of a type: empty, zero, negative, large, unicode, duplicates."""
    head, inner = split_type(typ)
    elem = inner[0] if inner else "int"
    if head == "int":
        return [0, -1, 10**5, -(2**31)]  # large but not enough to make range(n) time out
    if head == "float":
        return [0.0, -0.0, -1e9, 1e-9, 123456.789]
    if head == "str":
        return ["", " ", UNICODE, "aa", "A" * 50, "\t\n"]
    if head == "bytes":
        return [b"", b"\x00" * 4, bytes(range(16))]
    if head in ("list", "set"):
        one = edge_values(elem)[:3]
        if not one:  # elements with no edge cases of their own (None, bool, tuples): just the empty one
            return [set() if head == "set" else []]
        dup = [one[-1], one[-1], one[-1]]
        out = [[], one, dup, list(range(MAX_LEN, 0, -1)) if elem == "int" else one * 3]
        return [set(x) if head == "set" and all(map(_hashable, x)) else x for x in out]
    if head == "dict":
        return [{}]
    return []


def mutate_value(v: Any, rng: random.Random, literals: dict[str, list[Any]]) -> Any:
    """One type-preserving mutation of `v`."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return rng.choice([v + 1, v - 1, -v, v * 2, v // 2, 0, rng.randint(-100, 100)])
    if isinstance(v, float):
        return rng.choice([v + 1.0, v - 0.5, -v, v * 2.0, v / 3.0, 0.0, round(rng.uniform(-100, 100), 3)])
    if isinstance(v, str):
        return _mutate_str(v, rng, literals)
    if isinstance(v, bytes):
        return _mutate_str(v.decode("latin-1"), rng, {}).encode("latin-1", "replace")
    if isinstance(v, list):
        return _mutate_list(v, rng, literals)
    if isinstance(v, tuple):
        if not v:
            return v
        i = rng.randrange(len(v))
        return v[:i] + (mutate_value(v[i], rng, literals),) + v[i + 1 :]
    if isinstance(v, set | frozenset):
        out = _mutate_list(sorted(v, key=repr), rng, literals)
        return type(v)(x for x in out if _hashable(x))
    if isinstance(v, dict):
        return _mutate_dict(v, rng, literals)
    return v


def _mutate_str(s: str, rng: random.Random, literals: dict[str, list[Any]]) -> str:
    i = rng.randrange(len(s) + 1)
    ops = [
        lambda: s[:i] + rng.choice("abcXYZ 0123_,.-" + UNICODE[:3]) + s[i:],  # insert
        lambda: s[:i] + s[i + 1 :],  # delete
        lambda: s[::-1],
        lambda: s + s[:i],  # duplicate a prefix
        lambda: s.upper() if s.lower() == s else s.lower(),
        lambda: s[:i],
        lambda: s + str(rng.choice(literals.get("str", [" "]))),
        lambda: rng.choice(literals.get("str", [s])),
    ]
    return rng.choice(ops)()[: MAX_LEN * 3]


def _mutate_list(xs: list, rng: random.Random, literals: dict[str, list[Any]]) -> list:
    xs = list(xs)
    if not xs:
        return [sample_value("int", rng, literals)]
    i = rng.randrange(len(xs))
    op = rng.randrange(6)
    if op == 0:
        xs[i] = mutate_value(xs[i], rng, literals)
    elif op == 1:
        del xs[i]
    elif op == 2 and len(xs) < MAX_LEN:
        xs.insert(i, xs[rng.randrange(len(xs))])  # a duplicate
    elif op == 3 and len(xs) < MAX_LEN:
        xs.append(mutate_value(xs[-1], rng, literals))
    elif op == 4:
        rng.shuffle(xs)
    else:
        xs.reverse()
    return xs


def _mutate_dict(d: dict, rng: random.Random, literals: dict[str, list[Any]]) -> dict:
    d = dict(d)
    if not d:
        return {sample_value("str", rng, literals): sample_value("int", rng, literals)}
    k = rng.choice(list(d))
    op = rng.randrange(3)
    if op == 0:
        d[k] = mutate_value(d[k], rng, literals)
    elif op == 1:
        del d[k]
    else:
        new = mutate_value(k, rng, literals)
        if _hashable(new):
            d[new] = d[k]
    return d


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def observed_type(values: list[Any]) -> str:
    """The most common type among values a parameter took in inputs that ran."""
    counts: dict[str, int] = {}
    for v in values:
        counts[value_type(v)] = counts.get(value_type(v), 0) + 1
    return max(counts, key=lambda t: counts[t]) if counts else "int"


# ------------------------------------------------------------------------------------ input pools


def _fill(params: list[Param], types: list[str], rng: random.Random, literals: dict[str, list[Any]]) -> Input:
    """One call: positional params in order (a defaulted tail may be left out), keyword-only by name."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    stop = False
    for p, t in zip(params, types):
        if p.has_default and (stop or rng.random() < 0.4):
            stop = stop or p.kind == "pos"  # once a positional default is used, later ones must be too
            continue
        v = sample_value(t, rng, literals)
        if p.kind == "kw":
            kwargs[p.name] = v
        else:
            args.append(v)
    return tuple(args), kwargs


def seed_inputs(
    params: list[Param],
    literals: dict[str, list[Any]],
    examples: list[Input],
    rng: random.Random,
    n: int,
    explore: bool = False,
) -> list[Input]:
    """Doctest examples, then calls built from the ranked candidate types (`explore`: any candidate)."""
    pool: dict[str, Input] = {}
    for inp in examples:
        pool.setdefault(args_source(inp), inp)
    attempts = 0
    while len(pool) < n and attempts < n * 5:
        attempts += 1
        # Mostly the best-ranked type per parameter; sometimes a runner-up, to discover the real one.
        types = [
            rng.choice(p.types) if explore else p.types[0] if rng.random() < 0.6 else rng.choice(p.types[:4])
            for p in params
        ]
        inp = _fill(params, types, rng, literals)
        pool.setdefault(args_source(inp), inp)
    return list(pool.values())


def grow_inputs(
    params: list[Param], ok: list[Input], literals: dict[str, list[Any]], rng: random.Random, n: int
) -> list[Input]:
    """New inputs from ones that ran: one argument mutated at a time, plus edge values of the types seen."""
    if not ok:
        return []
    seen = {args_source(i) for i in ok}
    fresh: dict[str, Input] = {}
    n_pos = max(len(a) for a, _ in ok)
    types = [observed_type([a[i] for a, _ in ok if len(a) > i]) for i in range(n_pos)]
    base = max(ok, key=lambda i: len(i[0]))
    for i, t in enumerate(types):  # edge cases on the widest call
        for v in edge_values(t):
            inp = (base[0][:i] + (v,) + base[0][i + 1 :], base[1])
            if args_source(inp) not in seen:
                fresh.setdefault(args_source(inp), inp)
    attempts = 0
    while len(fresh) < n and attempts < n * 6:
        attempts += 1
        args, kwargs = rng.choice(ok)
        if not args and not kwargs:
            break
        slots = [("a", i) for i in range(len(args))] + [("k", k) for k in kwargs]
        kind, where = rng.choice(slots)
        if kind == "a":
            new: Input = (
                args[:where] + (mutate_value(args[where], rng, literals),) + args[where + 1 :],
                kwargs,
            )
        else:
            new = (args, dict(kwargs, **{where: mutate_value(kwargs[where], rng, literals)}))
        if args_source(new) not in seen:
            fresh.setdefault(args_source(new), new)
    return list(fresh.values())[:n]
