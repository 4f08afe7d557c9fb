"""`unitrl exec` (score samples against problems' tests) and `unitrl doctor` (which isolation is active).

`exec` reads problems and samples, grades them in the sandbox in chunks, appends finished results to
`<out>.partial` (a rerun reuses the results whose program, tests and limits are unchanged, and grades
the rest), and renames it to `<out>` when every sample is scored. It ends
with a summary table and a pass-rate histogram PNG beside the output. `--ray [ADDRESS]` grades on a Ray
cluster instead of this machine (`ray_pool`), with the same results.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from unitrl.config import config_command
from unitrl.errors import UserError
from unitrl.sandbox.ray_pool import ray_field, ray_option_value_optional

LAYER_TEXT = {
    "network": "network namespace: no interface up, no network at all",
    "mount": "mount namespace + pivot_root: read-only system/Python dirs, synthetic /etc, private /tmp",
    "pid": "PID namespace: everything a program leaves behind is killed and reaped",
    "ipc": "IPC + UTS namespaces",
    "uid": "children run as a spare unprivileged uid (we are root)",
    "user": "user namespace; children drop all capabilities",
    "seccomp": "seccomp filter: ptrace, bpf, io_uring, keyctl, mount/namespace calls... denied",
    "sysv_off": "SysV IPC switched off in the worker's IPC namespace",
}


@dataclass
class ExecConfig:
    problems: str = field(default="", metadata={"help": "problems JSONL (or .parquet)"})
    samples: str = field(default="", metadata={"help": "samples JSONL"})
    out: str = field(default="results.jsonl", metadata={"help": "results JSONL to write", "path": "out_file"})
    workers: int = field(
        default=0, metadata={"help": "sandbox workers (0 = one per core)", "min": 0, "max": 1024}
    )
    timeout: float = field(
        default=3.0, metadata={"help": "CPU seconds per test", "min": 0, "min_exclusive": True, "max": 86400}
    )
    memory_mb: int = field(
        default=1024, metadata={"help": "memory limit per program (MiB)", "min": 16, "max": 4194304}
    )
    isolation: str = field(
        default="auto",
        metadata={"help": "auto | none (rlimits and process group only)", "choices": ("auto", "none")},
    )
    require_isolation: bool = field(
        default=False, metadata={"help": "refuse to run without network, mount and PID namespaces"}
    )
    chunk: int = field(default=512, metadata={"help": "samples per resumable chunk", "min": 1})
    plot: bool = field(default=True, metadata={"help": "write a pass-rate histogram PNG"})
    ray: str = ray_field()


def sandbox_config(cfg: ExecConfig):
    from unitrl.sandbox.pool import SandboxConfig

    if cfg.isolation not in ("auto", "none"):
        raise UserError(f"unknown isolation mode {cfg.isolation!r} (auto | none)", field="isolation")
    return SandboxConfig(
        workers=cfg.workers,
        timeout=cfg.timeout,
        memory_mb=cfg.memory_mb,
        isolation=cfg.isolation,
        require_isolation=cfg.require_isolation,
    )


def grade_key(problem, sample, program: str, sandbox_cfg, _tests_key: dict | None = None) -> str:
    """Everything a verdict depends on: ids, the program, the problem's tests and the grading limits.
    `_tests_key` memoizes the problem part (hashing 20 tests once per problem, not once per sample)."""
    from unitrl.records import content_key

    memo = {} if _tests_key is None else _tests_key
    tests = memo.get(problem.task_id)
    if tests is None:
        tests = memo[problem.task_id] = content_key(
            problem.tests, problem.entry_point, problem.meta.get("float_tolerance")
        )
    limits = (sandbox_cfg.timeout, sandbox_cfg.memory_mb, sandbox_cfg.isolation)
    return content_key("grade", problem.task_id, str(sample.sample_id), program, tests, limits)


def grade_resumable(
    sandbox_cfg, problems: dict, samples: list, out: str | Path, chunk: int, console, ray_address: str = ""
) -> tuple[list[dict], int, dict]:
    """Grade samples into `out` through `<out>.partial`: a result is reused only when its sample, problem
    and limits are unchanged since the interrupted run; the rest are graded in chunks of `chunk`, on the
    local pool or, with `ray_address`, on a Ray cluster (`ray_pool.make_sandbox`).
    Returns (result rows in sample order, how many were graded now, the isolation layers)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from unitrl.records import ResumableWriter
    from unitrl.sandbox.grade import grade_samples
    from unitrl.sandbox.ray_pool import make_sandbox

    writer = ResumableWriter(out, key_fields=("task_id", "sample_id"))
    ids = [(s.task_id, str(s.sample_id)) for s in samples]
    memo: dict = {}
    keys = [
        grade_key(problems[s.task_id], s, s.program(problems[s.task_id]), sandbox_cfg, memo) for s in samples
    ]
    reused = writer.resume(dict(zip(ids, keys)))
    if note := writer.resume_note(len(samples), "results"):
        console.print(note)
    todo = [(s, k) for s, i, k in zip(samples, ids, keys) if i not in reused]
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn())
    try:
        with (
            make_sandbox(sandbox_cfg, ray_address) as sb,
            Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as bar,
        ):
            task = bar.add_task("grading", total=len(todo))
            for start in range(0, len(todo), max(1, chunk)):
                part = todo[start : start + max(1, chunk)]
                results = grade_samples(sb, problems, [s for s, _ in part], lambda n: bar.advance(task, n))
                for r, (_, key) in zip(results, part):
                    writer.write(r, key)
            layers = dict(sb.layers)
        for line in getattr(sb, "summary_lines", list)():  # what a Ray cluster did: nodes, restarts, losses
            console.print(line, markup=False, highlight=False)
        rows = writer.finish(ids)
    finally:
        writer.close()
    return rows, len(todo), layers


def run_exec(cfg: ExecConfig) -> list:
    from rich.console import Console

    from unitrl.records import Result, read_problems, read_samples, record_from_dict

    if not cfg.problems or not cfg.samples:
        raise UserError("both --problems and --samples are required")
    problems = {p.task_id: p for p in read_problems(cfg.problems)}
    samples = read_samples(cfg.samples)
    for s in samples:
        if s.task_id not in problems:
            raise UserError(
                f"task_id {s.task_id!r} is not in {cfg.problems}", path=cfg.samples, field="task_id"
            )
    console = Console(stderr=True)
    t0 = time.perf_counter()
    rows, n_run, layers = grade_resumable(
        sandbox_config(cfg), problems, samples, cfg.out, cfg.chunk, console, ray_address=cfg.ray
    )
    elapsed = time.perf_counter() - t0
    results = [record_from_dict(Result, r) for r in rows]
    print_summary(console, results, n_run, elapsed, layers)
    if cfg.plot and results:
        plot_pass_rates(results, Path(cfg.out).with_suffix(".hist.png"))
    return results


def print_summary(console, results: list, n_run: int, elapsed: float, layers: dict) -> None:
    from rich.table import Table

    statuses = collections.Counter(r.status for r in results)
    test_statuses = collections.Counter(t.status for r in results for t in r.tests)
    table = Table(title="unitrl exec", show_header=False)
    table.add_row("samples", str(len(results)))
    table.add_row("all tests passed", f"{sum(r.passed for r in results)} ({_pct(results, 'passed')})")
    table.add_row("mean pass rate", f"{sum(r.pass_rate for r in results) / max(len(results), 1):.3f}")
    table.add_row("sample status", ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
    table.add_row("test status", ", ".join(f"{k} {v}" for k, v in test_statuses.most_common()))
    if n_run:
        table.add_row(
            "throughput", f"{n_run / max(elapsed, 1e-9):.0f} programs/s ({n_run} in {elapsed:.1f} s)"
        )
    table.add_row("isolation", ", ".join(k for k in LAYER_TEXT if layers.get(k)) or "none (rlimits only)")
    console.print(table)
    if statuses.get("infrastructure-error"):
        console.print(
            f"[red]{statuses['infrastructure-error']} samples hit sandbox infrastructure errors[/red]"
        )


def _pct(results: list, attr: str) -> str:
    return f"{100 * sum(bool(getattr(r, attr)) for r in results) / max(len(results), 1):.1f}%"


def plot_pass_rates(results: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist([r.pass_rate for r in results], bins=20, range=(0, 1), color="#4477aa")
    ax.set_xlabel("pass rate")
    ax.set_ylabel("samples")
    ax.set_title(f"pass rates of {len(results)} samples")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


exec_command = config_command(
    "exec", ExecConfig, run_exec, "Run samples against problems' tests in the sandbox."
)


ray_option_value_optional(exec_command)


RLIMIT_TEXT = {
    "memory": "RLIMIT_AS: allocating twice the memory limit fails",
    "file size": "RLIMIT_FSIZE: writing past file_mb fails (EFBIG)",
    "open files": "RLIMIT_NOFILE: opening files stops below open_files",
    "processes": "RLIMIT_NPROC is set to processes",
    "core dumps": "RLIMIT_CORE is 0: no core files",
    "cpu time": "per-step CPU limit: a busy loop given 0.3 s ends as a timeout",
}

# The doctor's probe: run inside the sandbox as an ordinary program, one step per check, so a check that
# crashes cannot hide the others. Each function returns a plain value the parent judges.
DOCTOR_PROBE = r"""
import ctypes, errno, os, resource, socket

def _errno(code):
    return errno.errorcode.get(code, str(code))

def network():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # a numeric address: no name lookup
    sock.settimeout(0.2)
    try:
        sock.connect(("127.0.0.1", 1))
    except OSError as e:
        return _errno(e.errno) if e.errno else type(e).__name__
    return "connected"

def processes_visible():
    return sum(name.isdigit() for name in os.listdir("/proc"))

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return ""

def libc_call(name, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    return "allowed" if getattr(libc, name)(*args) >= 0 else _errno(ctypes.get_errno())

def memory(mb):
    try:
        bytearray(2 * mb * 1024 * 1024)
    except MemoryError:
        return "MemoryError"
    return "allocated"

def file_size(mb):
    try:
        with open("probe.bin", "wb") as fh:
            fh.write(b"x" * ((mb + 1) * 1024 * 1024))
    except OSError as e:
        return _errno(e.errno)
    finally:
        if os.path.exists("probe.bin"):
            os.remove("probe.bin")
    return "written"

def open_files():
    fds = []
    try:
        while len(fds) < 100000:
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    for fd in fds:
        os.close(fd)
    return len(fds)

def limit(name):
    return list(resource.getrlimit(getattr(resource, name)))
"""


def doctor_checks(cfg, marker: str, host_processes: int) -> list[tuple[str, str, str, Callable[[Any], bool]]]:
    """(row, the layer it proves or "rlimits", probe expression, does the value show it holds)."""
    import os

    ipc_create = "libc_call('shmget', 0, 4096, 0o1000 | 0o600)"  # IPC_PRIVATE, IPC_CREAT
    return [
        ("network", "network", "network()", lambda v: v not in ("connected", "ECONNREFUSED")),
        ("mount", "mount", f"os.path.exists({marker!r})", lambda v: v is False),
        ("pid", "pid", "processes_visible()", lambda v: v < host_processes),
        ("ipc", "ipc", ipc_create, lambda v: v != "allowed"),
        ("sysv_off", "sysv_off", ipc_create, lambda v: v != "allowed"),
        ("uid", "uid", "os.getuid()", lambda v: v not in (0, os.getuid())),
        ("user", "user", "status('CapEff')", lambda v: int(v or "1", 16) == 0),
        ("seccomp", "seccomp", "(status('Seccomp'), libc_call('ptrace', 0, 0, None, None))",
         lambda v: v[0] == "2" and v[1] != "allowed"),
        ("memory", "rlimits", f"memory({cfg.memory_mb})", lambda v: v == "MemoryError"),
        ("file size", "rlimits", f"file_size({cfg.file_mb})", lambda v: v == "EFBIG"),
        ("open files", "rlimits", "open_files()", lambda v: v < cfg.open_files),
        ("processes", "rlimits", "limit('RLIMIT_NPROC')", lambda v: v == [cfg.processes] * 2),
        ("core dumps", "rlimits", "limit('RLIMIT_CORE')", lambda v: v == [0, 0]),
    ]  # fmt: skip


def run_doctor_probes(sb, checks: list) -> list[tuple[str, str, str, bool]]:
    """(row, layer, what the probe saw, held) for every check, plus the CPU limit: a busy loop given
    0.3 s must end as a timeout."""
    from unitrl.sandbox.jobs import Job, Step

    steps = [Step("eval", exprs=[expr]) for _, _, expr, _ in checks]
    spin = Job("def spin():\n    while True:\n        pass\n", [Step("eval", exprs=["spin()"])], timeout=0.3)
    res, cpu = sb.run([Job(DOCTOR_PROBE, steps), spin])
    rows = []
    for (name, layer, _, holds), step in zip(checks, res.steps):
        if step.status != "ok":
            rows.append((name, layer, f"{step.status}: {step.error.strip()[:60]}", False))
        else:
            rows.append((name, layer, repr(step.values[0]), bool(holds(step.values[0]))))
    status = cpu.steps[0].status if cpu.steps else "no result"
    rows.append(("cpu time", "rlimits", f"busy loop -> {status}", status == "timeout"))
    return rows


@click.command("doctor")
@click.option(
    "--require-isolation", is_flag=True, help="exit 1 unless network, mount and PID namespaces work"
)
@click.option("--isolation", default="auto", help="auto | none")
def doctor(require_isolation: bool, isolation: str) -> None:
    """Show which isolation layers the sandbox gets here and prove each one, rlimits included, with a
    probe program run inside it. Exits 1 when a layer reported active does not hold."""
    import os
    import platform
    import tempfile

    from rich.console import Console
    from rich.table import Table

    from unitrl.sandbox.pool import REQUIRED_LAYERS, Sandbox, SandboxConfig

    console = Console()
    cfg = SandboxConfig(workers=1, isolation=isolation)
    host_processes = sum(name.isdigit() for name in os.listdir("/proc"))
    with tempfile.NamedTemporaryFile(prefix="unitrl-doctor-") as marker, Sandbox(cfg) as sb:
        layers = {**sb.layers, "rlimits": True}
        rows = run_doctor_probes(sb, doctor_checks(cfg, marker.name, host_processes))
    table = Table(title=f"unitrl sandbox on {platform.system()} {platform.release()} (uid {os.getuid()})")
    for column in ("layer", "active", "probe saw", "holds", "what it gives"):
        table.add_column(column)
    broken = []
    for name, layer, seen, held in rows:
        active = layers.get(layer, False)
        if active and not held:
            broken.append(name)
        mark = "[green]yes[/green]" if held else ("[red]NO[/red]" if active else "[yellow]no[/yellow]")
        label, what = (
            (name, LAYER_TEXT[name]) if layer != "rlimits" else (f"rlimit: {name}", RLIMIT_TEXT[name])
        )
        table.add_row(label, "yes" if active else "[red]no[/red]", seen, mark, what)
    console.print(table)
    console.print(
        f"probes: the caller's file {marker.name} for mount, {host_processes} host processes for pid"
    )
    if broken:
        console.print(f"[red]reported active but not holding: {', '.join(broken)}[/red]")
    missing = [n for n in REQUIRED_LAYERS if not layers.get(n)]
    if missing:
        console.print(
            f"[yellow]missing: {', '.join(missing)}[/yellow] - programs can reach what these would hide. "
            "Use --require-isolation on exec/eval to refuse to run like this."
        )
    if broken or (missing and require_isolation):
        raise SystemExit(1)
