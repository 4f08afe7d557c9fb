"""Seed inputs from source and type-aware mutation (pure: nothing runs)."""

from __future__ import annotations

import ast
import random

from unitrl.inputs import generate as inp
from unitrl.inputs import mutate

SRC = '''
def repeat(text: str, n: int = 2, *, sep: str = ",") -> str:
    """Repeat text.

    >>> repeat("ab", 3)
    'ab,ab,ab'
    """
    if n > 100:
        return ""
    return sep.join([text] * n)

def untyped(values, k):
    out = []
    for v in values:
        if v > k:
            out.append(v)
    return out

def textual(s, width=10):
    return s.startswith("x") and len(s) < width
'''


def _func(name: str) -> ast.FunctionDef:
    f = inp.find_function(SRC, name)
    assert f is not None
    return f


def test_annotations_defaults_usage_and_names():
    ann = {
        "int": "int",
        "Optional[str]": "str",
        "list[str]": "list[str]",
        "dict[str, list[int]]": "dict[str,list[int]]",
        "tuple[int, str]": "tuple[int,str]",
        "int | None": "int",
        "Foo": None,
    }
    for text, want in ann.items():
        assert inp.annotation_type(ast.parse(text, mode="eval").body) == want, text
    params = {p.name: p for p in inp.function_params(_func("repeat"))}
    assert params["text"].types[0] == "str" and params["n"].types[0] == "int"
    assert params["n"].has_default and params["n"].default == 2 and params["sep"].kind == "kw"
    untyped = {p.name: p.types for p in inp.function_params(_func("untyped"))}
    assert untyped["values"][0] == "list[int]"
    textual = {p.name: p.types for p in inp.function_params(_func("textual"))}
    assert textual["s"][0] == "str" and textual["width"][0] == "int"


def test_literals_and_doctest_examples():
    lits = inp.body_literals(_func("repeat"))
    assert {100, 99, 101} <= set(lits["int"]) and "" in lits["str"]
    assert inp.doctest_args(_func("repeat"), "repeat") == [(("ab", 3), {})]
    assert inp.args_source((("ab", [1, 2]), {"sep": "-"})) == "'ab', [1, 2], sep='-'"


def test_seed_inputs_start_with_doctests_and_respect_defaults():
    func = _func("repeat")
    params = inp.function_params(func)
    seeds = mutate.seed_inputs(
        params, inp.body_literals(func), inp.doctest_args(func, "repeat"), random.Random(0), 30
    )
    assert seeds[0] == (("ab", 3), {}) and len(seeds) == 30
    assert len({inp.args_source(s) for s in seeds}) == 30
    for args, kwargs in seeds:
        assert 1 <= len(args) <= 2 and set(kwargs) <= {"sep"}
        # Every source string is a valid call.
        ast.parse(f"repeat({inp.args_source((args, kwargs))})")


def test_mutation_keeps_types():
    rng = random.Random(1)
    for value in [5, -2.5, "hello", b"ab", [1, 2, 3], ("a", 1), {"k": 1}, {1, 2}, True, []]:
        for _ in range(30):
            new = mutate.mutate_value(value, rng, {})
            assert type(new) is type(value), (value, new)
            if isinstance(value, tuple):
                assert len(new) == len(value) and [type(x) for x in new] == [type(x) for x in value]


def test_grow_inputs_mutates_one_argument_and_adds_edges():
    params = inp.function_params(_func("untyped"))
    ok = [(([3, 1, 2], 1), {}), (([5], 0), {})]
    grown = mutate.grow_inputs(params, ok, {}, random.Random(0), 25)
    sources = {inp.args_source(g) for g in grown}
    assert len(grown) == 25 and not sources & {inp.args_source(o) for o in ok}
    assert "[], 1" in sources  # the empty edge case of the list argument
    assert all(isinstance(a[0], list) and isinstance(a[1], int) for a, _ in grown)


def test_split_type_and_edges():
    assert mutate.split_type("dict[str,list[int]]") == ("dict", ["str", "list[int]"])
    edges = mutate.edge_values("list[int]")
    assert [] in edges and any(len(e) == 3 and len(set(e)) == 1 for e in edges)
    assert "" in mutate.edge_values("str") and 0 in mutate.edge_values("int")


def test_grow_inputs_reorders_arguments_of_one_type():
    """(3, 4, 5) is a right triangle only with the hypotenuse last; the other orders must be tried too."""
    tree = ast.parse("def right(a, b, c):\n    return c * c == a * a + b * b\n").body[0]
    params = inp.function_params(tree)
    grown = mutate.grow_inputs(params, [((3, 4, 5), {})], {}, random.Random(0), 60)
    sources = {inp.args_source(g) for g in grown}
    others = {"3, 5, 4", "4, 3, 5", "4, 5, 3", "5, 3, 4", "5, 4, 3"}
    assert len(others & sources) >= 2, sources & others


def test_docstring_values_become_literals():
    """A docstring that shows its inputs as data (not as calls) still lends their values to the pool."""
    tree = ast.parse(
        "def do_algebra(operator, operand):\n"
        "    \"\"\"operator['+', '*', '-'] and array = [2, 3, 4, 5] give 2 + 3 * 4 - 5 (see above).\"\"\"\n"
        "    return 0\n"
    )
    lits = inp.body_literals(tree)
    assert {"+", "*", "-"} <= set(lits["str"]) and {2, 3, 4, 5} <= set(lits["int"])
    assert inp.docstring_values(ast.parse('def f():\n    """f(x) or (see [the] notes) {x"""\n')) == []
