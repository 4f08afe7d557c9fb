"""Where the sandbox's CPU goes: per program, in the parent, the supervisors, the zygotes and the children.

Grades HumanEval's canonical + known-wrong programs (802 by default) through warm workers and reads the
CPU time of every process from /proc (the children's time is what their zygote reaped). Prints one table
and writes benchmarks/results/exec_breakdown.json. Complements exec_throughput.py, whose *floor* row is
the cost of the fork per program alone.

    .venv/bin/python benchmarks/exec_breakdown.py [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import canonical_samples, wrong_samples
from unitrl.records import write_text_atomic
from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.grade import grade_programs

RESULTS = Path(__file__).parent / "results" / "exec_breakdown.json"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> list[float]:
    """utime, stime, cutime, cstime of a process, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return [int(x) / TICK for x in fields[11:15]]


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    problems = load_humaneval()
    by_id = {p.task_id: p for p in problems}
    samples = canonical_samples(problems) + wrong_samples(problems, per_task=4)
    items = [(by_id[s.task_id], s.program(by_id[s.task_id]), str(s.sample_id)) for s in samples]
    load = os.getloadavg()[0]
    with Sandbox(SandboxConfig(workers=args.workers, timeout=3.0)) as box:
        grade_programs(box, items)  # warm: workers up, tests compiled
        supervisors = [w.proc.pid for w in box.workers]
        zygotes = [z for pid in supervisors for z in children_of(pid)]
        before = {pid: cpu_of(pid) for pid in supervisors + zygotes}
        t0, parent0 = time.perf_counter(), os.times()
        for _ in range(args.repeats):
            grade_programs(box, items)
        seconds, parent1 = time.perf_counter() - t0, os.times()
        after = {pid: cpu_of(pid) for pid in supervisors + zygotes}
    n = args.repeats * len(items)

    def per_program(pids: list[int], columns: tuple[int, ...]) -> float:
        return 1e6 * sum(after[p][c] - before[p][c] for p in pids for c in columns) / n

    rows = {
        "parent (jobs, verdicts)": 1e6 * (parent1.user + parent1.system - parent0.user - parent0.system) / n,
        "supervisors (compile, watch)": per_program(supervisors, (0, 1)),
        "zygotes (fork, reap)": per_program(zygotes, (0, 1)),
        "children (the programs)": per_program(zygotes, (2, 3)),
    }
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Sandbox CPU per program: {n} gradings, {args.workers} workers, {n / seconds:.0f} programs/s"
    )
    table.add_column("process")
    table.add_column("CPU µs / program", justify="right")
    for name, value in rows.items():
        table.add_row(name, f"{value:.0f}")
    table.add_row("total", f"{sum(rows.values()):.0f}")
    Console().print(table)
    Console().print(f"load average before the run: {load:.2f} (CPU cores: {os.cpu_count()})")
    report = {
        "programs": n, "workers": args.workers, "programs_per_second": n / seconds, "load_average_before": load,
        "cpu_us_per_program": rows,
    }  # fmt: skip
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
