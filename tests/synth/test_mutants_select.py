"""Mutant generation and evalplus-mini greedy selection (pure)."""

from __future__ import annotations

import ast

from unitrl.synth.mutants import make_mutants
from unitrl.synth.select import greedy_cover, kill_sets

REF = '''def count_above(xs, k):
    """Count items above k."""
    n = 0
    for x in xs:
        if x > k and x % 2 == 0:
            n += 1
    return n
'''


def test_each_mutant_changes_one_site_and_compiles():
    mutants = make_mutants(REF, max_mutants=50)
    ops = {op for op, _ in mutants}
    assert {
        "comparison",
        "constant+1",
        "constant-1",
        "arithmetic",
        "boolean",
        "negate-condition",
        "return-none",
    } <= ops
    original = ast.unparse(ast.parse(REF))
    texts = [m for _, m in mutants]
    assert len(set(texts)) == len(texts) and original not in texts
    for text in texts:
        compile(text, "<m>", "exec")
        assert '"""Count items above k."""' in text  # docstrings are never mutated
        # exactly one line differs from the original
        diff = [a for a, b in zip(original.splitlines(), text.splitlines()) if a != b]
        assert len(diff) == 1


def test_mutants_are_seeded_and_capped():
    assert make_mutants(REF, 5, seed=1) == make_mutants(REF, 5, seed=1)
    assert len(make_mutants(REF, 5)) == 5
    assert make_mutants("def broken(:\n", 5) == []


def test_greedy_cover_by_hand():
    # tests kill: t0 {0,1}, t1 {1,2,3}, t2 {3}, t3 {4}, t4 {}
    kills = [{0, 1}, {1, 2, 3}, {3}, {4}, set()]
    assert greedy_cover(kills) == [1, 0, 3]
    assert greedy_cover([set(), set()]) == []
    failed = [[True, False], [True, True], [False, False]]  # mutant x test
    assert kill_sets(failed) == [{0, 1}, {1}]
