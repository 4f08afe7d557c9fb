"""A small subset of tests that kills as many mutants as the full set (evalplus-mini style).

evalplus (Liu et al., NeurIPS 2023, section 2.2) reduces HumanEval+ to HumanEval+-mini by a greedy set
cover: keep adding the test that kills the most mutants not yet killed (it also covers branches and
past LLM failures; we use mutants only). Greedy set cover is within a ln(n) factor of the optimum.
"""

from __future__ import annotations


def greedy_cover(kills: list[set[int]]) -> list[int]:
    """Indices of tests, in the order picked; `kills[t]` is the set of mutants test t kills.

    Ties go to the earlier test, so the result is deterministic. Tests that add nothing are not kept.
    """
    uncovered = set().union(*kills) if kills else set()
    chosen: list[int] = []
    while uncovered:
        best = max(range(len(kills)), key=lambda t: (len(kills[t] & uncovered), -t))
        gain = kills[best] & uncovered
        if not gain:
            break
        chosen.append(best)
        uncovered -= gain
    return chosen


def kill_sets(per_mutant_failures: list[list[bool]]) -> list[set[int]]:
    """Transpose `failed[m][t]` (mutant m fails test t) into the tests' kill sets."""
    n_tests = len(per_mutant_failures[0]) if per_mutant_failures else 0
    return [{m for m, row in enumerate(per_mutant_failures) if row[t]} for t in range(n_tests)]
