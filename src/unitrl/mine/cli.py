"""`unitrl mine PATH... --out problems.jsonl`: function-level problems from ordinary Python code.

Reads top to bottom: list the corpus (the standard library by default), extract candidate functions with
what they need (static checks), dedup by normalized syntax tree, then the dynamic check in the sandbox:
each candidate is called on generated inputs in two separate jobs and must return the same
repr-round-trippable values both times on at least one input. Drop counts per reason are printed and
written to `<out>.summary.json`.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from unitrl.config import config_command
from unitrl.errors import UserError


@dataclass
class MineConfig:
    paths: list[str] = field(default_factory=list, metadata={"positional": True})
    out: str = field(default="problems.jsonl", metadata={"help": "output problems file", "path": "out_file"})
    limit: int = field(default=0, metadata={"help": "stop after this many problems (0: all)", "min": 0})
    seed: int = field(
        default=0,
        metadata={
            "help": "order in which files are visited when --limit is set",
            "min": 0,
            "max": 4294967295,
        },
    )
    require_docstring: bool = field(default=True, metadata={"help": "drop functions without a docstring"})
    max_lines: int = field(default=60, metadata={"help": "drop longer functions", "min": 1})
    dynamic: bool = field(
        default=True, metadata={"help": "run candidates in the sandbox (determinism check)"}
    )
    n_inputs: int = field(
        default=12, metadata={"help": "generated inputs per candidate in the dynamic check", "min": 1}
    )
    workers: int = field(default=2, metadata={"help": "sandbox workers", "min": 0, "max": 1024})
    timeout: float = field(
        default=1.0,
        metadata={
            "help": "seconds per call in the dynamic check",
            "min": 0,
            "min_exclusive": True,
            "max": 86400,
        },
    )


def dynamic_check(
    sb: Any, candidates: list, n_inputs: int, seed: int, timeout: float
) -> tuple[list, Counter]:
    """Keep candidates that answer at least one generated input identically in two separate jobs."""
    from unitrl.synth import inputs as inp
    from unitrl.synth import mutate
    from unitrl.synth.execution import input_search, round_trips, run_calls, same_value

    rng = random.Random(seed)
    calls = []
    for p in candidates:
        s = input_search(p)
        seeds = mutate.seed_inputs(s.params, s.literals, s.examples, rng, n_inputs) if s else []
        seeds += mutate.seed_inputs(s.params, s.literals, [], rng, n_inputs, explore=True) if s else []
        calls.append((p.reference, p.entry_point, list(dict.fromkeys(inp.args_source(i) for i in seeds))))
    first, second = run_calls(sb, calls, timeout), run_calls(sb, calls, timeout)
    kept, dropped = [], Counter()
    for p, a, b in zip(candidates, first, second):
        ok = [(x, y) for x, y in zip(a, b) if x.status == "ok"]
        if not ok:
            dropped["no-working-input"] += 1
        elif any(y.status != "ok" or not same_value(x.values[0], y.values[0]) for x, y in ok):
            dropped["nondeterministic"] += 1
        elif not any(round_trips(x.values[0]) for x, _ in ok):
            dropped["unrepresentable-output"] += 1
        else:
            p.meta["mine"]["n_working_inputs"] = len(ok)
            kept.append(p)
    return kept, dropped


def extract_all(cfg: MineConfig) -> tuple[list, Counter, int]:
    """Candidates from the corpus, with static drop counts; with --limit, a seeded slice of files."""
    from unitrl.mine.corpus import iter_sources
    from unitrl.mine.dedup import dedup
    from unitrl.mine.extract import extract_problems

    dropped: Counter = Counter()
    sources = list(iter_sources(cfg.paths, skipped=dropped))
    if cfg.limit:
        random.Random(cfg.seed).shuffle(sources)
    candidates = []
    for src in sources:
        ex = extract_problems(src, cfg.require_docstring, cfg.max_lines)
        candidates += ex.problems
        dropped.update(ex.dropped)
        if cfg.limit and len(candidates) >= 2 * cfg.limit:  # headroom for the dynamic check's drops
            break
    candidates, n_dup = dedup(candidates)
    if n_dup:
        dropped["duplicate"] += n_dup
    return candidates, dropped, len(sources)


def print_drops(found: int, kept: int, dropped: Counter) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"unitrl mine: {kept} problems kept of {found} functions")
    table.add_column("dropped because")
    table.add_column("count", justify="right")
    for reason, n in dropped.most_common():
        table.add_row(reason, str(n))
    Console(stderr=True).print(table)


def run_mine(cfg: MineConfig) -> dict[str, Any]:
    from unitrl.records import write_records, write_text_atomic

    if cfg.limit < 0:
        raise UserError("expected 0 (all) or a positive number", field="limit")
    start = time.time()
    candidates, dropped, n_files = extract_all(cfg)
    found = len(candidates) + sum(dropped.values())
    if cfg.dynamic and candidates:
        from unitrl.sandbox import Sandbox, SandboxConfig

        with Sandbox(SandboxConfig(workers=cfg.workers, timeout=cfg.timeout)) as sb:
            candidates, dyn = dynamic_check(sb, candidates, cfg.n_inputs, cfg.seed, cfg.timeout)
        dropped.update(dyn)
    if cfg.limit and len(candidates) > cfg.limit:
        dropped["over-limit"] += len(candidates) - cfg.limit
        candidates = candidates[: cfg.limit]
    write_records(cfg.out, candidates)
    summary = {
        "files": n_files,
        "functions": found,
        "problems": len(candidates),
        "dropped": dict(dropped.most_common()),
        "seconds": round(time.time() - start, 2),
    }
    write_text_atomic(f"{cfg.out}.summary.json", json.dumps(summary, indent=2))
    print_drops(found, len(candidates), dropped)
    return summary


mine_command = config_command(
    "mine", MineConfig, run_mine, help="Mine function-level problems from Python code."
)
