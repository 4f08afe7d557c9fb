"""Throughput of the `execution` engine, and its tests' mutant kill rate against HumanEval's own tests.

Table 1: problems mined from the standard library, tests synthesized with `execution` (~20 per problem),
then the kill rate measured; problems per minute for synthesis alone and with the quality pass.
Table 2: a slice of HumanEval. Tests are synthesized from the canonical solutions with HumanEval's tests
hidden; the same mutants of each canonical solution are graded against HumanEval's tests and against the
synthesized ones (no equivalence filtering, so both rates share one denominator).

    .venv/bin/python benchmarks/synth_throughput.py --problems 200 --humaneval 60
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from unitrl.mine.cli import MineConfig, run_mine
from unitrl.records import Problem, read_problems
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.synth.execution import synthesize_execution
from unitrl.synth.quality import measure_quality


def mine_stdlib(n: int, seed: int) -> list[Problem]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mined.jsonl"
        run_mine(MineConfig(out=str(path), limit=n, seed=seed))
        return read_problems(path)


def throughput(sb: Sandbox, problems: list[Problem], seed: int) -> list[tuple]:
    start = time.time()
    out, pools = synthesize_execution(sb, problems, n_tests=20, seed=seed)
    t_synth = time.time() - start
    measure_quality(sb, out, pools, max_mutants=12, seed=seed)
    t_all = time.time() - start
    n_tests = [len(p.tests) for p in out]
    kills = [p.meta["synth"]["kill_rate"] for p in out if p.meta["synth"].get("kill_rate") is not None]
    return [
        (
            "execution: synthesize",
            len(out),
            f"{statistics.fmean(n_tests):.1f}",
            f"{t_synth:.1f}",
            f"{len(out) / t_synth * 60:.0f}",
            "-",
        ),
        (
            "execution: + 12 mutants/problem",
            len(out),
            f"{statistics.fmean(n_tests):.1f}",
            f"{t_all:.1f}",
            f"{len(out) / t_all * 60:.0f}",
            f"{statistics.fmean(kills):.3f}" if kills else "-",
        ),
    ]


def humaneval_kills(sb: Sandbox, n: int, seed: int) -> list[tuple]:
    from unitrl.eval.importers import load_humaneval

    original = load_humaneval()[:n]
    hidden = [replace(p, tests=[], meta={}) for p in original]
    synthesized, _ = synthesize_execution(sb, hidden, n_tests=20, seed=seed)
    with_tests = [p for p in synthesized if len(p.tests) >= 5]
    ids = {p.task_id for p in with_tests}
    he = [replace(p, meta={}) for p in original if p.task_id in ids]
    measure_quality(sb, he, None, max_mutants=12, seed=seed)
    measure_quality(sb, with_tests, None, max_mutants=12, seed=seed)
    rows = []
    for name, probs in (("HumanEval's own tests", he), ("execution-synthesized tests", with_tests)):
        rates = [p.meta["synth"]["kill_rate"] for p in probs if p.meta["synth"].get("kill_rate") is not None]
        killed = sum(p.meta["synth"]["n_killed"] for p in probs)
        total = sum(p.meta["synth"]["n_mutants"] for p in probs)
        tests = statistics.fmean(len(p.tests) for p in probs)
        rows.append(
            (
                name,
                len(probs),
                f"{tests:.1f}",
                f"{killed}/{total}",
                f"{killed / total:.3f}",
                f"{statistics.fmean(rates):.3f}",
            )
        )
    by_id = {p.task_id: p.meta["synth"]["n_killed"] for p in he}
    better = sum(p.meta["synth"]["n_killed"] > by_id[p.task_id] for p in with_tests)
    worse = sum(p.meta["synth"]["n_killed"] < by_id[p.task_id] for p in with_tests)
    rows.append(
        ("synthesized kill more / fewer (problems)", len(with_tests), "-", f"{better} / {worse}", "-", "-")
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=200, help="stdlib problems for the throughput table")
    ap.add_argument(
        "--humaneval", type=int, default=60, help="HumanEval problems for the kill-rate table (0: skip)"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    console = Console(width=140)
    problems = mine_stdlib(args.problems, args.seed)  # before our sandbox opens: mine runs its own
    with Sandbox(SandboxConfig(workers=args.workers, timeout=1.0)) as sb:
        t1 = Table(title=f"execution engine throughput ({args.workers} sandbox workers)")
        for col in ("stage", "problems", "tests/problem", "seconds", "problems/min", "mean kill rate"):
            t1.add_column(col)
        for row in throughput(sb, problems, args.seed):
            t1.add_row(*map(str, row))
        console.print(t1)
        if args.humaneval:
            t2 = Table(
                title=f"HumanEval[:{args.humaneval}]: same mutants of the canonical solution, 12 per problem"
            )
            for col in (
                "tests",
                "problems",
                "tests/problem",
                "mutants killed",
                "pooled kill rate",
                "mean kill rate",
            ):
                t2.add_column(col)
            for row in humaneval_kills(sb, args.humaneval, args.seed):
                t2.add_row(*map(str, row))
            console.print(t2)


if __name__ == "__main__":
    main()
