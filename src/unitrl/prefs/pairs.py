"""Preference pairs from pass rates (ACECODER section 3, REFERENCE section 1).

Per question and within one model's samples, every (chosen, rejected) with
    pass(chosen) >= min_chosen,  pass(chosen) - pass(rejected) >= min_gap,  pass(rejected) > min_rejected
becomes a pair; `strict=True` turns the first two into the strict `>` the paper writes. Pass rates are
fractions of a few tests (0.8 = 4/5, 0.4 = 2/5), so comparisons allow a 1e-9 slack: 0.6 - 0.2 is
0.39999999999999997 in floating point and must still count as a gap of 0.4.
Exact duplicate pairs (same prompt, chosen text and rejected text) are kept once; an optional cap keeps
a seeded random subset per question.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from unitrl.records import Pair

EPS = 1e-9


@dataclass
class Candidate:
    """One graded program of one question: what the pairing rule needs."""

    sample_id: int | str
    program: str
    pass_rate: float
    model: str = ""


def at_least(value: float, threshold: float, strict: bool) -> bool:
    """value >= threshold (or > when strict), robust to float rounding of test fractions."""
    return value > threshold + EPS if strict else value >= threshold - EPS


def qualifies(
    chosen: float, rejected: float, min_chosen: float, min_gap: float, min_rejected: float, strict: bool
) -> bool:
    """ACECODER's pairing rule for one (chosen, rejected) pass-rate pair."""
    return (
        at_least(chosen, min_chosen, strict)
        and at_least(chosen - rejected, min_gap, strict)
        and rejected > min_rejected + EPS
    )


def task_pairs(
    task_id: str,
    prompt: str,
    candidates: list[Candidate],
    min_chosen: float = 0.8,
    min_gap: float = 0.4,
    min_rejected: float = 0.0,
    strict: bool = False,
) -> list[Pair]:
    """All qualifying pairs of one question, never across models, without exact duplicates."""
    pairs, seen = [], set()
    for c in candidates:
        for r in candidates:
            if c.model != r.model or c.program == r.program:
                continue
            if not qualifies(c.pass_rate, r.pass_rate, min_chosen, min_gap, min_rejected, strict):
                continue
            if (c.program, r.program) in seen:
                continue
            seen.add((c.program, r.program))
            pairs.append(
                Pair(
                    task_id=task_id,
                    prompt=prompt,
                    chosen=c.program,
                    rejected=r.program,
                    chosen_id=c.sample_id,
                    rejected_id=r.sample_id,
                    chosen_pass_rate=c.pass_rate,
                    rejected_pass_rate=r.pass_rate,
                    margin=round(c.pass_rate - r.pass_rate, 6),
                )
            )
    return pairs


def cap_pairs(pairs: list[Pair], max_per_task: int, seed: int) -> list[Pair]:
    """At most `max_per_task` pairs (0: no cap), a seeded random subset kept in original order."""
    if max_per_task <= 0 or len(pairs) <= max_per_task:
        return pairs
    keep = sorted(random.Random(seed).sample(range(len(pairs)), max_per_task))
    return [pairs[i] for i in keep]


def acecode_rows(pairs: list[Pair], task_index: dict[str, int]) -> list[dict]:
    """AceCodePair-300K's columns: instruction (the RM prompt), input, chosen, rejected, id (question)."""
    return [
        {
            "instruction": p.prompt,
            "input": "",
            "chosen": p.chosen,
            "rejected": p.rejected,
            "id": task_index[p.task_id],
        }
        for p in pairs
    ]


def join_candidates(problems: dict, samples: list, results: list) -> tuple[dict[str, list[Candidate]], int]:
    """Each question's graded programs, and how many samples had no usable result.

    A result whose status is `infrastructure-error` says nothing about the program and is skipped.
    """
    verdicts = {(r.task_id, str(r.sample_id)): r for r in results if r.status != "infrastructure-error"}
    by_task: dict[str, list[Candidate]] = {}
    missing = 0
    for s in samples:
        result = verdicts.get((s.task_id, str(s.sample_id)))
        problem = problems.get(s.task_id)
        if result is None or problem is None:
            missing += 1
            continue
        model = str(s.meta.get("model", ""))
        by_task.setdefault(s.task_id, []).append(
            Candidate(s.sample_id, s.program(problem), result.pass_rate, model)
        )
    return by_task, missing
