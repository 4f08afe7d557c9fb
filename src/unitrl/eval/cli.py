"""`unitrl eval`: pass@k of samples on HumanEval or any problems file (`unitrl import` lives in
`unitrl.formats.cli`). Grading goes through the sandbox, resumable like `exec` (`unitrl.sandbox.cli.grade_resumable`);
the per-sample results, a summary and the resolved config are written atomically into the output folder.
Each sample's program is the one `unitrl.policy_io` takes from it (`Sample.program`), as in RL's own
evaluation. Greedy samples (`meta.greedy` true, as `unitrl sample --greedy` writes them) are reported as
greedy pass@1 on their own and never counted into the sampled pass@k: one correct greedy answer among
wrong samples at temperature is not evidence about the sampled distribution.
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.config import config_command, save_config
from unitrl.errors import UserError
from unitrl.eval.importers import IMPORTERS
from unitrl.eval.passk import pass_at_k, task_counts
from unitrl.records import (
    Problem,
    Result,
    Sample,
    read_problems,
    read_samples,
    write_text_atomic,
)
from unitrl.sandbox.ray_pool import ray_field, ray_option_value_optional


@dataclass
class EvalConfig:
    benchmark: list[str] = field(
        default_factory=list, metadata={"positional": True, "help": "benchmark name (humaneval)"}
    )
    problems: str | None = field(default=None, metadata={"help": "problems JSONL (overrides the benchmark)"})
    samples: str | None = field(default=None, metadata={"help": "samples JSONL (completion or solution)"})
    out_dir: str = field(
        default="runs/eval", metadata={"help": "folder for results.jsonl and summary.json", "path": "out_dir"}
    )
    k: list[int] = field(
        default_factory=lambda: [1, 10, 100], metadata={"help": "k of pass@k (repeatable)", "min": 1}
    )
    workers: int = field(
        default=0, metadata={"help": "sandbox workers (0 = one per CPU core)", "min": 0, "max": 1024}
    )
    timeout: float = field(
        default=3.0, metadata={"help": "CPU seconds per test", "min": 0, "min_exclusive": True, "max": 86400}
    )
    memory_mb: int = field(
        default=1024, metadata={"help": "memory limit per program", "min": 16, "max": 4194304}
    )
    require_isolation: bool = field(default=False, metadata={"help": "refuse to run without namespaces"})
    ray: str = ray_field()


# ---------------------------------------------------------------------------------------------- eval


def load_problems(benchmark: list[str], problems_path: str | None) -> tuple[str, list[Problem]]:
    """(name, problems): a problems file when given, else the named benchmark's default file."""
    if len(benchmark) > 1:
        raise UserError(f"expected one benchmark name, got {len(benchmark)}: {' '.join(benchmark)}")
    if problems_path:
        return Path(problems_path).name, read_problems(problems_path)
    if not benchmark:
        raise UserError("name a benchmark (e.g. `unitrl eval humaneval`) or pass --problems FILE")
    name = benchmark[0]
    if name not in IMPORTERS:
        raise UserError(
            f"unknown benchmark {name!r} (known: {', '.join(IMPORTERS)}); or pass --problems FILE"
        )
    return name, IMPORTERS[name](None)


def check_samples(samples: list[Sample], problems: dict[str, Problem], path: str) -> None:
    if not samples:
        raise UserError("no samples", path=path)
    unknown = sorted({s.task_id for s in samples} - set(problems))
    if unknown:
        raise UserError(f"{len(unknown)} task_id(s) not among the problems, e.g. {unknown[0]!r}", path=path)


EVAL_CHUNK = 512  # samples graded between checkpoints of results.jsonl.partial


def grade_with_progress(
    samples: list[Sample], problems: dict[str, Problem], cfg: EvalConfig
) -> tuple[list[Result], dict]:
    """Grade every sample into `<out_dir>/results.jsonl` (resumable: an interrupted run picks up the
    unchanged results from `results.jsonl.partial`); also returns the active isolation layers."""
    from rich.console import Console

    from unitrl.records import record_from_dict
    from unitrl.sandbox import SandboxConfig
    from unitrl.sandbox.cli import grade_resumable

    sandbox_cfg = SandboxConfig(
        workers=cfg.workers,
        timeout=cfg.timeout,
        memory_mb=cfg.memory_mb,
        require_isolation=cfg.require_isolation,
    )
    out = Path(cfg.out_dir) / "results.jsonl"
    rows, _, layers = grade_resumable(
        sandbox_cfg, problems, samples, out, EVAL_CHUNK, Console(stderr=True), ray_address=cfg.ray
    )
    return [record_from_dict(Result, r) for r in rows], layers


def greedy_ids(samples: list[Sample]) -> set[tuple[str, str]]:
    """(task_id, sample_id) of the samples marked greedy."""
    return {(s.task_id, str(s.sample_id)) for s in samples if s.is_greedy}


def greedy_pass_at_1(results: list[Result]) -> float | None:
    """Mean over tasks of the fraction of their greedy samples that passed (None without any)."""
    counts = task_counts(results)
    return sum(c / n for n, c in counts.values()) / len(counts) if counts else None


def plus_bases(problems: dict[str, Problem]) -> dict[str, int]:
    """task_id -> N, the number of leading base tests, for problems imported from HumanEval+/MBPP+."""
    from unitrl.eval.plus import PLUS_KEY

    bases = {}
    for task_id, p in problems.items():
        plus = p.meta.get(PLUS_KEY)
        if isinstance(plus, dict) and isinstance(plus.get("base"), int):
            bases[task_id] = plus["base"]
    return bases


def base_results(results: list[Result], bases: dict[str, int]) -> list[Result]:
    """The results judged on the base tests only: a sample passes base when its first N tests pass
    (evalplus's "base"; the whole result, base + extra, is its "plus")."""
    out = []
    for r in results:
        n = bases.get(r.task_id, len(r.tests))
        ok = bool(r.tests) and len(r.tests) >= n and all(t.status == "pass" for t in r.tests[:n])
        out.append(Result(r.task_id, r.sample_id, ok if r.task_id in bases else bool(r.passed), 0.0, ""))
    return out


def summarize(
    name: str,
    results: list[Result],
    greedy: set[tuple[str, str]],
    ks: list[int],
    seconds: float,
    n_problems: int,
    layers: dict,
    bases: dict[str, int] | None = None,
) -> dict:
    """The summary; pass@k over the sampled results, greedy pass@1 over the greedy ones. With `bases`
    (HumanEval+/MBPP+, see `plus_bases`) also the same figures on the base tests only, side by side."""
    is_greedy = [(r.task_id, str(r.sample_id)) in greedy for r in results]
    sampled = [r for r, g in zip(results, is_greedy) if not g]
    greedy_results = [r for r, g in zip(results, is_greedy) if g]
    counts = task_counts(sampled)
    greedy_passed = {r.task_id: bool(r.passed) for r in greedy_results}
    tasks = {task: {"samples": n, "passed": c} for task, (n, c) in counts.items()}
    for task, ok in greedy_passed.items():
        tasks.setdefault(task, {"samples": 0, "passed": 0})["greedy_passed"] = ok
    plus = {}
    if bases and any(r.task_id in bases for r in results):
        base_sampled, base_greedy = base_results(sampled, bases), base_results(greedy_results, bases)
        for task, (_, c) in task_counts(base_sampled).items():
            tasks[task]["base_passed"] = c
        for r in base_greedy:
            tasks[r.task_id]["greedy_base_passed"] = r.passed
        plus = {
            "base_pass_at_k": pass_at_k(base_sampled, ks),
            "base_passed": sum(r.passed for r in base_sampled),
            "greedy_base_pass_at_1": greedy_pass_at_1(base_greedy),
        }
    return {
        "benchmark": name,
        "problems": n_problems,
        "tasks_with_samples": len(counts),
        "samples": len(sampled),
        "passed": sum(r.passed for r in sampled),
        "pass_at_k": pass_at_k(sampled, ks),
        **plus,  # base_pass_at_k beside pass_at_k (HumanEval+/MBPP+ only)
        "greedy_samples": len(greedy_results),
        "greedy_pass_at_1": greedy_pass_at_1(greedy_results),
        "status_counts": dict(collections.Counter(r.status for r in results).most_common()),
        "test_status_counts": dict(
            collections.Counter(t.status for r in results for t in r.tests).most_common()
        ),
        "seconds": round(seconds, 3),
        "programs_per_second": round(len(results) / seconds, 1) if seconds > 0 else None,
        "isolation_layers": layers,
        "tasks": tasks,
    }


def print_summary(summary: dict, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"unitrl eval: {summary['benchmark']}", show_header=False)
    table.add_column(style="bold")
    base = summary.get("base_pass_at_k")
    if base is not None:  # evalplus's two figures side by side: "base" and "base + extra" tests
        table.add_column(justify="right")
    table.add_column(justify="right")

    def row(label: str, value: str, base_value: str = "") -> None:
        table.add_row(label, *([base_value] if base is not None else []), value)

    if base is not None:
        row("", "base + extra", "base")
    for key, value in summary["pass_at_k"].items():
        row(f"{key} (sampled)", f"{value:.4f}", f"{base[key]:.4f}" if base is not None else "")
    if summary["greedy_pass_at_1"] is not None:
        greedy_base = summary.get("greedy_base_pass_at_1")
        row(
            "greedy pass@1",
            f"{summary['greedy_pass_at_1']:.4f} ({summary['greedy_samples']} greedy)",
            f"{greedy_base:.4f}" if greedy_base is not None else "",
        )
    row("samples (tasks)", f"{summary['samples']} ({summary['tasks_with_samples']} of {summary['problems']})")
    for status, n in summary["status_counts"].items():
        row(f"status {status}", str(n))
    row("throughput", f"{summary['programs_per_second']} programs/s ({summary['seconds']} s)")
    active = [name for name, on in summary["isolation_layers"].items() if on]
    row("isolation", ", ".join(active) or "none")
    console = Console()
    console.print(table)
    console.print(f"results: {out_dir / 'results.jsonl'}  summary: {out_dir / 'summary.json'}")


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    if not cfg.samples:
        raise UserError("--samples FILE is required")
    name, problem_list = load_problems(cfg.benchmark, cfg.problems)
    problems = {p.task_id: p for p in problem_list}
    samples = read_samples(cfg.samples)
    check_samples(samples, problems, cfg.samples)

    start = time.perf_counter()
    results, layers = grade_with_progress(samples, problems, cfg)
    seconds = time.perf_counter() - start

    summary = summarize(
        name, results, greedy_ids(samples), cfg.k, seconds, len(problems), layers, plus_bases(problems)
    )
    out_dir = Path(cfg.out_dir)
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    save_config(cfg, out_dir)
    print_summary(summary, out_dir)
    return summary


eval_command = config_command(
    "eval",
    EvalConfig,
    run_eval,
    help="pass@k of samples on a benchmark (`unitrl eval humaneval --samples S.jsonl`) or on --problems FILE.",
)
ray_option_value_optional(eval_command)  # `--ray` alone = `--ray auto`
