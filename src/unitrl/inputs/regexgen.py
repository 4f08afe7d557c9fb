"""Strings that match a regular expression, for parameters the code matches against a pattern.

A function that tests `IPV4_RE.search(text)` is only exercised by a `text` the pattern matches, and
random strings almost never do. We walk the pattern's parse tree (the `re` module's own parser) and
build one string from it: literals as written, a random member of each class or category, a small
random repeat count within each repeat's bounds, one random branch of each alternation. Lookarounds,
anchors and back-references add nothing (a back-reference repeats its group's text when it can).
Anything unexpected gives up (None): this is a source of good guesses, never of tests by itself.
"""

from __future__ import annotations

import random

try:  # Python 3.11+
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as parser  # type: ignore[no-redef]

_CATEGORIES = {
    C.CATEGORY_DIGIT: "0123456789",
    C.CATEGORY_NOT_DIGIT: "abcXYZ _-.",
    C.CATEGORY_SPACE: " \t",
    C.CATEGORY_NOT_SPACE: "abcXYZ019_-.",
    C.CATEGORY_WORD: "abcxyzXYZ0129_",
    C.CATEGORY_NOT_WORD: " -.,;:!",
}
_ANY = "abcxyzABC0123 _-.,"
MAX_REPEAT = 4


def sample(pattern: str, rng: random.Random) -> str | None:
    """One string the pattern (most likely) matches, or None when it cannot be parsed or built."""
    try:
        tree = parser.parse(pattern)
        groups: dict[int, str] = {}
        return _build(list(tree), rng, groups, 0)
    except Exception:  # noqa: BLE001 - any odd pattern: no guess
        return None


def _build(items: list, rng: random.Random, groups: dict[int, str], depth: int) -> str:
    if depth > 20:
        raise ValueError("pattern nested too deeply")
    out = []
    for op, av in items:
        out.append(_one(op, av, rng, groups, depth))
    return "".join(out)


def _one(op, av, rng: random.Random, groups: dict[int, str], depth: int) -> str:  # noqa: ANN001
    if op is C.LITERAL:
        return chr(av)
    if op is C.NOT_LITERAL:
        return next(c for c in _ANY if ord(c) != av)
    if op is C.ANY:
        return rng.choice(_ANY)
    if op is C.IN:
        return _in(av, rng)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av
        n = rng.randint(lo, min(hi, lo + MAX_REPEAT))
        return "".join(_build(list(sub), rng, groups, depth + 1) for _ in range(n))
    if op is C.SUBPATTERN:
        group, _, _, sub = av
        text = _build(list(sub), rng, groups, depth + 1)
        if group:
            groups[group] = text
        return text
    if op is C.BRANCH:
        _, branches = av
        return _build(list(rng.choice(branches)), rng, groups, depth + 1)
    if op is C.GROUPREF:
        return groups.get(av, "")
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return ""
    raise ValueError(f"unsupported regex node {op}")


def _in(av: list, rng: random.Random) -> str:
    if av and av[0][0] is C.NEGATE:
        excluded = {chr(v) for op, v in av[1:] if op is C.LITERAL}
        return next(c for c in _ANY if c not in excluded)
    op, v = rng.choice(av)
    if op is C.LITERAL:
        return chr(v)
    if op is C.RANGE:
        return chr(rng.randint(v[0], v[1]))
    if op is C.CATEGORY:
        return rng.choice(_CATEGORIES.get(v, _ANY))
    raise ValueError(f"unsupported class member {op}")
