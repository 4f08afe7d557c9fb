"""`unitrl exec` (score samples against problems' tests) and `unitrl doctor` (which isolation is active).

`exec` reads problems and samples, grades them in the sandbox in chunks, appends finished results to
`<out>.partial` (a rerun reuses the results whose program, tests and limits are unchanged, and grades
the rest), and renames it to `<out>` when every sample is scored. It ends
with a summary table and a pass-rate histogram PNG beside the output.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from unitrl.config import config_command
from unitrl.errors import UserError

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
    sandbox_cfg, problems: dict, samples: list, out: str | Path, chunk: int, console
) -> tuple[list[dict], int, dict]:
    """Grade samples into `out` through `<out>.partial`: a result is reused only when its sample, problem
    and limits are unchanged since the interrupted run; the rest are graded in chunks of `chunk`.
    Returns (result rows in sample order, how many were graded now, the isolation layers)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from unitrl.records import ResumableWriter
    from unitrl.sandbox.grade import grade_samples
    from unitrl.sandbox.pool import Sandbox

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
            Sandbox(sandbox_cfg) as sb,
            Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as bar,
        ):
            task = bar.add_task("grading", total=len(todo))
            for start in range(0, len(todo), max(1, chunk)):
                part = todo[start : start + max(1, chunk)]
                results = grade_samples(sb, problems, [s for s, _ in part], lambda n: bar.advance(task, n))
                for r, (_, key) in zip(results, part):
                    writer.write(r, key)
            layers = dict(sb.layers)
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
    rows, n_run, layers = grade_resumable(sandbox_config(cfg), problems, samples, cfg.out, cfg.chunk, console)
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


@click.command("doctor")
@click.option(
    "--require-isolation", is_flag=True, help="exit 1 unless network, mount and PID namespaces work"
)
@click.option("--isolation", default="auto", help="auto | none")
def doctor(require_isolation: bool, isolation: str) -> None:
    """Show which isolation layers the sandbox gets on this machine, and prove them with probes."""
    import os
    import platform

    from rich.console import Console
    from rich.table import Table

    from unitrl.sandbox.jobs import Job, Step
    from unitrl.sandbox.pool import REQUIRED_LAYERS, Sandbox, SandboxConfig

    console = Console()
    probe = (
        "import os, socket\n"
        "def net():\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', 1), timeout=0.2)\n"
        "    except OSError as e:\n"
        "        return type(e).__name__ + ': ' + str(e)\n"
        "    return 'connected'\n"
    )
    with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sb:
        layers = sb.layers
        [res] = sb.run(
            [
                Job(
                    probe,
                    [
                        Step(
                            "eval",
                            exprs=[
                                "net()",
                                "os.getuid()",
                                "os.getpid()",
                                "sorted(os.listdir('/'))",
                                f"sorted(os.listdir({os.getcwd()!r})) if os.path.isdir({os.getcwd()!r}) else None",
                            ],
                        )
                    ],
                )
            ]
        )
    table = Table(title=f"unitrl sandbox on {platform.system()} {platform.release()} (uid {os.getuid()})")
    table.add_column("layer")
    table.add_column("active")
    table.add_column("what it gives")
    for name, text in LAYER_TEXT.items():
        table.add_row(name, "[green]yes[/green]" if layers.get(name) else "[red]no[/red]", text)
    table.add_row(
        "rlimits", "[green]yes[/green]", "memory, CPU time, file size, open files, processes, no core"
    )
    console.print(table)
    step = res.steps[0]
    if step.status == "ok":
        net, uid, pid, root, cwd_visible = step.values
        console.print(
            f"probe: connect to 127.0.0.1 -> {net}; uid {uid}; pid {pid}; / = {root}; "
            f"the caller's folder {os.getcwd()} shows {cwd_visible}"
        )
    else:
        console.print(f"[red]probe failed: {step.status} {step.error}[/red]")
    missing = [n for n in REQUIRED_LAYERS if not layers.get(n)]
    if missing:
        console.print(
            f"[yellow]missing: {', '.join(missing)}[/yellow] - programs can reach what these would hide. "
            "Use --require-isolation on exec/eval to refuse to run like this."
        )
        if require_isolation:
            raise SystemExit(1)
