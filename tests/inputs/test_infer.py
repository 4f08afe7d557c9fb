"""Usage-based inference of parameter shapes and the generation built on it (pure: nothing runs)."""

from __future__ import annotations

import ast
import random
import re

from unitrl.inputs import generate as inp
from unitrl.inputs import mutate, regexgen
from unitrl.inputs.infer import infer_shapes
from unitrl.inputs.literals import module_constants

SRC = r"""
import re

S_IFDIR = 0o040000
IPV4_RE = re.compile(r"\.\d+$")

def S_IFMT(mode):
    return mode & 0o170000

def S_ISDIR(mode):
    return S_IFMT(mode) == S_IFDIR

def _format_sign(is_negative, spec):
    if is_negative:
        return '-'
    elif spec['sign'] in ' +':
        return spec['sign']
    return ''

def test_jpeg(h, f):
    if h[6:10] in (b'JFIF', b'Exif'):
        return 'jpeg'
    elif h[:4] == b'\xff\xd8\xff\xdb':
        return 'jpeg'

def _is_dunder(name):
    return len(name) > 4 and name[:2] == name[-2:] == '__' and name[2] != '_'

def is_hdn(text):
    return not IPV4_RE.search(text)

def guess(environ):
    return 'https' if environ.get('HTTPS') in ('yes', 'on') else 'http'

def kinds(x, y):
    if isinstance(x, (list, tuple)):
        return len(x)
    return y.upper()

def hinted(flag: bool | str, n: "int | None" = None):
    return flag
"""
TREE = ast.parse(SRC)
FUNCS = {n.name: n for n in TREE.body if isinstance(n, ast.FunctionDef)}
CONSTS = module_constants(TREE)


def shapes(name: str) -> dict:
    return infer_shapes(FUNCS[name], FUNCS, consts=CONSTS)


def params(name: str) -> dict[str, inp.Param]:
    return {p.name: p for p in inp.function_params(FUNCS[name], FUNCS, [], CONSTS)}


def test_constant_keys_make_dicts_with_those_keys():
    spec = shapes("_format_sign")["spec"]
    assert spec.heads()[0] == "dict" and set(spec.keys) == {"sign"}
    assert spec.keys["sign"].heads()[0] == "str" and {" ", "+"} <= set(spec.keys["sign"].literals)
    assert shapes("guess")["environ"].keys["HTTPS"].literals == ["yes", "on"]  # .get('HTTPS') is a key too
    rng = random.Random(0)
    values = [mutate.sample_value("dict[str,str]", rng, {}, shape=spec) for _ in range(40)]
    assert sum("sign" in v and v["sign"] in (" ", "+") for v in values) >= 5


def test_slices_and_prefixes_place_literals_at_their_offset():
    h = shapes("test_jpeg")["h"]
    assert h.heads()[0] == "bytes" and (6, b"JFIF") in h.embeds and (0, b"\xff\xd8\xff\xdb") in h.embeds
    rng = random.Random(1)
    made = [mutate.sample_value("bytes", rng, {}, shape=h) for _ in range(60)]
    assert any(v[6:10] in (b"JFIF", b"Exif") for v in made) and any(
        v[:4] == b"\xff\xd8\xff\xdb" for v in made
    )
    name = shapes("_is_dunder")["name"]
    assert (0, "__") in name.embeds and (-1, "__") in name.embeds  # a == b == '__' chains the literal


def test_module_constants_helpers_and_regexes():
    assert CONSTS["S_IFDIR"] == 0o040000 and CONSTS["IPV4_RE"].pattern == r"\.\d+$"
    mode = shapes("S_ISDIR")["mode"]  # through the helper S_IFMT: a bitmask makes an int
    assert mode.heads()[0] == "int" and 0o170000 in mode.literals
    text = shapes("is_hdn")["text"]
    [(_, rx)] = text.embeds
    rng = random.Random(2)
    samples = [regexgen.sample(rx.pattern, rng) for _ in range(10)]
    assert all(re.search(rx.pattern, s) for s in samples)


def test_isinstance_and_methods_vote_and_hints_decide_alone():
    k = shapes("kinds")
    assert set(k["x"].heads()[:2]) == {"list", "tuple"} and k["y"].heads()[0] == "str"
    p = params("hinted")
    assert p["flag"].hinted and p["flag"].types == ["bool", "str"]  # never a list or any fallback
    assert p["n"].types[0] == "int" and "list[int]" not in p["n"].types
    rng = random.Random(3)
    for _ in range(50):
        types = mutate.pick_types(list(p.values()), rng, explore=True)
        assert types[0] in ("bool", "str")


def test_name_hints_need_whole_words_for_short_fragments():
    assert (
        inp.name_types("spec") == [] and inp.name_types("s") == ["str"] and inp.name_types("max_n") == ["int"]
    )


def test_regex_samples_match_their_pattern():
    rng = random.Random(4)
    for pattern in [r"^(\w+)=(\w+)$", r"[A-Z][a-z]+ \d{1,2}, \d{4}", r"(?P<x>ab|cd)+(?P=x)", r"[^abc]x*?"]:
        for _ in range(5):
            s = regexgen.sample(pattern, rng)
            assert s is not None and re.search(pattern, s), (pattern, s)
    assert regexgen.sample("(", rng) is None


def test_test_calls_and_parse_args():
    tests = ["assert f(1, [2], key='x') == 3", "assert f(g(1)) == 2", "x = 1"]
    assert inp.test_calls(tests, "f") == [("1, [2], key='x'", ((1, [2]), {"key": "x"}))]
    assert inp.parse_args("1, (2, 3), k=None") == ((1, (2, 3)), {"k": None})
    assert inp.parse_args("len") is None and inp.parse_args("1, *x") is None


def test_names_bring_their_meaningful_values():
    """A codec name is not any string and a month is 1..12: the name's values join the literals."""
    func = ast.parse("def nts(s, encoding, errors, month):\n    return s.decode(encoding, errors)\n").body[0]
    params = {p.name: p for p in inp.function_params(func)}
    assert "utf-8" in params["encoding"].shape.literals and "strict" in params["errors"].shape.literals
    assert set(range(1, 13)) <= set(params["month"].shape.literals)
    assert not params["s"].shape.literals
