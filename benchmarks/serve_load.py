"""Load test of `unitrl serve` on loopback: throughput against the same warm pool called in-process.

One run, one machine, loopback only, bounded in count and time:
  (a) in-process: `grade_programs` on a warm `Sandbox` in this process (the ceiling);
  (b) `unitrl serve`, native `POST /grade`: `--clients` concurrent HTTP clients (httpx), each sending
      `--per-request` programs per request until `--programs` are graded. (a) and (b) alternate in
      `--rounds` rounds on the same programs, so a change in machine load hits both alike;
  (c) the same programs through the SandboxFusion-compatible `POST /run_code` (one program plus its
      HumanEval check per request, as verl sends them; pass = a clean exit, SandboxFusion's rule);
  (d) the same programs through OpenRLHF's `POST /get_reward` (one sample per request, as OpenRLHF
      0.11 sends them; the label is the task_id of the server's `--problems` file);
  (e) a burst beyond the queue's capacity, all at once: the excess must get 503, memory must not grow.
Then the server is stopped with SIGTERM and checked for leftovers: processes it started (and any
process under its sandbox's uids), file descriptors it gained during the load, temp files it left.
Verdicts of (b) and (d) must equal (a)'s; (c) is reported as agreement with (a). Workload: HumanEval's
164 problems, canonical solutions and known-wrong variants (`unitrl.eval.wrong`), repeated to size.
Prints a table; the full run writes benchmarks/results/serve_load.json.

    .venv/bin/python benchmarks/serve_load.py [--workers 2] [--clients 64] [--programs 10240]
    .venv/bin/python benchmarks/serve_load.py --quick --out /tmp/serve_load.json   # smoke test, < 30 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unitrl.eval.importers import load_humaneval
from unitrl.eval.wrong import canonical_samples, wrong_samples
from unitrl.records import write_records, write_text_atomic

RESULTS = Path(__file__).parent / "results" / "serve_load.json"
FULL = {
    "programs": 10240,
    "clients": 64,
    "per_request": 16,
    "rounds": 4,
    "queue": 4096,
    "burst": 128,
    "burst_size": 64,
}
QUICK = {
    "programs": 480,
    "clients": 16,
    "per_request": 8,
    "rounds": 2,
    "queue": 512,
    "burst": 24,
    "burst_size": 64,
}


# ------------------------------------------------------------------------------------------ workload


def build_workload(n: int) -> dict:
    """HumanEval problems and `n` programs (canonical and wrong ones, cycled), with what each endpoint needs."""
    problems = load_humaneval()
    by_id = {p.task_id: p for p in problems}
    base = canonical_samples(problems) + wrong_samples(problems, per_task=4)
    samples = [base[i % len(base)] for i in range(n)]
    items = [(by_id[s.task_id], s.program(by_id[s.task_id]), i) for i, s in enumerate(samples)]
    scripts = [  # SandboxFusion's HumanEval form: program, the check function, the call
        f"{prog}\n\n{p.meta['original_test']}\ncheck({p.entry_point})\n" for p, prog, _ in items
    ]
    return {"problems": problems, "items": items, "samples": samples, "scripts": scripts}


def native_bodies(items: list, per_request: int) -> list[dict]:
    return [
        {"samples": [{"task_id": p.task_id, "sample_id": sid, "solution": prog} for p, prog, sid in chunk]}
        for chunk in (items[i : i + per_request] for i in range(0, len(items), per_request))
    ]


def openrlhf_bodies(wl: dict) -> list[dict]:
    """One sample per request, as OpenRLHF 0.11 sends: the query is prompt + response + end marker."""
    out = []
    for (problem, _, _), sample in zip(wl["items"], wl["samples"]):
        query = problem.prompt + sample.completion + "<|endoftext|>"
        out.append({"query": [query], "prompts": [problem.prompt], "labels": [problem.task_id]})
    return out


# ------------------------------------------------------------------------------------- the server


def start_server(args: list[str]) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "unitrl", "serve", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError("unitrl serve did not start")


def proc_tree(pid: int) -> set[int]:
    """Live processes below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def child_uids(pid: int) -> range:
    """The uids `Sandbox` gives a process's sandbox children (see unitrl.sandbox.pool.Sandbox)."""
    start = 1_000_000 + (pid % 1_000_000) * 16 * 256
    return range(start, start + 16 * 256)


def processes_with_uid(uids: range) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            line = next(
                x for x in Path(f"/proc/{entry}/status").read_text().splitlines() if x.startswith("Uid:")
            )
        except (OSError, StopIteration):
            continue
        if int(line.split()[1]) in uids:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def suspect_temp(names: set[str], pid: int) -> list[str]:
    """New temp entries that are the server's: named after it or unitrl, or owned by its sandbox uids."""
    tmp, uids, out = tempfile.gettempdir(), child_uids(pid), []
    for name in names:
        try:
            owner = os.stat(os.path.join(tmp, name)).st_uid
        except OSError:
            continue
        if str(pid) in name or name.startswith("unitrl") or owner in uids:
            out.append(name)
    return sorted(out)


# ----------------------------------------------------------------------------------------- the load


async def load(url: str, bodies: list[dict], clients: int) -> dict:
    """`clients` concurrent clients send the bodies, each taking the next one; answers kept in order.
    aiohttp (OpenRLHF's client library): on a 2-core machine the load generator's own CPU counts."""
    import aiohttp

    answers: list = [None] * len(bodies)
    latencies: list[float] = []
    next_index = iter(range(len(bodies)))

    async def client(http: aiohttp.ClientSession) -> None:
        for i in next_index:
            start = time.perf_counter()
            async with http.post(url, json=bodies[i]) as response:
                answer = await response.json() if response.status == 200 else await response.text()
            latencies.append(time.perf_counter() - start)
            answers[i] = (response.status, answer)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as http:
        start = time.perf_counter()
        await asyncio.gather(*[client(http) for _ in range(clients)])
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "answers": answers, "latencies": latencies}


async def burst(url: str, bodies: list[dict]) -> dict[str, int]:
    """Every body at once, no retries: how many were served, refused (503) or failed otherwise."""
    import httpx

    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        responses = await asyncio.gather(*[http.post(url, json=b) for b in bodies])
    codes = [r.status_code for r in responses]
    served_right = sum(
        r.status_code == 200 and len(r.json()["results"]) == len(b["samples"])
        for r, b in zip(responses, bodies)
    )
    refused = [r for r in responses if r.status_code == 503]
    return {
        "requests": len(codes),
        "served": codes.count(200),
        "served_complete": served_right,
        "refused_503": len(refused),
        "refused_with_retry_after": sum("retry-after" in r.headers for r in refused),
        "other": len(codes) - codes.count(200) - codes.count(503),
    }


def percentiles(latencies: list[float]) -> dict:
    values = sorted(latencies)
    pick = lambda q: values[min(len(values) - 1, max(0, int(q * len(values) + 0.999999) - 1))]  # noqa: E731
    return {"p50_ms": round(1000 * pick(0.5), 1), "p99_ms": round(1000 * pick(0.99), 1)}


# ------------------------------------------------------------------------------------------ the run


def run(cfg: dict, workers: int, timeout: float) -> dict:
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.sandbox.grade import grade_programs

    wl = build_workload(cfg["programs"])
    items, n = wl["items"], cfg["programs"]
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    problems_file = work / "problems.jsonl"
    write_records(problems_file, wl["problems"])
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    queue = cfg["queue"]
    proc, url = start_server(
        [
            "--workers",
            str(workers),
            "--timeout",
            str(timeout),
            "--problems",
            str(problems_file),
            "--queue",
            str(queue),
        ]
    )
    seen = proc_tree(proc.pid)
    report: dict = {"programs": n, "clients": cfg["clients"], "per_request": cfg["per_request"], "workers": workers,
                    "queue": queue, "cpu_count": os.cpu_count(), "python": platform.python_version(), "nice": os.nice(0),
                    "load_average_before": os.getloadavg()}  # fmt: skip
    try:
        with Sandbox(SandboxConfig(workers=workers, timeout=timeout)) as sb:
            grade_programs(sb, items[:64])  # warm: zygotes up, steps compiled
            asyncio.run(load(f"{url}/grade", native_bodies(items[:64], 8), 8))
            fds_warm = stable_fd_count(proc.pid)
            seen |= proc_tree(proc.pid)
            report.update(interleaved(sb, url, items, cfg, grade_programs))
        seen |= proc_tree(proc.pid)
        truth = report.pop("_truth")
        run_code = [{"code": s, "language": "python", "stdin": "", "run_timeout": 10, "compile_timeout": 10,
                     "memory_limit_MB": 1024, "files": {}, "fetch_files": []} for s in wl["scripts"]]  # fmt: skip
        report["run_code"] = endpoint_phase(url, "run_code", run_code, cfg, truth)
        report["openrlhf"] = endpoint_phase(url, "get_reward", openrlhf_bodies(wl), cfg, truth)
        rss_before = status_kb(proc.pid, "VmRSS")
        many = [items[i % n] for i in range(cfg["burst"] * cfg["burst_size"])]
        bodies = native_bodies(many, cfg["burst_size"])
        report["burst"] = asyncio.run(burst(f"{url}/grade", bodies))
        report["burst"].update(rss_before_mib=round(rss_before / 1024, 1),
                               rss_after_mib=round(status_kb(proc.pid, "VmRSS") / 1024, 1),
                               peak_rss_mib=round(status_kb(proc.pid, "VmHWM") / 1024, 1))  # fmt: skip
        report["fds_gained"] = settle_fds(proc.pid, fds_warm)
        seen |= proc_tree(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        report["exit_code"] = proc.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    time.sleep(0.5)
    report["leftover_processes"] = sorted(
        {p for p in seen if alive(p)} | set(processes_with_uid(child_uids(proc.pid)))
    )
    report["leftover_temp_files"] = suspect_temp(
        set(os.listdir(tempfile.gettempdir())) - tmp_before, proc.pid
    )
    report["benchmark_leftover_processes"] = sorted(proc_tree(os.getpid()))
    report["load_average_after"] = os.getloadavg()
    return report


def interleaved(sb, url: str, items: list, cfg: dict, grade_programs) -> dict:
    """(a) and (b) in alternating rounds over the same programs; verdicts of (b) must equal (a)'s."""
    rounds, per = cfg["rounds"], -(-len(items) // cfg["rounds"])
    ip_seconds = sv_seconds = 0.0
    truth: list = []
    latencies: list[float] = []
    errors = mismatches = 0
    for r in range(rounds):
        part = items[r * per : (r + 1) * per]
        start = time.perf_counter()
        results = grade_programs(sb, part)
        ip_seconds += time.perf_counter() - start
        truth += [(x.passed, x.status) for x in results]
        got = asyncio.run(load(f"{url}/grade", native_bodies(part, cfg["per_request"]), cfg["clients"]))
        sv_seconds += got["seconds"]
        latencies += got["latencies"]
        rows = []
        for code, answer in got["answers"]:
            errors += code != 200
            rows += answer["results"] if code == 200 else []
        mismatches += sum((row["passed"], row["status"]) != t for row, t in zip(rows, truth[-len(part) :]))
    n = len(items)
    return {
        "in_process": {"seconds": round(ip_seconds, 3), "programs_per_second": round(n / ip_seconds, 1)},
        "native": {"seconds": round(sv_seconds, 3), "programs_per_second": round(n / sv_seconds, 1),
                   "requests": -(-n // cfg["per_request"]), "errors": errors, "verdict_mismatches": mismatches,
                   **percentiles(latencies)},
        "throughput_ratio": round(ip_seconds / sv_seconds, 3),
        "_truth": [passed for passed, _ in truth],
    }  # fmt: skip


def endpoint_phase(url: str, path: str, bodies: list[dict], cfg: dict, truth: list[bool]) -> dict:
    """(c) or (d): one program per request; verdict = Success (run_code) or reward 1 (OpenRLHF)."""
    got = asyncio.run(load(f"{url}/{path}", bodies, cfg["clients"]))
    errors = agree = 0
    for (code, answer), want in zip(got["answers"], truth):
        if code != 200 or (path == "run_code" and answer["status"] == "SandboxError"):
            errors += 1
            continue
        verdict = answer["status"] == "Success" if path == "run_code" else answer["rewards"][0] == 1.0
        agree += verdict == want
    n = len(bodies)
    out = {"seconds": round(got["seconds"], 3), "programs_per_second": round(n / got["seconds"], 1),
           "requests": n, "errors": errors, "agree_with_in_process": agree,
           **percentiles(got["latencies"])}  # fmt: skip
    if path == "get_reward":
        out["verdict_mismatches"] = n - errors - agree
    return out


def stable_fd_count(pid: int) -> int:
    """The server's open file descriptors once the count has not changed for half a second (clients
    that just finished take a moment to be closed on the server's side)."""
    last, since, deadline = fd_count(pid), time.monotonic(), time.monotonic() + 10
    while time.monotonic() - since < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
        now = fd_count(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


def settle_fds(pid: int, before: int) -> int:
    """File descriptors the server holds beyond its warm count, once client connections are closed."""
    return stable_fd_count(pid) - before


# ---------------------------------------------------------------------------------------- reporting


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    n = report["programs"]
    table = Table(title=f"unitrl serve under load: {n} programs, {report['clients']} clients, "
                        f"{report['workers']} sandbox workers")  # fmt: skip
    for column in (
        "path",
        "seconds",
        "programs/s",
        "vs in-process",
        "p50 ms",
        "p99 ms",
        "errors",
        "verdicts",
    ):
        table.add_column(column, justify="left" if column == "path" else "right")
    ip = report["in_process"]
    table.add_row("in-process grade_programs (warm pool)", f"{ip['seconds']:.2f}", f"{ip['programs_per_second']:.0f}",
                  "1.00x", "-", "-", "-", "reference")  # fmt: skip
    rows = (
        ("native POST /grade", report["native"], "verdict_mismatches"),
        ("SandboxFusion POST /run_code", report["run_code"], None),
        ("OpenRLHF POST /get_reward", report["openrlhf"], "verdict_mismatches"),
    )
    for name, row, key in rows:
        verdicts = f"{n - row[key]}/{n} equal" if key else f"{row['agree_with_in_process']}/{n} agree"
        table.add_row(name, f"{row['seconds']:.2f}", f"{row['programs_per_second']:.0f}",
                      f"{ip['seconds'] / row['seconds']:.2f}x", f"{row['p50_ms']:.0f}", f"{row['p99_ms']:.0f}",
                      str(row["errors"]), verdicts)  # fmt: skip
    console = Console(width=max(Console().width, 130))
    console.print(table)
    b = report["burst"]
    console.print(
        f"burst of {b['requests']} requests x {report['burst_size']} programs at once (queue {report['queue']}): "
        f"{b['served']} served, {b['refused_503']} refused with 503 ({b['refused_with_retry_after']} with "
        f"Retry-After), {b['other']} other; server RSS {b['rss_before_mib']} -> {b['rss_after_mib']} MiB "
        f"(peak {b['peak_rss_mib']} MiB)"
    )
    console.print(
        f"after SIGTERM: exit code {report['exit_code']}, leftover processes {report['leftover_processes']}, "
        f"file descriptors gained {report['fds_gained']}, leftover temp files {report['leftover_temp_files']}"
    )
    console.print(f"load average before/after: {report['load_average_before'][0]:.2f} / "
                  f"{report['load_average_after'][0]:.2f} (CPU cores: {report['cpu_count']})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke-test size (< 30 s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--programs", type=int)
    parser.add_argument("--clients", type=int)
    parser.add_argument(
        "--out", type=Path, help="JSON report (default: results/serve_load.json unless --quick)"
    )
    args = parser.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    cfg.update({k: v for k, v in (("programs", args.programs), ("clients", args.clients)) if v})
    report = run(cfg, args.workers, args.timeout)
    report.update(
        quick=args.quick, burst_size=cfg["burst_size"], latency="per request, client side, loopback"
    )
    print_table(report)
    out = args.out or (None if args.quick else RESULTS)
    if out:
        write_text_atomic(out, json.dumps(report, indent=2) + "\n")
        print(f"wrote {out}")
    problems = [
        report["native"]["errors"], report["native"]["verdict_mismatches"], report["run_code"]["errors"],
        report["openrlhf"]["errors"], report["openrlhf"]["verdict_mismatches"], report["burst"]["other"],
        len(report["leftover_processes"]), len(report["leftover_temp_files"]), report["fds_gained"] > 0,
        report["exit_code"], report["burst"]["refused_503"] == 0,
    ]  # fmt: skip
    sys.exit(1 if any(problems) else 0)


if __name__ == "__main__":
    main()
