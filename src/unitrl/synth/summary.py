"""The summary `unitrl synth` prints and writes to `<out>.summary.json`: counts and distributions.

Beside the counts (problems in/out, drops per reason, tests per problem) it reports the honest quality
figures of the kept problems: the kill rate over ALL mutants (per problem and pooled) with the share of
mutants no input separated beside it, the reference's branch coverage by the suite, the number of
distinct expected values per suite (and the share of suites with a single one), the trivial programs
that pass whole suites (kept only with --keep-weak), tests added by mutant guidance and time limits.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any


def quantiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    xs = sorted(xs)
    return {
        q: round(xs[min(len(xs) - 1, int(f * len(xs)))], 4)
        for q, f in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))
    } | {"mean": round(statistics.fmean(xs), 4), "min": xs[0], "max": xs[-1]}


def histogram(xs: list[float]) -> dict[str, int]:
    """Counts in ten buckets over [0, 1] (1.0 falls in the last)."""
    buckets = Counter(min(9, int(x * 10)) for x in xs)
    return {f"{b / 10:.1f}-{(b + 1) / 10:.1f}": buckets[b] for b in range(10)}


FIGURES = ("kill_rate", "n_mutants", "n_killed", "n_not_separated", "branch_coverage", "n_distinct_outputs",
           "n_guided", "time_limit", "trivial_passed", "degenerate")  # fmt: skip


def _figures(rows: list[dict]) -> dict[str, list]:
    """Each figure of meta["synth"] over the problems that have it."""
    synth = [r["meta"].get("synth", {}) for r in rows]
    return {key: [s[key] for s in synth if s.get(key) is not None] for key in FIGURES}


def summarize(rows: list[dict], dropped: Counter, matches: list, seconds: float, n_in: int) -> dict[str, Any]:
    """Counts, tests per problem and the quality distributions, for the table and the JSON summary."""
    tests = [len(r["tests"]) for r in rows]
    test_drops: Counter = Counter()
    for r in rows:
        test_drops.update(r["meta"].get("synth", {}).get("dropped", {}))
    f = _figures(rows)
    n_mut, n_killed, n_not_sep = sum(f["n_mutants"]), sum(f["n_killed"]), sum(f["n_not_separated"])
    trivial = Counter(name for names in f["trivial_passed"] for name in names)
    distinct = f["n_distinct_outputs"]
    return {
        "problems_in": n_in,
        "problems_out": len(rows),
        "problems_dropped": dict(dropped),
        "decontamination_matches": [m.__dict__ for m in matches],
        "tests_per_problem": quantiles(tests) | {"total": sum(tests)},
        "tests_dropped": dict(test_drops),
        "mutants": {
            "total": n_mut,
            "killed": n_killed,
            "kill_rate_pooled": round(n_killed / n_mut, 4) if n_mut else None,
            "not_separated": n_not_sep,
            "not_separated_share": round(n_not_sep / n_mut, 4) if n_mut else None,
        },
        "kill_rate": quantiles(f["kill_rate"]),
        "kill_rate_histogram": histogram(f["kill_rate"]),
        "branch_coverage": quantiles(f["branch_coverage"]),
        "branch_coverage_histogram": histogram(f["branch_coverage"]),
        "distinct_outputs": quantiles(distinct)
        | {
            "one_value": sum(d == 1 for d in distinct),
            "one_value_share": round(sum(d == 1 for d in distinct) / len(distinct), 4) if distinct else None,
        },
        "weak_suites": {
            "degenerate_kept": sum(bool(d) for d in f["degenerate"]),
            "trivially_passed_kept": sum(bool(t) for t in f["trivial_passed"]),
        }
        | {f"passed_by.{name}": n for name, n in trivial.most_common()},
        "guided_tests": {"total": sum(f["n_guided"]), "problems": sum(n > 0 for n in f["n_guided"])},
        "time_limit": quantiles(f["time_limit"]),
        "seconds": round(seconds, 2),
        "problems_per_minute": round(n_in / seconds * 60, 1) if seconds else None,
    }


GROUPS = (
    "problems_dropped",
    "tests_per_problem",
    "tests_dropped",
    "mutants",
    "kill_rate",
    "kill_rate_histogram",
    "branch_coverage",
    "branch_coverage_histogram",
    "distinct_outputs",
    "weak_suites",
    "guided_tests",
    "time_limit",
)


def print_summary(summary: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("problems_in", "problems_out", "seconds", "problems_per_minute"):
        table.add_row(key, str(summary[key]))
    for group in GROUPS:
        for k, v in summary.get(group, {}).items():
            table.add_row(f"{group}.{k}", str(v))
    table.add_row("decontamination_matches", str(len(summary["decontamination_matches"])))
    Console(stderr=True).print(table)
