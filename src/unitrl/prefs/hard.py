"""ACECODER's "hard" RL subset (REFERENCE section 1).

For each question, take the pass rates of its sampled programs: their mean and (population) standard
deviation. Keep a question when its mean is at or below the median of the means AND its std is at or
above the median of the stds: questions the policy often fails but sometimes solves, where a test
reward actually distinguishes its samples.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class TaskSpread:
    task_id: str
    mean: float
    std: float
    n: int


def task_spreads(pass_rates: dict[str, list[float]]) -> list[TaskSpread]:
    """Mean and population std of each question's sample pass rates (questions without samples skipped)."""
    return [
        TaskSpread(tid, statistics.fmean(rates), statistics.pstdev(rates), len(rates))
        for tid, rates in pass_rates.items()
        if rates
    ]


def select_hard(spreads: list[TaskSpread]) -> tuple[list[TaskSpread], float, float]:
    """(kept questions, median of means, median of stds)."""
    if not spreads:
        return [], 0.0, 0.0
    med_mean = statistics.median(s.mean for s in spreads)
    med_std = statistics.median(s.std for s in spreads)
    eps = 1e-12  # medians of float means: keep ties that differ only by rounding
    kept = [s for s in spreads if s.mean <= med_mean + eps and s.std >= med_std - eps]
    return kept, med_mean, med_std
