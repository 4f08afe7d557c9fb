"""Run stages into one run directory: skip what is up to date, resume what is not, estimate time up front.

A stage is a `StageSpec`: its resolved config (a stage's own flat dataclass), the files it reads, the files
it writes, the function that runs it and an estimate of its seconds. Before running, the runner
fingerprints the config and the inputs (the content hash of each file; of a folder, each file's path and
content hash, or size and mtime for files over 64 MiB such as large model shards); when the fingerprint
matches the stage's record in `<run>/.stages/<name>.json` and every output exists, the stage is skipped.
A stage's record is removed before it runs and written atomically after it finishes, so a crash reruns
only unfinished stages (and those resume from their own partial files). Outputs that come out
byte-identical leave later stages up to date.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unitrl.errors import UserError
from unitrl.records import write_text_atomic

BIG_FILE = 64 << 20


@dataclass
class StageSpec:
    name: str
    config: Any
    inputs: list[Path]
    outputs: list[Path]
    run: Callable[[Any], Any]
    estimate: float = 0.0  # seconds on a quiet 2-core machine


def _hash_file(path: Path, h: Any) -> None:
    st = path.stat()
    if st.st_size > BIG_FILE:
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def hash_path(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(f"{p.relative_to(path)}\0".encode())
                _hash_file(p, h)
        return h.hexdigest()
    if not path.exists():
        return "missing"
    _hash_file(path, h)
    return h.hexdigest()


def fingerprint(spec: StageSpec) -> str:
    cfg = dataclasses.asdict(spec.config) if dataclasses.is_dataclass(spec.config) else spec.config
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode())
    for p in spec.inputs:
        h.update(f"{p}={hash_path(p)}".encode())
    return h.hexdigest()


def cpu_seconds() -> float:
    """CPU time of this process, all threads (the model work; sandbox workers are other processes): a
    measure of a stage's work that grows little when other jobs share the machine."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def select_stages(order: list[str], from_stage: str = "", only: str = "") -> list[str]:
    for name, flag in ((from_stage, "--from"), (only, "--only")):
        if name and name not in order:
            raise UserError(f"unknown stage {name!r} (stages: {', '.join(order)})", field=flag)
    if only:
        return [only]
    if from_stage:
        return order[order.index(from_stage) :]
    return list(order)


def up_to_date(run_dir: Path, spec: StageSpec) -> dict | None:
    """The stage's record when its fingerprint matches and its outputs exist, else None."""
    path = run_dir / ".stages" / f"{spec.name}.json"
    if not path.exists():
        return None
    old = json.loads(path.read_text())
    if old.get("fingerprint") == fingerprint(spec) and all(p.exists() for p in spec.outputs):
        return old
    return None


def plots_of(spec: StageSpec) -> list[Path]:
    """PNGs a stage wrote: inside its output folders, or beside an output file sharing its stem."""
    found = []
    for out in spec.outputs:
        if out.is_dir():
            found += sorted(out.glob("*.png"))
        elif out.parent.is_dir():
            found += sorted(out.parent.glob(f"{out.stem}*.png"))
    return found


def estimate_line(specs: list[StageSpec], names: list[str], run_dir: Path, forced: set[str]) -> str:
    """One line: the stages to run, those up to date, and the estimated minutes."""
    todo = [s for s in specs if s.name in names and (s.name in forced or up_to_date(run_dir, s) is None)]
    seconds = sum(s.estimate for s in todo)
    return (
        f"{len(todo)} stages to run ({len(names) - len(todo)} up to date): about {seconds / 60:.0f} min "
        "on a quiet 2-core machine; a busy machine is slower but trains the same steps"
    )


def run_stages(
    run_dir: Path, specs: list[StageSpec], names: list[str], forced: set[str], console: Any
) -> list[dict]:
    """Run or skip each selected stage in order; returns one record per selected stage."""
    records_dir = run_dir / ".stages"
    records_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for spec in specs:
        if spec.name not in names:
            continue
        old = None if spec.name in forced else up_to_date(run_dir, spec)
        if old is not None:
            console.print(f"[dim]- {spec.name}: up to date, skipped[/dim]")
            done.append(dict(old, skipped=True))
            continue
        record_path = records_dir / f"{spec.name}.json"
        record_path.unlink(missing_ok=True)  # a crash below must not leave the old record looking done
        console.rule(f"[bold]{spec.name}")
        fp, t0, cpu0 = fingerprint(spec), time.perf_counter(), cpu_seconds()
        summary = spec.run(spec.config)
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        summary = summary if isinstance(summary, dict) else {}
        record = {
            "stage": spec.name,
            "fingerprint": fp,
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "estimate": round(spec.estimate, 1),
            "summary": summary,
            "cut_short": summary.get("cut_short", ""),
            "inputs": [str(p) for p in spec.inputs],
            "outputs": [str(p) for p in spec.outputs],
            "plots": [str(p) for p in plots_of(spec)],
        }
        write_text_atomic(record_path, json.dumps(record, indent=2, default=str) + "\n")
        console.print(
            f"[green]✓ {spec.name}[/green] in {seconds:.1f} s, {cpu:.0f} CPU s (estimated {spec.estimate:.0f} s)"
        )
        done.append(record)
    return done


def all_records(run_dir: Path, specs: list[StageSpec], ran: list[dict]) -> list[dict]:
    """One record per stage for the report: this invocation's, else the stored one of an earlier run
    (marked skipped, and stale when its settings or inputs have changed since), so `--only` and
    `--from` still give a whole report."""
    by_name = {r["stage"]: r for r in ran}
    out = []
    for spec in specs:
        path = run_dir / ".stages" / f"{spec.name}.json"
        if spec.name in by_name:
            out.append(by_name[spec.name])
        elif path.exists():
            old = json.loads(path.read_text())
            out.append(dict(old, skipped=True, stale=old.get("fingerprint") != fingerprint(spec)))
    return out
