"""`unitrl exec --ray` on a real two-node local Ray cluster against local `unitrl exec`, plus the faults.

One run, one machine: this script starts a Ray head and a second node process (`ray start --block`,
one CPU each, small object stores, no dashboard), each in a session of its own so it can be killed as a
whole, and stops both at the end. Workload: HumanEval's 164 canonical solutions and its 1,092 known-wrong
variants (`unitrl.eval.wrong`), twice (the second copy carries a trailing comment, so every program
text is distinct): 2,512 programs. Measured side by side:
  (a) `unitrl exec` on this machine (`--workers 2`, as many workers as the cluster has CPUs), end to end;
  (b) `unitrl exec --ray ADDRESS` on the cluster, end to end; its results must equal (a)'s, field by
      field (durations aside);
  warm: the same jobs graded twice in this process on an already-started pool, local `Sandbox` and
      `RaySandbox`; the second run is timed (no start-up: what Ray's batching costs per program);
  (c) kill: `RaySandbox.run` in this process while one node's sandbox actor is SIGKILLed mid-run (Ray
      restarts it, its batches are retried): verdicts must equal (a)'s, each job delivered exactly once;
  (d) node loss: a third node joins, then the whole node (raylet, workers, actor) is SIGKILLed mid-run:
      reported, its unfinished jobs rerun on the others; verdicts must equal (a)'s.
Prints a table; the full run writes benchmarks/results/ray_exec.json.

    .venv/bin/python benchmarks/ray_exec.py [--rounds 2]
    .venv/bin/python benchmarks/ray_exec.py --rounds 1 --limit 300 --out /tmp/ray_exec.json  # smoke test
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import canonical_samples, wrong_samples
from unitrl.records import Sample, write_records, write_text_atomic

RESULTS = Path(__file__).parent / "results" / "ray_exec.json"
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
HEAD_CONFIG = (
    '{"health_check_period_ms":500,"health_check_failure_threshold":3,"health_check_initial_delay_ms":500}'
)


# ------------------------------------------------------------------------------------------ cluster


def start_node(args: list[str], log: Path) -> subprocess.Popen:
    """`ray start --block` in its own session: the node's processes all keep that session id."""
    cmd = [RAY, "start", "--block", "--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [*cmd, *args], env=ENV, start_new_session=True, stdout=fh, stderr=subprocess.STDOUT
        )


def kill_session(sid: int) -> None:
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            continue


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def start_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head_args = ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp / 'ray'}"]
    nodes = [start_node([*head_args, f"--system-config={HEAD_CONFIG}"], tmp / "head.log")]

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, 60, "the Ray head did not start")
    address = f"127.0.0.1:{port}"
    nodes.append(start_node([f"--address={address}"], tmp / "node1.log"))
    return address, nodes


def alive_nodes() -> int:
    import ray

    return sum(bool(n["Alive"]) for n in ray.nodes())


# ------------------------------------------------------------------------------------------ workload


def workload(rounds: int, limit: int) -> tuple[list, list[Sample]]:
    problems = load_humaneval()
    base = canonical_samples(problems) + wrong_samples(problems, per_task=99)
    samples = []
    for r in range(rounds):
        for s in base:
            tail = f"\n# copy {r}\n" if r else ""
            samples.append(
                Sample(task_id=s.task_id, sample_id=f"{s.sample_id}/{r}", completion=s.completion + tail)
            )
    return problems, samples[:limit] if limit else samples


def exec_cli(tmp: Path, name: str, extra: list[str]) -> tuple[float, list[dict], str]:
    out = tmp / f"{name}.jsonl"
    cmd = [sys.executable, "-m", "unitrl", "exec", "--problems", str(tmp / "problems.jsonl"),
           "--samples", str(tmp / "samples.jsonl"), "--out", str(out), "--no-plot", *extra]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{name}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return seconds, [json.loads(line) for line in out.read_text().splitlines()], proc.stderr


def comparable(row: dict) -> dict:
    return {**{k: v for k, v in row.items() if k != "duration"}, "tests": [
        {k: v for k, v in t.items() if k != "duration"} for t in row["tests"]]}  # fmt: skip


def verdict(r) -> tuple:
    return (r.task_id, str(r.sample_id), r.status, r.passed, [t.status for t in r.tests])


def row_verdict(row: dict) -> tuple:
    return (row["task_id"], str(row["sample_id"]), row["status"], row["passed"],
            [t["status"] for t in row["tests"]])  # fmt: skip


def warm_run(make, items: list) -> dict:
    """Throughput of an already-started pool: the second of two runs of the same jobs (no start-up)."""
    from unitrl.sandbox.grade import grade_programs

    with make() as sb:
        grade_programs(sb, items)
        start = time.perf_counter()
        results = grade_programs(sb, items)
        seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 2),
        "programs_per_second": round(len(items) / seconds, 1),
        "verdicts": [verdict(r) for r in results],
    }


def faulted_run(address: str, problems: list, samples: list[Sample], fault) -> dict:
    """Grade in this process on a RaySandbox while `fault(sandbox)` strikes once, after 10% of the jobs."""
    from unitrl.sandbox.grade import build_job, judge_job
    from unitrl.sandbox.pool import SandboxConfig
    from unitrl.sandbox.ray_pool import RaySandbox

    by_id = {p.task_id: p for p in problems}
    items = [(by_id[s.task_id], s.program(by_id[s.task_id]), s.sample_id) for s in samples]
    delivered: collections.Counter = collections.Counter()
    verdicts: list = [None] * len(items)
    with RaySandbox(SandboxConfig(), address) as sb:
        struck = []

        def on_result(i, res) -> None:
            delivered[i] += 1
            verdicts[i] = verdict(judge_job(items[i][0], res, items[i][2]))
            if not struck and sum(delivered.values()) >= len(items) // 10:
                struck.append(time.perf_counter())
                fault(sb)

        start = time.perf_counter()
        sb.run([build_job(p, prog, tag=i) for i, (p, prog, _) in enumerate(items)], on_result=on_result)
        seconds = time.perf_counter() - start
        lines, restarts, rerun = sb.summary_lines(), sb.restarts, sum(sb.rerun.values())
    return {
        "seconds": round(seconds, 2),
        "programs_per_second": round(len(items) / seconds, 1),
        "struck": bool(struck),
        "actor_restarts": restarts,
        "jobs_rerun": rerun,
        "delivered_once": sum(n == 1 for n in delivered.values()),
        "duplicates": sum(n - 1 for n in delivered.values() if n > 1),
        "lost": len(items) - len(delivered),
        "verdicts": verdicts,
        "summary": lines,
    }


# ------------------------------------------------------------------------------------------ main


def run(rounds: int, limit: int) -> dict:
    import ray

    problems, samples = workload(rounds, limit)
    tmp = Path(tempfile.mkdtemp(prefix="unitrl-ray-bench-"))
    nodes: list[subprocess.Popen] = []
    try:
        write_records(tmp / "problems.jsonl", problems)
        write_records(tmp / "samples.jsonl", samples)
        local_s, local_rows, _ = exec_cli(tmp, "local", ["--workers", "2"])
        address, nodes = start_cluster(tmp)
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        wait_for(lambda: alive_nodes() == 2, 60, "the second Ray node did not join")
        ray_s, ray_rows, ray_err = exec_cli(tmp, "ray", ["--ray", address])
        want = [row_verdict(r) for r in local_rows]

        def kill_actor(sb) -> None:
            os.kill(sb.actors[-1].pid, signal.SIGKILL)

        from unitrl.sandbox.pool import Sandbox, SandboxConfig
        from unitrl.sandbox.ray_pool import RaySandbox

        by_id = {p.task_id: p for p in problems}
        items = [(by_id[s.task_id], s.program(by_id[s.task_id]), s.sample_id) for s in samples]
        warm_local = warm_run(lambda: Sandbox(SandboxConfig(workers=2)), items)
        warm_ray = warm_run(lambda: RaySandbox(SandboxConfig(), address), items)
        killed = faulted_run(address, problems, samples, kill_actor)
        nodes.append(start_node([f"--address={address}"], tmp / "node2.log"))
        wait_for(lambda: alive_nodes() == 3, 60, "the third Ray node did not join")
        extra = nodes[-1]

        def kill_node(sb) -> None:
            kill_session(extra.pid)  # the run goes on while Ray notices (about 1.5 s with HEAD_CONFIG)
            wait_for(lambda: alive_nodes() == 2, 30, "Ray did not notice the dead node")

        lost = faulted_run(address, problems, samples, kill_node)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in nodes:
            kill_session(node.pid)
            node.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(samples)
    statuses = collections.Counter(r["status"] for r in local_rows)
    report = {
        "programs": n,
        "distinct_programs": len({(s.task_id, s.completion) for s in samples}),
        "local_statuses": dict(statuses.most_common()),
        "local_exec": {"seconds": round(local_s, 2), "programs_per_second": round(n / local_s, 1)},
        "ray_exec": {
            "seconds": round(ray_s, 2),
            "programs_per_second": round(n / ray_s, 1),
            "identical_results": [comparable(r) for r in ray_rows] == [comparable(r) for r in local_rows],
            "mismatches": sum(a != b for a, b in zip(map(row_verdict, ray_rows), want)),
            "summary": [line for line in ray_err.splitlines() if line.startswith("ray:")],
        },
    }
    for name, res in (("warm_local", warm_local), ("warm_ray", warm_ray), ("actor_killed", killed),
                      ("node_lost", lost)):  # fmt: skip
        got = res.pop("verdicts")
        res["mismatches"] = sum(a != b for a, b in zip(got, want))
        res["infrastructure_errors"] = sum(v[2] == "infrastructure-error" for v in got)
        res.setdefault("duplicates", 0)
        res.setdefault("lost", 0)
        report[name] = res
    report["machine"] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "cluster": "head + 1 node (+1 for node_lost), 1 CPU each, one machine",
    }
    return report


def print_table(report: dict) -> None:
    print(f"\n{report['programs']} programs ({report['distinct_programs']} distinct), "
          f"local verdicts {report['local_statuses']}")  # fmt: skip
    print(f"{'run':<28}{'seconds':>9}{'prog/s':>9}{'mismatch':>10}{'dup':>5}{'lost':>6}{'restarts':>10}")
    rows = [("unitrl exec (local, 2 w)", report["local_exec"], 0, 0, 0, "")]
    rows.append(
        ("unitrl exec --ray (2 nodes)", report["ray_exec"], report["ray_exec"]["mismatches"], 0, 0, "")
    )
    labels = {"warm_local": "warm pool, local (2 w)", "warm_ray": "warm pool, ray (2 nodes)",
              "actor_killed": "ray, an actor SIGKILLed", "node_lost": "ray, a node SIGKILLed"}  # fmt: skip
    for name, label in labels.items():
        r = report[name]
        rows.append((label, r, r["mismatches"], r["duplicates"], r["lost"], r.get("actor_restarts", "")))
    for label, r, mismatch, dup, lost, restarts in rows:
        print(f"{label:<28}{r['seconds']:>9}{r['programs_per_second']:>9}{mismatch:>10}{dup:>5}{lost:>6}"
              f"{restarts!s:>10}")  # fmt: skip
    print(f"ray exec results identical to local: {report['ray_exec']['identical_results']}")
    for name in ("actor_killed", "node_lost"):
        for line in report[name]["summary"]:
            print(f"  {name}: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="copies of the 1,256 HumanEval programs")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N programs (0 = all)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    report = run(args.rounds, args.limit)
    print_table(report)
    write_text_atomic(Path(args.out), json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
