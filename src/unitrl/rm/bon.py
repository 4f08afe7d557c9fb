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
- best-of-N by CodeT (`--ranker codet`): the score depends on the subset, since consensus sets are
  formed among the N drawn programs only (no peeking at the other m - N): the subset's programs are
  grouped by the generated tests they pass, a group scores (#drawn in it) x (#tests), and the pick is
  uniform in the top group (ties: more tests first, then uniform). The mean is exact by enumerating how
  many programs each pass pattern contributes (hypergeometric weights) while there are at most
  COMPOSITION_LIMIT such splits, else estimated from CODET_DRAWS seeded random subsets;
- oracle: pass@N = 1 - C(m - c, N) / C(m, N) (Chen et al. 2021), the ceiling for any reranker.
Best-of-1 equals the average, and best-of-m with a perfect score equals the oracle at m.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from math import comb

COMPOSITION_LIMIT = 20_000
MAX_EXACT_GROUPS = 200  # the enumeration recurses once per pass pattern
CODET_DRAWS = 4000


@dataclass
class TaskPool:
    task_id: str
    passed: list[bool]
    scores: dict[str, list[float]] = field(default_factory=dict)  # ranker name -> one score per program
    greedy: bool | None = None
    # subset rankers (CodeT): name -> per program, the generated tests it passes
    patterns: dict[str, list[frozenset[int]]] = field(default_factory=dict)


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


def _pattern_groups(passed: list[bool], patterns: list[frozenset[int]]) -> list[tuple[int, int, int]]:
    """(programs, tests passed, programs passing the real tests) per distinct pass pattern."""
    groups: dict[frozenset[int], list[bool]] = {}
    for ok, pat in zip(passed, patterns):
        groups.setdefault(pat, []).append(ok)
    return [(len(oks), len(pat), sum(oks)) for pat, oks in groups.items()]


def _codet_success(groups: list[tuple[int, int, int]], drawn: list[int]) -> float:
    """Expected success of CodeT's pick when `drawn[g]` programs come from group g."""
    keys = [(k * t, t) if k else (-1, -1) for (_, t, _), k in zip(groups, drawn)]
    top = max(keys)
    tied = [c / s for (s, _, c), key in zip(groups, keys) if key == top]
    return sum(tied) / len(tied)  # tied groups drew equally many: a uniform pick is a uniform group


def _compositions(sizes: list[int], n: int) -> Iterator[tuple[int, list[int]]]:
    """(number of subsets, programs drawn per group) for every split of n draws over the groups."""
    if not sizes:
        if n == 0:
            yield 1, []
        return
    rest = sum(sizes[1:])
    for k in range(max(0, n - rest), min(sizes[0], n) + 1):
        for ways, tail in _compositions(sizes[1:], n - k):
            yield comb(sizes[0], k) * ways, [k, *tail]


def _n_compositions(sizes: list[int], n: int) -> int:
    ways = [1] + [0] * n
    for s in sizes:
        ways = [sum(ways[j - k] for k in range(min(s, j) + 1)) for j in range(n + 1)]
    return ways[n]


def codet_best_of_n(passed: list[bool], patterns: list[frozenset[int]], n: int, seed: int = 0) -> float:
    """Expected success of CodeT's pick among a uniformly random n-subset (consensus within the subset)."""
    m = len(passed)
    n = min(n, m)
    groups = _pattern_groups(passed, patterns)
    sizes = [s for s, _, _ in groups]
    if len(sizes) <= MAX_EXACT_GROUPS and _n_compositions(sizes, n) <= COMPOSITION_LIMIT:
        total = comb(m, n)
        return sum(w * _codet_success(groups, ks) for w, ks in _compositions(sizes, n)) / total
    rng, member = random.Random(seed), []
    for g, s in enumerate(sizes):
        member += [g] * s
    wins = 0.0
    for _ in range(CODET_DRAWS):
        drawn = [0] * len(groups)
        for i in rng.sample(range(m), n):
            drawn[member[i]] += 1
        wins += _codet_success(groups, drawn)
    return wins / CODET_DRAWS


def _codet_pick(pool: TaskPool, name: str, idx: list[int], rng: random.Random) -> bool:
    """Success of CodeT's pick among the programs `idx` (consensus formed among them alone)."""
    groups: dict[frozenset[int], list[int]] = {}
    for i in idx:
        groups.setdefault(pool.patterns[name][i], []).append(i)
    top = max((len(g) * len(pat), len(pat)) for pat, g in groups.items())
    tied = [i for pat, g in groups.items() if (len(g) * len(pat), len(pat)) == top for i in g]
    return pool.passed[rng.choice(tied)]


def pool_best_of_n(pool: TaskPool, name: str, n: int, seed: int = 0) -> float:
    """Expected best-of-n success of one question under ranker `name` (a score or a subset ranker)."""
    if name in pool.patterns:
        return codet_best_of_n(pool.passed, pool.patterns[name], n, seed)
    return expected_best_of_n(pool.passed, pool.scores[name], n)


def sampled_best_of_n(pools: list[TaskPool], name: str, n: int, trials: int, seed: int) -> list[float]:
    """Benchmark-level success of `trials` independent draws (one random n-subset per question)."""
    rng = random.Random(seed)
    out = []
    for _ in range(trials):
        wins = 0.0
        for pool in pools:
            idx = rng.sample(range(len(pool.passed)), min(n, len(pool.passed)))
            if name in pool.patterns:
                wins += _codet_pick(pool, name, idx, rng)
                continue
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
            row[name] = statistics.fmean(pool_best_of_n(p, name, n, seed + n) for p in pools)
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


def ranked_samples(samples: list, results: list) -> list:
    """The samples best-of-N draws from: not greedy, and with a verdict that is not a sandbox failure."""
    ok = {(r.task_id, str(r.sample_id)) for r in results if r.status != "infrastructure-error"}
    return [s for s in samples if (s.task_id, str(s.sample_id)) in ok and not s.is_greedy]


def build_pools(
    samples: list,
    results: list,
    score_maps: dict[str, dict],
    pattern_maps: dict[str, dict] | None = None,
) -> tuple[list[TaskPool], dict[str, int]]:
    """Per question: the sampled (non-greedy) programs that have a verdict, their success, their scores
    under each ranker (a missing score ranks last; a missing CodeT pattern passes nothing), and the
    greedy sample's success. Returns the pools and, per ranker, how many programs had no score."""
    verdicts = {(r.task_id, str(r.sample_id)): r for r in results if r.status != "infrastructure-error"}
    pools: dict[str, TaskPool] = {}
    pattern_maps = pattern_maps or {}
    missing = dict.fromkeys([*score_maps, *pattern_maps], 0)
    for s in samples:
        key = (s.task_id, str(s.sample_id))
        if key not in verdicts:
            continue
        pool = pools.setdefault(s.task_id, TaskPool(s.task_id, [], {name: [] for name in score_maps}))
        if s.is_greedy:
            pool.greedy = verdicts[key].passed
            continue
        pool.passed.append(verdicts[key].passed)
        for name, scores in score_maps.items():
            if key not in scores:
                missing[name] += 1
            pool.scores[name].append(scores.get(key, float("-inf")))
        for name, patterns in pattern_maps.items():
            missing[name] += key not in patterns
            pool.patterns.setdefault(name, []).append(frozenset(patterns.get(key, ())))
    return [p for p in pools.values() if p.passed], missing
