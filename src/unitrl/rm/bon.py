"""Best-of-N reranking maths: the columns of ACECODER's Table 2 (REFERENCE section 1).

For each question we hold its m sampled programs, whether each passed all tests, and one or more
scores per program (a reward model, a second RM, public-test pass rates, ...). Over questions we report
- greedy: the greedy sample's success (when one was sampled);
- average: the mean success of a single sample, c/m;
- best-of-N by a score: pick the highest-scoring program of a random N-subset; its success.
  The mean is EXACT over all N-subsets: sort programs into groups of equal score, best first; the
  subset's top group is g with probability [C(m - before_g, N) - C(m - before_g - |g|, N)] / C(m, N),
  and ties inside g are broken uniformly, so E = sum_g P_g * mean_success(g). The spread is the std
  across `trials` Monte-Carlo draws of one subset per question (how much one benchmark run can vary);
- oracle: pass@N = 1 - C(m - c, N) / C(m, N) (Chen et al. 2021), the ceiling for any reranker.
Best-of-1 equals the average, and best-of-m with a perfect score equals the oracle at m.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from itertools import groupby
from math import comb


@dataclass
class TaskPool:
    task_id: str
    passed: list[bool]
    scores: dict[str, list[float]] = field(default_factory=dict)  # ranker name -> one score per program
    greedy: bool | None = None


def pass_at_n(passed: list[bool], n: int) -> float:
    """Unbiased pass@n from c successes among m samples (n capped at m)."""
    m, c = len(passed), sum(passed)
    n = min(n, m)
    return 1.0 - comb(m - c, n) / comb(m, n)


def expected_best_of_n(passed: list[bool], scores: list[float], n: int) -> float:
    """Exact expected success of the top-scoring program of a uniformly random n-subset."""
    m = len(passed)
    n = min(n, m)
    total = comb(m, n)
    ranked = sorted(zip(scores, passed), key=lambda sp: -sp[0])
    expected, before = 0.0, 0
    for _, group in groupby(ranked, key=lambda sp: sp[0]):
        members = [p for _, p in group]
        p_top = (comb(m - before, n) - comb(m - before - len(members), n)) / total
        expected += p_top * sum(members) / len(members)
        before += len(members)
    return expected


def sampled_best_of_n(pools: list[TaskPool], name: str, n: int, trials: int, seed: int) -> list[float]:
    """Benchmark-level success of `trials` independent draws (one random n-subset per question)."""
    rng = random.Random(seed)
    out = []
    for _ in range(trials):
        wins = 0.0
        for pool in pools:
            idx = rng.sample(range(len(pool.passed)), min(n, len(pool.passed)))
            scores = pool.scores[name]
            top = max(scores[i] for i in idx)
            wins += pool.passed[rng.choice([i for i in idx if scores[i] == top])]
        out.append(wins / len(pools))
    return out


def n_values(max_n: int) -> list[int]:
    """1, 2, 4, ... up to max_n, plus max_n itself when it is not a power of two."""
    values, n = [], 1
    while n <= max_n:
        values.append(n)
        n *= 2
    if max_n >= 1 and values[-1] != max_n:
        values.append(max_n)
    return values


def bon_table(pools: list[TaskPool], rankers: list[str], trials: int = 200, seed: int = 0) -> dict:
    """Greedy, average, best-of-N per ranker (exact mean, sampled std) and oracle, as a plain dict."""
    if not pools:
        return {"tasks": 0, "greedy": None, "average": None, "rows": []}
    greedy = [p.greedy for p in pools if p.greedy is not None]
    rows = []
    for n in n_values(min(len(p.passed) for p in pools)):
        row: dict = {"n": n, "oracle": statistics.fmean(pass_at_n(p.passed, n) for p in pools)}
        for name in rankers:
            draws = sampled_best_of_n(pools, name, n, trials, seed + n)
            row[name] = statistics.fmean(expected_best_of_n(p.passed, p.scores[name], n) for p in pools)
            row[f"{name}_std"] = statistics.pstdev(draws) if len(draws) > 1 else 0.0
        rows.append(row)
    return {
        "tasks": len(pools),
        "greedy": statistics.fmean(greedy) if greedy else None,
        "greedy_tasks": len(greedy),
        "average": statistics.fmean(sum(p.passed) / len(p.passed) for p in pools),
        "rankers": rankers,
        "trials": trials,
        "rows": rows,
    }


def plot_bon(table: dict, path) -> None:
    """Success against N (log2 axis): each ranker with its spread, the oracle, average and greedy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in table["rows"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in table["rankers"]:
        mean = [r[name] for r in table["rows"]]
        std = [r[f"{name}_std"] for r in table["rows"]]
        ax.errorbar(ns, mean, yerr=std, marker="o", capsize=3, label=f"best-of-N by {name}")
    ax.plot(ns, [r["oracle"] for r in table["rows"]], "k--", marker="^", label="oracle (pass@N)")
    ax.axhline(table["average"], color="gray", linestyle=":", label="average of samples")
    if table["greedy"] is not None:
        ax.axhline(table["greedy"], color="tab:red", linestyle="-.", label="greedy")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("N (samples per question)")
    ax.set_ylabel("fraction of questions solved")
    ax.set_title(f"best-of-N over {table['tasks']} questions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_pools(
    samples: list, results: list, score_maps: dict[str, dict]
) -> tuple[list[TaskPool], dict[str, int]]:
    """Per question: the sampled (non-greedy) programs that have a verdict, their success, their scores
    under each ranker (a missing score ranks last), and the greedy sample's success. Returns the pools
    and, per ranker, how many programs had no score."""
    verdicts = {(r.task_id, str(r.sample_id)): r for r in results if r.status != "infrastructure-error"}
    pools: dict[str, TaskPool] = {}
    missing = dict.fromkeys(score_maps, 0)
    for s in samples:
        key = (s.task_id, str(s.sample_id))
        if key not in verdicts:
            continue
        pool = pools.setdefault(s.task_id, TaskPool(s.task_id, [], {name: [] for name in score_maps}))
        if s.meta.get("greedy"):
            pool.greedy = verdicts[key].passed
            continue
        pool.passed.append(verdicts[key].passed)
        for name, scores in score_maps.items():
            if key not in scores:
                missing[name] += 1
            pool.scores[name].append(scores.get(key, float("-inf")))
    return [p for p in pools.values() if p.passed], missing
