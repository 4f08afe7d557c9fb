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
import re
from typing import Any

from unitrl.inputs import regexgen
from unitrl.inputs.generate import EDGE_POOLS, OBJECTS, Expr, Input, Param, args_source, value_type
from unitrl.inputs.infer import Shape
from unitrl.inputs.literals import Regex

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


def sample_value(
    typ: str, rng: random.Random, literals: dict[str, list[Any]], depth: int = 0, shape: Shape | None = None
) -> Any:
    """A value of type `typ`: a literal the code uses, an edge value, or a built container; with a shape
    (how the body uses the parameter), often one built to match it: a dict with the keys it reads, a
    string holding the text it looks for at the place it looks."""
    head, inner = split_type(typ)
    if shape is not None and depth < 3:
        fitted = _fitted(head, inner, rng, literals, depth, shape)
        if fitted is not _NONE:
            return fitted
    if head in EDGE_POOLS:
        pool = EDGE_POOLS[head] + literals.get(head, []) * 2  # literals count double
        return rng.choice(pool)
    elem = inner[0] if inner else "int"
    sub = shape.elem if shape is not None else None
    size = rng.choice([0, 1, 2, 3, 4, 5, 8]) if depth == 0 else rng.choice([0, 1, 2, 3])
    if head in ("list", "set"):
        items = [sample_value(elem, rng, literals, depth + 1, sub) for _ in range(size)]
        if head == "list" and elem.startswith("list[") and items and rng.random() < 0.6:
            width = len(items) if rng.random() < 0.5 else max(1, len(items[0]))  # a square or a rectangle
            items = [(row * width + [0] * width)[:width] if row else [0] * width for row in items]
        if head == "set":
            return set(x for x in items if _hashable(x))
        return items
    if head == "tuple":
        return tuple(sample_value(t, rng, literals, depth + 1, sub) for t in (inner or ["int", "int"]))
    if head == "dict":
        key_t, val_t = (inner + ["str", "int"])[:2] if len(inner) < 2 else inner[:2]
        keys = [sample_value(key_t, rng, literals, depth + 1) for _ in range(size)]
        return {k: sample_value(val_t, rng, literals, depth + 1, sub) for k in keys if _hashable(k)}
    if head == "none":
        return None
    return rng.choice(EDGE_POOLS["int"])


_NONE = object()  # "no fitted value": fall back to the plain pools


def _fitted(
    head: str, inner: list[str], rng: random.Random, literals: dict[str, list[Any]], depth: int, shape: Shape
) -> Any:
    """A value built from the shape, or _NONE (often: plain values keep the search broad)."""
    own = [v for v in shape.literals if value_type(v) == head or (head == "float" and type(v) is int)]
    if own and rng.random() < 0.3:
        v = rng.choice(own)
        return float(v) if head == "float" else v
    if head in ("str", "bytes") and shape.embeds and rng.random() < 0.5:
        return _embedded(head, rng, literals, shape)
    placed = {
        k: sub.literals for k, sub in shape.keys.items() if isinstance(k, int) and k >= 0 and sub.literals
    }
    if head in ("str", "bytes", "list") and placed and rng.random() < 0.5:
        return _positional(head, rng, placed, shape.min_len)
    if head == "str" and shape.seps and rng.random() < 0.4:  # words it splits on, joined by the separator
        words = [w for w in literals.get("str", []) if w and w not in shape.seps] or EDGE_POOLS["str"][1:]
        return rng.choice(shape.seps).join(rng.choice(words) for _ in range(rng.choice([1, 2, 3, 5])))
    chars = [c for c in (shape.elem.literals if shape.elem else []) if isinstance(c, str) and c]
    if head == "str" and chars and rng.random() < 0.4:  # sprinkle the characters the code looks for
        text = list(rng.choice(EDGE_POOLS["str"]))
        for _ in range(rng.choice([1, 2, 3])):
            text.insert(rng.randrange(len(text) + 1), rng.choice(chars))
        return "".join(text)
    if head == "dict" and shape.keys and rng.random() < 0.8:
        out = {}
        for k, sub in shape.keys.items():
            if isinstance(k, str) and rng.random() < 0.85:
                types = [sub.type_string(h) for h in sub.heads() if h != "none"] or [
                    inner[1] if len(inner) > 1 else "int"
                ]
                out[k] = sample_value(rng.choice(types[:2]), rng, literals, depth + 1, sub)
        if rng.random() < 0.2:
            out[sample_value("str", rng, literals, depth + 1)] = sample_value("int", rng, literals, depth + 1)
        return out
    if head in ("list", "tuple") and shape.min_len and rng.random() < 0.6:
        elem = inner[0] if inner else "int"
        n = shape.min_len + rng.choice([0, 0, 1, 2, 4])
        return (list if head == "list" else tuple)(
            sample_value(elem, rng, literals, depth + 1, shape.keys.get(i, shape.elem)) for i in range(n)
        )
    return _NONE


def _positional(head: str, rng: random.Random, placed: dict[int, list[Any]], min_len: int) -> Any:
    """A sequence with, at each position the code indexes with a constant, a value it compares with
    there (`h[0] == ord(b'P') and h[1] in b'14'`)."""
    n = max(min_len, max(placed) + 1) + rng.choice([0, 0, 1, 3])
    items: list[Any] = [None] * n
    for i, lits in placed.items():
        items[i] = rng.choice(lits)
    if head == "list":
        fill = next((v for v in items if v is not None), 0)
        return [fill if v is None else v for v in items]
    if head == "bytes":
        out = b""
        for v in items:
            v = rng.randrange(97, 123) if v is None else v
            out += bytes([v % 256]) if isinstance(v, int) else v if isinstance(v, bytes) else str(v).encode()
        return out
    return "".join(rng.choice("abcxyz") if v is None else chr(v % 0x110000) if isinstance(v, int) else str(v)
                   for v in items)  # fmt: skip


def _embedded(head: str, rng: random.Random, literals: dict[str, list[Any]], shape: Shape) -> Any:
    """A string (or bytes) holding one or two of the literals the code looks for, where it looks (or
    one a pattern it matches against matches)."""
    want = [(o, v) for o, v in shape.embeds if isinstance(v, str if head == "str" else bytes)]
    if head == "str":
        for o, v in shape.embeds:
            if isinstance(v, Regex) and (text := regexgen.sample(v.pattern, rng)) is not None:
                want.append((o, text))
    if not want:
        return _NONE
    filler = (
        (lambda n: "".join(rng.choice("abcxyz019 _-.") for _ in range(n)))
        if head == "str"
        else (lambda n: bytes(rng.randrange(256) for _ in range(n)))
    )
    text = filler(rng.choice([0, 1, 3, 8]))
    for offset, lit in rng.sample(want, min(len(want), rng.choice([1, 1, 2]))):
        if offset is None:
            cut = rng.randrange(len(text) + 1)
            text = text[:cut] + lit + text[cut:]
        elif offset == -1:
            text = text + lit
        else:
            text = (text + filler(offset))[:offset] + lit + text[offset:]
    return text


def edge_values(typ: str) -> list[Any]:
    """Boundary values of a type: empty, zero, negative, large, unicode, duplicates."""
    head, inner = split_type(typ)
    elem = inner[0] if inner else "int"
    if head == "int":
        return [0, -1, 10**5, -(2**31)]  # large but not enough to make range(n) time out
    if head == "float":
        return [0.0, -0.0, -1e9, 1e-9, 123456.789]
    if head == "str":
        return ["", " ", UNICODE, "aa", "A" * 50, "\t\n", "a\udc80b"]  # the last: a lone surrogate
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


def mutate_value(
    v: Any, rng: random.Random, literals: dict[str, list[Any]], shape: Shape | None = None
) -> Any:
    """One type-preserving mutation of `v` (with a shape, sometimes towards what the code looks for)."""
    if shape is not None and rng.random() < 0.25:
        toward = _toward_shape(v, rng, literals, shape)
        if toward is not _NONE and type(toward) is type(v):
            return toward
    if isinstance(v, bool):
        return not v
    if isinstance(v, Expr):
        return rng.choice(OBJECTS)
    if isinstance(v, int):
        return rng.choice([v + 1, v - 1, -v, v * 2, v // 2, 0, rng.randint(-100, 100)])
    if isinstance(v, float):
        return rng.choice([v + 1.0, v - 0.5, -v, v * 2.0, v / 3.0, 0.0, round(rng.uniform(-100, 100), 3)])
    if isinstance(v, str):
        return _mutate_str(v, rng, literals)
    if isinstance(v, bytes):
        return _mutate_str(v.decode("latin-1"), rng, {}).encode("latin-1", "replace")
    if isinstance(v, list):
        return _mutate_list(v, rng, literals, shape.elem if shape else None)
    if isinstance(v, tuple):
        if not v:
            return v
        i = rng.randrange(len(v))
        return v[:i] + (mutate_value(v[i], rng, literals),) + v[i + 1 :]
    if isinstance(v, set | frozenset):
        out = _mutate_list(sorted(v, key=repr), rng, literals, None)
        return type(v)(x for x in out if _hashable(x))
    if isinstance(v, dict):
        return _mutate_dict(v, rng, literals, shape)
    return v


def _toward_shape(v: Any, rng: random.Random, literals: dict[str, list[Any]], shape: Shape) -> Any:
    if isinstance(v, str) and shape.seps and rng.random() < 0.5:  # words: add one, or reorder them
        sep = rng.choice(shape.seps)
        words = [w for w in v.split(sep) if w]
        word = rng.choice([w for w in literals.get("str", []) if w and w not in shape.seps] or ["a"])
        rng.shuffle(words)
        return rng.choice([v + sep + word, word + sep + v, sep.join(words)])
    if isinstance(v, str | bytes) and shape.embeds:
        lits = [x for o, x in shape.embeds if type(x) is type(v)]
        if lits:
            lit = rng.choice(lits)
            return rng.choice([lit + v, v + lit, v[: len(v) // 2] + lit + v[len(v) // 2 :]])
    if isinstance(v, dict) and shape.keys:
        missing = [k for k in shape.keys if isinstance(k, str) and k not in v]
        if missing:
            k = rng.choice(missing)
            types = [shape.keys[k].type_string(h) for h in shape.keys[k].heads() if h != "none"] or ["int"]
            return dict(v, **{k: sample_value(types[0], rng, literals, 1, shape.keys[k])})
    return _fitted(value_type(v).split("[")[0], [], rng, literals, 0, shape)


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
        lambda: str(rng.choice(literals.get("str", [s]))) + s,
        lambda: rng.choice(literals.get("str", [s])),
        lambda: s[:i] + _same_class(s[i], rng) + s[i + 1 :] if i < len(s) else s + "0",  # 03 -> 07, a -> q
        lambda: _number_in_text(s, rng, literals),
        lambda: _number_in_text(s, rng, literals),
        lambda: s[:i] + s[i : i + 1] * rng.choice([2, 3, 4]) + s[i:],  # a run of one character
    ]
    return rng.choice(ops)()[: MAX_LEN * 3]


def _number_in_text(s: str, rng: random.Random, literals: dict[str, list[Any]]) -> str:
    """One number written in the text replaced by a nearby one or by an integer the code compares with
    ('03-11-2000' -> '03-31-2000'), keeping its zero padding."""
    runs = [m for m in re.finditer(r"\d+", s)]
    if not runs:
        return s + str(rng.choice(literals.get("int", [0]) or [0]))
    m = rng.choice(runs)
    v = int(m.group())
    new = rng.choice([v + 1, v - 1, v * 2, v // 2, 0] + [x for x in literals.get("int", []) if x >= 0] * 2)
    return s[: m.start()] + str(max(new, 0)).zfill(len(m.group())) + s[m.end() :]


def _same_class(c: str, rng: random.Random) -> str:
    """Another character of the same kind: a digit for a digit, a letter of the same case for a letter."""
    if c.isdigit():
        return rng.choice("0123456789")
    if c.isalpha():
        return rng.choice("abcdefghijklmnopqrstuvwxyz" if c.islower() else "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return rng.choice(" _-.,;:/")


def _mutate_list(xs: list, rng: random.Random, literals: dict[str, list[Any]], elem: Shape | None) -> list:
    xs = list(xs)
    if not xs:
        return [sample_value("int", rng, literals, 1, elem)]
    i = rng.randrange(len(xs))
    op = rng.randrange(6)
    if op == 0:
        xs[i] = mutate_value(xs[i], rng, literals, elem)
    elif op == 1:
        del xs[i]
    elif op == 2 and len(xs) < MAX_LEN:
        xs.insert(i, xs[rng.randrange(len(xs))])  # a duplicate
    elif op == 3 and len(xs) < MAX_LEN:
        xs.append(mutate_value(xs[-1], rng, literals, elem))
    elif op == 4:
        rng.shuffle(xs)
    else:
        xs.reverse()
    return xs


def _mutate_dict(d: dict, rng: random.Random, literals: dict[str, list[Any]], shape: Shape | None) -> dict:
    d = dict(d)
    if not d:
        return {sample_value("str", rng, literals): sample_value("int", rng, literals)}
    k = rng.choice(list(d))
    op = rng.randrange(3)
    if op == 0:
        sub = shape.keys.get(k) if shape is not None else None
        d[k] = mutate_value(d[k], rng, literals, sub)
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
        if p.kind == "var":
            if not stop:
                args += [sample_value(t, rng, literals, shape=p.shape.elem if p.shape else None)
                         for _ in range(rng.choice([0, 1, 2, 2, 3, 4]))]  # fmt: skip
            continue
        if p.has_default and (stop or rng.random() < 0.4 or t == "none"):
            stop = stop or p.kind == "pos"  # once a positional default is used, later ones must be too
            continue
        if stop:  # a positional parameter after a left-out default cannot be given by position
            kwargs[p.name] = sample_value(t, rng, literals, shape=p.shape)
            continue
        v = sample_value(t, rng, literals, shape=p.shape)
        if p.kind == "kw":
            kwargs[p.name] = v
        else:
            args.append(v)
    return tuple(args), kwargs


def pick_types(params: list[Param], rng: random.Random, explore: bool = False) -> list[str]:
    """One type per parameter: mostly the best-ranked, sometimes a runner-up (to find the real one);
    `explore` draws from every candidate. A hinted parameter only ever gets its hinted types."""
    out = []
    for p in params:
        if p.hinted:
            real = [t for t in p.types if t != "none"] or p.types
            out.append(rng.choice(real) if rng.random() < 0.9 else rng.choice(p.types))
        elif explore:
            out.append(rng.choice(p.types))
        else:
            out.append(p.types[0] if rng.random() < 0.6 else rng.choice(p.types[:4]))
    return out


def seed_inputs(
    params: list[Param],
    literals: dict[str, list[Any]],
    examples: list[Input],
    rng: random.Random,
    n: int,
    explore: bool = False,
) -> list[Input]:
    """Doctest examples and existing tests' calls, then calls built from the ranked candidate types."""
    pool: dict[str, Input] = {}
    for inp in examples:
        pool.setdefault(args_source(inp), inp)
    attempts = 0
    while len(pool) < n and attempts < n * 5:
        attempts += 1
        inp = _fill(params, pick_types(params, rng, explore), rng, literals)
        pool.setdefault(args_source(inp), inp)
    return list(pool.values())


def grow_inputs(
    params: list[Param],
    ok: list[Input],
    literals: dict[str, list[Any]],
    rng: random.Random,
    n: int,
    weights: list[float] | None = None,
    seen: set[str] | None = None,
) -> list[Input]:
    """New inputs from ones that ran: one argument mutated at a time (parents drawn by `weights`: the
    inputs that reached something new), plus edge values of the types seen."""
    if not ok:
        return []
    seen = {args_source(i) for i in ok} | (seen or set())
    fresh: dict[str, Input] = {}
    n_pos = max(len(a) for a, _ in ok)
    types = [observed_type([a[i] for a, _ in ok if len(a) > i]) for i in range(n_pos)]
    base = max(ok, key=lambda i: len(i[0]))
    for i, t in enumerate(types):  # edge cases on the widest call
        for v in edge_values(t):
            inp = (base[0][:i] + (v,) + base[0][i + 1 :], base[1])
            if args_source(inp) not in seen:
                fresh.setdefault(args_source(inp), inp)
    shapes = {p.name: p.shape for p in params}
    pos_shapes = [p.shape for p in params if p.kind == "pos"]
    attempts = 0
    while len(fresh) < n and attempts < n * 6:
        attempts += 1
        args, kwargs = rng.choices(ok, weights=weights)[0] if weights else rng.choice(ok)
        if not args and not kwargs:
            break
        new: Input = (args, kwargs)
        if len(args) > 1 and rng.random() < 0.1:  # arguments of one type in another order, nothing else
            permuted = (_permute(args, rng), kwargs)
            if args_source(permuted) not in seen:
                fresh.setdefault(args_source(permuted), permuted)
                continue
        if len(args) > 1 and rng.random() < 0.15:
            new = (_splice(args, rng), kwargs)
        for _ in range(rng.choice([1, 1, 1, 2])):  # mostly one argument, sometimes two
            slots = [("a", i) for i in range(len(new[0]))] + [("k", k) for k in new[1]]
            kind, where = rng.choice(slots)
            if kind == "a":
                shape = pos_shapes[where] if where < len(pos_shapes) else None
                a = new[0]
                new = (a[:where] + (mutate_value(a[where], rng, literals, shape),) + a[where + 1 :], new[1])
            else:
                new = (
                    new[0],
                    dict(new[1], **{where: mutate_value(new[1][where], rng, literals, shapes.get(where))}),
                )
        if args_source(new) not in seen:
            fresh.setdefault(args_source(new), new)
    return list(fresh.values())[:n]


def _permute(args: tuple, rng: random.Random) -> tuple:
    """Two arguments of the same type swapped, or all of them rotated: `(3, 4, 5)` -> `(5, 3, 4)`. Which
    argument plays which role (the hypotenuse, the larger bound, the haystack) is what such calls test."""
    groups: dict[type, list[int]] = {}
    for i, a in enumerate(args):
        groups.setdefault(type(a), []).append(i)
    movable = [g for g in groups.values() if len(g) > 1]
    if not movable:
        return args
    group = rng.choice(movable)
    if len(group) > 2 and rng.random() < 0.5:
        order = group[1:] + group[:1]  # rotate
    else:
        i, j = rng.sample(group, 2)
        order = [j if k == i else i if k == j else k for k in group]
    out = list(args)
    for dst, src in zip(group, order):
        out[dst] = args[src]
    return tuple(out)


def _splice(args: tuple, rng: random.Random) -> tuple:
    """One argument set to a piece of another (`c == char`, `x in xs`: relations between arguments)."""
    i, j = rng.sample(range(len(args)), 2)
    src, dst = args[i], args[j]
    if isinstance(src, str | bytes | list | tuple) and src:
        k = rng.randrange(len(src))
        piece = src[k : k + rng.choice([1, 1, 2, 3])]
        if isinstance(dst, str | bytes | list | tuple) and type(dst) is type(piece):
            new = piece
        else:
            new = src[k]  # an element: a character, a byte (an int) or an item
    elif isinstance(src, int | float | str) and not isinstance(src, bool):
        new = src
    else:
        return args
    if type(new) is not type(dst):  # a splice never changes an argument's type
        return args
    return args[:j] + (new,) + args[j + 1 :]
