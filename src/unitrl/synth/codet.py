"""CodeT (Chen et al. 2022, "CodeT: Code generation with generated tests"): dual execution agreement.

With no reference to trust, sampled programs and generated tests vouch for each other: every program runs
on every test in the sandbox, programs with the identical set of passed tests form a consensus set, and a
set scores (#programs in it) x (#tests they pass), the paper's default. The top set's tests are the suite
we keep, and each program's set score ranks it (`unitrl bon --ranker codet`). A question is flagged as
contradictory when no program passes a large share of its tests, or when a rival set scores nearly as
high while passing tests the top set fails AND failing tests it passes (the paper's "two sets with
disjoint tests", read as: their pass sets are incomparable, so some tests contradict others). Used by the
`llm` engine for questions without a reference and without `--oracle-model` (`validate_drafts`): programs
are sampled from the same endpoint, from the question alone so they are independent of the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from unitrl.records import Problem, extract_code
from unitrl.sandbox.grade import grade_programs

MIN_SHARE = 0.5  # below this share of tests passed by the best program, the tests contradict each other
RIVAL_RATIO = 0.8  # a rival set scoring at least this share of the top score is "of similar score"

SAMPLE_PROMPT = """{question}

Write the complete Python function `{entry}` in one ```python code block."""


@dataclass(frozen=True)
class ConsensusSet:
    """Programs (by index) that pass exactly the same tests (by index)."""

    programs: tuple[int, ...]
    tests: frozenset[int]

    @property
    def score(self) -> int:
        return len(self.programs) * len(self.tests)


def consensus_sets(patterns: Sequence[Iterable[int]]) -> list[ConsensusSet]:
    """Group programs by pass pattern; best CodeT score first, ties by more tests, then earliest program."""
    groups: dict[frozenset[int], list[int]] = {}
    for i, passed in enumerate(patterns):
        groups.setdefault(frozenset(passed), []).append(i)
    sets = [ConsensusSet(tuple(progs), tests) for tests, progs in groups.items()]
    return sorted(sets, key=lambda s: (-s.score, -len(s.tests), s.programs[0]))


@dataclass
class Agreement:
    """The consensus sets of one question, the tests kept and why (if at all) the tests look contradictory."""

    sets: list[ConsensusSet]
    n_tests: int
    conflict: str  # "" | "no-agreement" | "low-agreement" | "rival-sets"

    @property
    def top(self) -> ConsensusSet | None:
        return self.sets[0] if self.sets and self.sets[0].score > 0 else None

    @property
    def kept(self) -> list[int]:
        """Indices of the tests the top set passes, in order."""
        return sorted(self.top.tests) if self.top else []

    def program_scores(self, n_programs: int) -> list[float]:
        """Each program's CodeT score: its consensus set's score (0 for one that passes nothing)."""
        scores = [0.0] * n_programs
        for s in self.sets:
            for i in s.programs:
                scores[i] = float(s.score)
        return scores

    def summary(self) -> dict[str, Any]:
        top, rival = self.top, self.sets[1] if len(self.sets) > 1 else None
        return {
            "sets": len(self.sets),
            "top_programs": len(top.programs) if top else 0,
            "top_tests": len(top.tests) if top else 0,
            "top_score": top.score if top else 0,
            "runner_up_score": rival.score if rival else 0,
            "conflict": self.conflict,
        }


def agree(
    patterns: Sequence[Iterable[int]],
    n_tests: int,
    *,
    min_share: float = MIN_SHARE,
    rival_ratio: float = RIVAL_RATIO,
) -> Agreement:
    """CodeT over one question: `patterns[i]` holds the indices of the tests program i passed."""
    sets = consensus_sets(patterns)
    best = sets[0] if sets else None
    if best is None or best.score == 0:
        return Agreement(sets, n_tests, "no-agreement")
    if max(len(s.tests) for s in sets) < min_share * n_tests:
        return Agreement(sets, n_tests, "low-agreement")
    for s in sets[1:]:
        if s.score < rival_ratio * best.score:
            break
        if not (s.tests <= best.tests or best.tests <= s.tests):
            return Agreement(sets, n_tests, "rival-sets")
    return Agreement(sets, n_tests, "")


# ------------------------------------------------------------------------------------ the llm engine


def sample_programs(
    endpoint: Any, drafts: list[Problem], n_samples: int, temperature: float, max_tokens: int
) -> list[list[str]]:
    """`n_samples` programs per question, sampled from the question alone (never shown the tests)."""
    asks = [SAMPLE_PROMPT.format(question=d.prompt, entry=d.entry_point or "solution") for d in drafts]
    msgs = [[{"role": "user", "content": ask}] for ask in asks]
    answers = endpoint.complete_many(
        msgs, temperature=temperature, max_tokens=max_tokens, n=n_samples, errors="empty"
    )
    return [[extract_code(a) for a in ans] for ans in answers]


def pass_patterns(
    sandbox: Any, groups: Sequence[tuple[Problem, Sequence[str]]], timeout: float
) -> list[list[set[int]]]:
    """For each (problem, programs): per program, the indices of the problem's tests it passes. One
    sandbox batch for all of them; a program that does not load or crashes passes nothing."""
    items = [(p, prog, f"codet-{j}") for p, progs in groups for j, prog in enumerate(progs)]
    results = iter(grade_programs(sandbox, items, timeout=timeout))
    return [
        [{t for t, tr in enumerate(next(results).tests) if tr.status == "pass"} for _ in progs]
        for _, progs in groups
    ]


def validate_drafts(
    sandbox: Any,
    endpoint: Any,
    drafts: list[Problem],
    *,
    n_samples: int = 10,
    temperature: float = 0.8,
    max_tokens: int = 2048,
    timeout: float = 2.0,
    drop_contradictory: bool = True,
) -> tuple[list[Problem], dict[str, str]]:
    """Keep each question's tests that its top consensus set passes. Returns the problems (meta["synth"]
    filled as the `llm` engine does, plus a "codet" summary) and the reason each other was dropped:
    `no-answer` (the endpoint failed), `codet-<conflict>` (contradictory tests, unless kept and flagged)."""
    programs = sample_programs(endpoint, drafts, n_samples, temperature, max_tokens)
    out: list[Problem] = []
    dropped: dict[str, str] = {}
    found = pass_patterns(sandbox, list(zip(drafts, programs)), timeout)
    for d, progs, patterns in zip(drafts, programs, found):
        if not progs:  # the endpoint failed this question: transient, a rerun asks again
            dropped[d.task_id] = "no-answer"
            continue
        verdict = agree(patterns, len(d.tests))
        if verdict.conflict and drop_contradictory:
            dropped[d.task_id] = f"codet-{verdict.conflict}"
            continue
        kept = [d.tests[t] for t in verdict.kept]
        n_rejected = len(d.tests) - len(kept)
        synth = {
            "engine": "llm",
            "model": endpoint.model,
            "validator": f"codet:{endpoint.model}x{len(progs)}",
            "n_generated": len(d.tests),
            "n_kept": len(kept),
            "dropped": {"codet-rejected": n_rejected} if n_rejected else {},
            "codet": verdict.summary() | {"samples": len(progs)},
        }
        out.append(replace(d, tests=kept, meta=dict(d.meta, synth=synth)))
    return out, dropped
