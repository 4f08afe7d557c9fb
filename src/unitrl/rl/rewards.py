"""Rewards from test outcomes (and reward models), and weighted mixes of them.

A reward spec names one reward or a weighted sum: `binary`, `pass_rate`, `coderl`, `rltf`, `partial`,
`rm:PATH`, or e.g. `0.5*binary+0.5*rm:runs/rm`. Test rewards are pure functions of a `records.Result`
(per-test statuses from the sandbox):
- `binary`: 1 if every test passes (ACECODER's rule reward), else 0.
- `pass_rate`: passed / total over the problem's tests.
- `coderl`: CodeRL (Le et al. 2022): -1 syntax error, -0.6 runtime error, -0.3 failed tests, +1 all pass.
- `rltf`: RLTF (Liu et al. 2023) adaptive reward: the CodeRL values, but a program that runs and fails gets
  -0.3 + 1.3 * passed / total. (RLTF's fine-grained per-line penalty is not implemented.)
- `partial`: the Gorinski et al. reconstruction (assumption, docs/REFERENCE.md section 2): -1 syntax error,
  -0.6 runtime error, else the pass rate in [0, 1].
- `rm:PATH`: a reward model from `unitrl train-rm`, z-normalized over the batch.
A test with status `infrastructure-error` makes the reward None: the sample is dropped from the update,
never scored as a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from unitrl.errors import UserError
from unitrl.records import Problem, Result

RUNTIME_STATUSES = {"error", "timeout", "memory", "output-limit"}


def outcome(result: Result) -> str:
    """One of syntax-error, runtime-error, failed, passed, infrastructure-error."""
    statuses = [t.status for t in result.tests] or [result.status]
    if "infrastructure-error" in statuses or result.status == "infrastructure-error":
        return "infrastructure-error"
    if "syntax-error" in statuses or result.status == "syntax-error":
        return "syntax-error"
    if result.passed and all(s == "pass" for s in statuses if s != "not-run"):
        return "passed"
    if any(s in RUNTIME_STATUSES for s in statuses) or result.status in RUNTIME_STATUSES:
        return "runtime-error"
    return "failed"


def pass_fraction(result: Result) -> float:
    if not result.tests:
        return 1.0 if result.passed else float(result.pass_rate)
    return sum(t.status == "pass" for t in result.tests) / len(result.tests)


def binary_reward(result: Result) -> float | None:
    o = outcome(result)
    return None if o == "infrastructure-error" else float(o == "passed")


def pass_rate_reward(result: Result) -> float | None:
    return None if outcome(result) == "infrastructure-error" else pass_fraction(result)


CODERL_VALUES = {"syntax-error": -1.0, "runtime-error": -0.6, "failed": -0.3, "passed": 1.0}


def coderl_reward(result: Result) -> float | None:
    return CODERL_VALUES.get(outcome(result))


def rltf_reward(result: Result) -> float | None:
    o = outcome(result)
    if o == "failed":
        return -0.3 + 1.3 * pass_fraction(result)
    return CODERL_VALUES.get(o)


def partial_reward(result: Result) -> float | None:
    o = outcome(result)
    if o in ("syntax-error", "runtime-error"):
        return CODERL_VALUES[o]
    return None if o == "infrastructure-error" else pass_fraction(result)


TEST_REWARDS: dict[str, Callable[[Result], float | None]] = {
    "binary": binary_reward,
    "pass_rate": pass_rate_reward,
    "coderl": coderl_reward,
    "rltf": rltf_reward,
    "partial": partial_reward,
}


@dataclass
class RewardTerm:
    weight: float
    name: str  # a TEST_REWARDS key or "rm"
    path: str | None = None  # for rm


def parse_reward_spec(spec: str) -> list[RewardTerm]:
    """`0.5*binary+0.5*rm:PATH` -> terms; a bare name has weight 1."""
    terms = []
    # split on "+" only before a term, so an rm path may itself contain "+"
    names = "|".join([*TEST_REWARDS, "rm:"])
    for part in re.split(rf"\+(?=\s*(?:[^*+]+\*\s*)?(?:{names}))", spec):
        part = part.strip()
        weight, _, name = part.rpartition("*") if "*" in part.split(":")[0] else ("1", "", part)
        try:
            w = float(weight)
        except ValueError:
            raise UserError(f"bad weight {weight!r} in reward spec {spec!r}", field="reward") from None
        if name.startswith("rm:"):
            terms.append(RewardTerm(w, "rm", name[3:]))
        elif name in TEST_REWARDS:
            terms.append(RewardTerm(w, name))
        else:
            known = ", ".join([*TEST_REWARDS, "rm:PATH"])
            raise UserError(f"unknown reward {name!r} (known: {known})", field="reward")
    return terms


def normalize(scores: Sequence[float]) -> list[float]:
    """z-score over the batch (a constant batch becomes zeros)."""
    n = len(scores)
    if n == 0:
        return []
    mean = sum(scores) / n
    std = (sum((s - mean) ** 2 for s in scores) / n) ** 0.5
    return [(s - mean) / std if std > 1e-8 else 0.0 for s in scores]


def combine(
    terms: list[RewardTerm],
    results: Sequence[Result] | None,
    rm_scores: dict[str, list[float]] | None = None,
) -> list[float | None]:
    """Weighted sum of the terms per sample; None where any test-based term is None."""
    n = len(results) if results is not None else len(next(iter((rm_scores or {}).values())))
    out: list[float | None] = [0.0] * n
    for term in terms:
        if term.name == "rm":
            values: list[float | None] = list(normalize((rm_scores or {})[term.path or ""]))
        else:
            assert results is not None
            values = [TEST_REWARDS[term.name](r) for r in results]
        for i, v in enumerate(values):
            cur = out[i]
            out[i] = None if (cur is None or v is None) else cur + term.weight * v
    return out


def needs_tests(terms: list[RewardTerm]) -> bool:
    return any(t.name != "rm" for t in terms)


def score_with_rm(
    path: str, device: str, problems: Sequence[Problem], programs: Sequence[str]
) -> list[float]:
    """Raw reward-model scores on the input the RM was trained on: the question plus ONE test (ACECODER),
    a stdin/stdout example written exactly as the pairs stage wrote it (`rm.prompt.problem_rm_prompt`)."""
    from unitrl.rm.scoring import RewardModelScorer  # written by the rm stage

    scorer = _SCORERS.get((path, device))
    if scorer is None:
        scorer = _SCORERS[(path, device)] = RewardModelScorer(path, device)
    return scorer.score_problems(list(problems), list(programs))


_SCORERS: dict[tuple[str, str], object] = {}


def compute_rewards(
    terms: list[RewardTerm],
    sandbox,
    problems: Sequence[Problem],
    programs: Sequence[str],
    device: str = "cpu",
    timeout: float | None = None,
) -> tuple[list[float | None], list[Result] | None]:
    """Grade the programs in the sandbox (when a term needs tests; `timeout`: CPU seconds per test, None
    for the sandbox's own limit) and combine the terms."""
    results = None
    if needs_tests(terms):
        from unitrl.sandbox.grade import grade_programs

        items = [(p, prog, i) for i, (p, prog) in enumerate(zip(problems, programs))]
        results = grade_programs(sandbox, items, timeout=timeout)
    rm_scores = {
        t.path or "": score_with_rm(t.path or "", device, problems, programs) for t in terms if t.name == "rm"
    }
    return combine(terms, results, rm_scores), results
