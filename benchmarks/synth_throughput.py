"""Throughput of `unitrl synth --engine execution` with mutant scoring on, as a user runs it.

The corpus is what `unitrl mine` finds in the standard library with its defaults (and, optionally,
HumanEval's canonical solutions with their tests hidden). Each row is one `unitrl synth` run over the
same file, in this one process, one after another:
- `--overlap 1`: one chunk at a time (the sandbox idles while this process works out the next jobs);
- the defaults (`--overlap 3`: parts of 16 problems worked on by three threads over one sandbox);
- `--mutants 0 --guide-mutants 0`: no mutant scoring and no mutant-guided additions (the input search,
  the checks of the reference, the trivial programs and the coverage pass still run).
With `--repeat N` the rows take turns N times and the median time is reported (a shared machine's
speed drifts by tens of percent within minutes). Beside the time: the sandbox jobs and steps the run asked for, the steps that ran out of time and the
CPU seconds they spent (a mutant that loops costs its problem's whole time limit, at least the 0.25 s
floor), the pooled kill rate, and whether the output is byte for byte that of the first row.

    .venv/bin/python benchmarks/synth_throughput.py [--humaneval 164] [--workers 2] [--repeat 3]

Writes benchmarks/results/synth_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from unitrl.mine.cli import MineConfig, run_mine
from unitrl.records import write_records
from unitrl.sandbox import pool
from unitrl.synth.cli import SynthConfig, run_synth

RESULTS = Path(__file__).parent / "results" / "synth_throughput.json"
ROWS = [
    ("--overlap 1 (one chunk at a time)", {"overlap": 1}),
    ("defaults (--overlap 3)", {}),
    ("--mutants 0 --guide-mutants 0", {"mutants": 0, "guide_mutants": 0}),
]


class Counts:
    """Jobs, steps and timed-out steps of every `Sandbox.run` call (all threads), by wrapping it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs = self.steps = self.timeouts = 0
        self.timeout_seconds = 0.0
        self.original = pool.Sandbox.run

    def __enter__(self) -> Counts:
        counts, original = self, self.original

        def run(sb, jobs, *args, **kwargs):
            jobs = list(jobs)
            results = original(sb, jobs, *args, **kwargs)
            with counts.lock:
                counts.jobs += len(jobs)
                counts.steps += sum(len(j.steps) for j in jobs)
                for r in results:
                    for o in r.steps if r is not None else []:
                        if o.status == "timeout":
                            counts.timeouts += 1
                            counts.timeout_seconds += o.duration
            return results

        pool.Sandbox.run = run
        return self

    def __exit__(self, *exc: object) -> None:
        pool.Sandbox.run = self.original


def one_run(problems: Path, out: Path, workers: int, settings: dict, extra: dict) -> dict:
    cfg = SynthConfig(problems=str(problems), out=str(out), workers=workers, **extra, **settings)
    with Counts() as counts:
        t0 = time.perf_counter()
        summary = run_synth(cfg)
        seconds = time.perf_counter() - t0
    mutants = summary.get("mutants") or {}
    return {
        "problems_in": summary["problems_in"],
        "kept": summary["problems_out"],
        "seconds": round(seconds, 1),
        "problems_per_minute": round(summary["problems_in"] / seconds * 60, 1),
        "jobs": counts.jobs,
        "steps": counts.steps,
        "timeouts": counts.timeouts,
        "timeout_cpu_seconds": round(counts.timeout_seconds, 1),
        "kill_rate_pooled": mutants.get("kill_rate_pooled"),
        "output": out.read_bytes(),
    }


def corpus_rows(name: str, problems: Path, workers: int, tmp: Path, extra: dict, repeat: int) -> list[dict]:
    """Each row's run `repeat` times, the rows taking turns (so a slower stretch of a shared machine
    hits every row alike); the median time is reported, with the range."""
    runs: list[list[dict]] = [[] for _ in ROWS]
    for _ in range(repeat):
        for i, (_, settings) in enumerate(ROWS):
            runs[i].append(one_run(problems, tmp / f"{name}-{i}.jsonl", workers, settings, extra))
    first = runs[0][0]["output"]
    rows = []
    for (label, _), mine in zip(ROWS, runs):
        seconds = sorted(r["seconds"] for r in mine)
        row = dict(mine[0], setting=label, seconds=statistics.median(seconds), seconds_all=seconds)
        row["problems_per_minute"] = round(row["problems_in"] / row["seconds"] * 60, 1)
        row["same_output_as_first_row"] = all(r["output"] == first for r in mine)
        del row["output"]
        rows.append(row)
    return rows


def humaneval_file(n: int, tmp: Path) -> Path:
    from unitrl.eval.importers import load_humaneval

    path = tmp / "humaneval-hidden.jsonl"
    write_records(path, [replace(p, tests=[], meta={}) for p in load_humaneval()[:n]])
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--humaneval", type=int, default=164, help="HumanEval problems, tests hidden (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each row (the median is reported)")
    args = ap.parse_args()
    console = Console(width=160)
    result: dict = {"workers": args.workers, "repeat": args.repeat, "cpus": os.cpu_count(),
                    "load_before": os.getloadavg()[0]}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        mined = tmp / "mined.jsonl"
        run_mine(MineConfig(out=str(mined), workers=args.workers))
        result["stdlib"] = corpus_rows("stdlib", mined, args.workers, tmp, {}, args.repeat)
        if args.humaneval:
            he = humaneval_file(args.humaneval, tmp)
            result["humaneval"] = corpus_rows(
                "humaneval", he, args.workers, tmp, {"decontam": "off"}, args.repeat
            )
    result["load_after"] = os.getloadavg()[0]
    for corpus in ("stdlib", "humaneval"):
        if corpus not in result:
            continue
        t = Table(
            title=f"`unitrl synth` on {corpus} ({args.workers} sandbox workers, {os.cpu_count()} cores)"
        )
        cols = ("setting", "problems", "kept", "seconds", "problems/min", "jobs", "steps", "timeouts (CPU s)",
                "kill rate (pooled)", "same output as row 1")  # fmt: skip
        for c in cols:
            t.add_column(c, justify="left" if c == "setting" else "right")
        for r in result[corpus]:
            span = f"{r['seconds_all'][0]:.1f}-{r['seconds_all'][-1]:.1f}"
            t.add_row(r["setting"], str(r["problems_in"]), str(r["kept"]), f"{r['seconds']:.1f} ({span})",
                      f"{r['problems_per_minute']:.0f}", str(r["jobs"]), str(r["steps"]),
                      f"{r['timeouts']} ({r['timeout_cpu_seconds']:.1f})",
                      "-" if r["kill_rate_pooled"] is None else f"{r['kill_rate_pooled']:.3f}",
                      "yes" if r["same_output_as_first_row"] else "no")  # fmt: skip
        console.print(t)
    console.print(f"load average before {result['load_before']:.2f}, after {result['load_after']:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
