"""Run stages into one run directory: skip what is up to date, resume what is not, report at the end.

A stage is a `StageSpec`: its resolved config (a stage's own flat dataclass), the files it reads, the files
it writes and the function that runs it. Before running, the runner fingerprints the config and the
inputs (size, mtime and content hash of each file; names, sizes and mtimes of a folder's files); when the
fingerprint matches the stage's record in `<run>/.stages/<name>.json` and every output exists, the stage is
skipped. Records are written atomically after a stage finishes, so a crash re-runs only unfinished stages
(and those resume from their own partial files).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.records import write_text_atomic


@dataclass
class StageSpec:
    name: str
    config: Any
    inputs: list[Path]
    outputs: list[Path]
    run: Callable[[Any], Any]
    plots: list[Path] = field(default_factory=list)


def _hash_path(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()
    if not path.exists():
        return "missing"
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(spec: StageSpec) -> str:
    cfg = dataclasses.asdict(spec.config) if dataclasses.is_dataclass(spec.config) else spec.config
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode())
    for p in spec.inputs:
        h.update(f"{p}={_hash_path(p)}".encode())
    return h.hexdigest()


def select_stages(order: list[str], from_stage: str = "", only: str = "") -> list[str]:
    for name, flag in ((from_stage, "--from"), (only, "--only")):
        if name and name not in order:
            raise UserError(f"unknown stage {name!r} (stages: {', '.join(order)})", field=flag)
    if only:
        return [only]
    if from_stage:
        return order[order.index(from_stage) :]
    return list(order)


def run_stages(
    run_dir: Path, specs: list[Callable[[], StageSpec]], names: list[str], forced: set[str], console: Any
) -> list[dict]:
    """Build each stage's spec lazily (it may depend on earlier outputs) and run or skip it."""
    records_dir = run_dir / ".stages"
    records_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for make in specs:
        spec = make()
        if spec.name not in names:
            continue
        record_path = records_dir / f"{spec.name}.json"
        fp = fingerprint(spec)
        old = json.loads(record_path.read_text()) if record_path.exists() else {}
        if spec.name not in forced and old.get("fingerprint") == fp and all(p.exists() for p in spec.outputs):
            console.print(f"[dim]- {spec.name}: up to date, skipped[/dim]")
            done.append(dict(old, skipped=True))
            continue
        console.rule(f"[bold]{spec.name}")
        t0 = time.perf_counter()
        summary = spec.run(spec.config)
        seconds = time.perf_counter() - t0
        record = {
            "stage": spec.name,
            "fingerprint": fp,
            "seconds": round(seconds, 1),
            "summary": summary if isinstance(summary, dict) else {},
            "outputs": [str(p) for p in spec.outputs],
            "plots": [str(p) for p in spec.plots if p.exists()],
        }
        write_text_atomic(record_path, json.dumps(record, indent=2, default=str) + "\n")
        console.print(f"[green]✓ {spec.name}[/green] in {seconds:.1f} s")
        done.append(record)
    return done


def write_report(run_dir: Path, records: list[dict], title: str) -> Path:
    """A Markdown report of every stage's figures and plots."""
    lines = [
        f"# {title}",
        "",
        f"Run directory: `{run_dir}`",
        "",
        "| stage | seconds | skipped |",
        "|---|---|---|",
    ]
    for r in records:
        lines.append(f"| {r['stage']} | {r.get('seconds', '')} | {'yes' if r.get('skipped') else ''} |")
    for r in records:
        lines += ["", f"## {r['stage']}", ""]
        summary = {
            k: v
            for k, v in r.get("summary", {}).items()
            if not isinstance(v, dict | list) or len(str(v)) < 600
        }
        if summary:
            lines += ["```json", json.dumps(summary, indent=2, default=str), "```"]
        for plot in r.get("plots", []):
            lines += ["", f"![{Path(plot).stem}]({os.path.relpath(plot, run_dir)})"]
    path = run_dir / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
