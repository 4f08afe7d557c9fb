"""The template curriculum: valid references, tests that agree with an independent evaluation, the model."""

from __future__ import annotations

import ast
import random

from transformers import AutoModelForCausalLM, AutoTokenizer

from unitrl.records import read_problems
from unitrl.rl.curriculum import OPS, OPS_BY_NAME, generate_problems, render

# Python semantics of each operation, written independently of the code templates.
SEMANTICS = {
    "add": lambda x, k: x + k,
    "sub": lambda x, k: x - k,
    "mul": lambda x, k: x * k,
    "div": lambda x, k: x // k,
    "mod": lambda x, k: x % k,
    "atleast": lambda x, k: max(x, k),
    "atmost": lambda x, k: min(x, k),
    "square": lambda x, k: x * x,
    "double": lambda x, k: 2 * x,
    "negate": lambda x, k: -x,
    "abs": lambda x, k: abs(x),
    "reverse": lambda x, k: list(reversed(x)),
    "sort": lambda x, k: sorted(x),
    "sortdesc": lambda x, k: sorted(x)[::-1],
    "first": lambda x, k: x[:k],
    "dropfirst": lambda x, k: x[k:],
    "last": lambda x, k: x[len(x) - k :] if k <= len(x) else x,
    "above": lambda x, k: [v for v in x if v > k],
    "below": lambda x, k: [v for v in x if v < k],
    "addeach": lambda x, k: [v + k for v in x],
    "subeach": lambda x, k: [v - k for v in x],
    "doubleeach": lambda x, k: [2 * v for v in x],
    "squareeach": lambda x, k: [v * v for v in x],
    "sum": lambda x, k: sum(x),
    "len": lambda x, k: len(x),
    "largest": lambda x, k: max(x) if x else 0,
    "smallest": lambda x, k: min(x) if x else 0,
    "countabove": lambda x, k: sum(v > k for v in x),
    "countbelow": lambda x, k: sum(v < k for v in x),
}


def test_29_ops_with_type_consistent_partners():
    assert len(OPS) == 29 and set(SEMANTICS) == set(OPS_BY_NAME)
    for op in OPS:
        partner = OPS_BY_NAME[op.partner]
        assert (partner.src, partner.dst) == (op.src, op.dst), op.name


def test_references_and_noisy_programs_parse():
    rng = random.Random(0)
    for p in generate_problems(300, seed=1, prefix="t"):
        ast.parse(p.reference)
        ast.parse(render(p.meta["src"], [tuple(c) for c in p.meta["chain"]], noise=0.5, rng=rng)[1])


def test_synthesized_tests_match_independent_semantics(curriculum):
    problems = read_problems(curriculum["heldout"])
    assert len(problems) >= 14  # a problem is kept with >= 4 of its 5 tests
    for p in problems:
        assert 4 <= len(p.tests) <= 5
        for test in p.tests:
            call, expected = test[len("assert f(") :].split(") == ", 1)
            x = ast.literal_eval(call)
            for name, k in p.meta["chain"]:
                x = SEMANTICS[name](x, k)
            assert x == ast.literal_eval(expected), (p.prompt, test)


def test_splits_are_disjoint(curriculum):
    prompts = [{p.prompt for p in read_problems(curriculum[s])} for s in ("train", "rl", "heldout")]
    assert not (prompts[0] & prompts[1]) and not (prompts[0] & prompts[2]) and not (prompts[1] & prompts[2])


def test_model_round_trips_code(curriculum):
    tok = AutoTokenizer.from_pretrained(curriculum["model"])
    model = AutoModelForCausalLM.from_pretrained(curriculum["model"])
    ref = read_problems(curriculum["train"])[0].reference
    ids = tok(ref, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == ref
    assert 3e5 < sum(p.numel() for p in model.parameters()) < 6e5
