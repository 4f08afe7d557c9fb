"""`unitrl mine PATH... --out problems.jsonl`: function-level problems from ordinary Python code.

Reads top to bottom: list the corpus (the standard library by default), extract candidate functions with
what they need (static checks; a prompt must define every name its signature uses), dedup by normalized
syntax tree, then the dynamic check in the sandbox: each candidate is called on inputs from synth's
coverage-guided search and must return the same repr-round-trippable values in a second, separate job on
at least one of them. Then the spread: at most `--per-module` problems from one module, picked
round-robin over modules up to `--limit`. Drop counts per reason and the spread over modules are printed
and written to `<out>.summary.json`.
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
    per_module: int = field(
        default=10, metadata={"help": "most problems taken from one module (0: no cap)", "min": 0}
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
    """Keep candidates that answer at least one generated input identically in two separate jobs. The
    inputs come from synth's own coverage-guided search (two rounds), each candidate drawing from its
    own generator seeded by (seed, task_id)."""
    from unitrl.inputs.calls import round_trips, run_calls, same_value
    from unitrl.inputs.search import new_search, search_inputs

    searches = {p.task_id: s for p in candidates if (s := new_search(p)) is not None}
    rngs = {tid: random.Random(f"mine:{seed}:{tid}") for tid in searches}
    search_inputs(sb, searches, rngs, want=n_inputs, rounds=2, timeout=timeout)
    tried = {
        tid: [t for t in s.tried if t.status in ("ok", "not-literal")][: 2 * n_inputs]
        for tid, s in searches.items()
    }
    calls = [(p.reference, p.entry_point, [t.src for t in tried.get(p.task_id, [])]) for p in candidates]
    again = run_calls(sb, calls, timeout)
    kept, dropped = [], Counter()
    for p, b in zip(candidates, again):
        ok = list(zip(tried.get(p.task_id, []), b))
        if not ok:
            dropped["no-working-input"] += 1
        elif any(y.status != "ok" or not same_value(x.value, y.values[0]) for x, y in ok if x.status == "ok"):
            dropped["nondeterministic"] += 1
        elif not any(x.status == "ok" and round_trips(x.value) for x, _ in ok):
            dropped["unrepresentable-output"] += 1
        else:
            p.meta["mine"]["n_working_inputs"] = len(ok)
            kept.append(p)
    return kept, dropped


def spread(candidates: list, per_module: int, limit: int) -> tuple[list, int]:
    """At most `per_module` problems per module, taken round-robin over modules (in order of first
    appearance) until `limit` (0: no limit), so no module fills the set. Returns (kept, n dropped)."""
    queues: dict[str, list] = {}
    for p in candidates:
        queues.setdefault(p.meta["mine"]["module"], []).append(p)
    if per_module:
        queues = {m: q[:per_module] for m, q in queues.items()}
    picked: list = []
    while any(queues.values()) and (not limit or len(picked) < limit):
        for q in queues.values():
            if q and (not limit or len(picked) < limit):
                picked.append(q.pop(0))
    order = {id(p): i for i, p in enumerate(candidates)}
    return sorted(picked, key=lambda p: order[id(p)]), len(candidates) - len(picked)


def module_spread(problems: list) -> dict[str, Any]:
    """How the problems spread over modules: how many modules, the largest share, the top ten."""
    counts = Counter(p.meta["mine"]["module"] for p in problems)
    return {
        "modules": len(counts),
        "max_per_module": max(counts.values(), default=0),
        "top_modules": dict(counts.most_common(10)),
    }


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


def print_drops(found: int, kept: int, dropped: Counter, spread_: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"unitrl mine: {kept} problems kept of {found} functions")
    table.add_column("dropped because")
    table.add_column("count", justify="right")
    for reason, n in dropped.most_common():
        table.add_row(reason, str(n))
    console = Console(stderr=True)
    console.print(table)
    top = ", ".join(f"{m} {n}" for m, n in spread_["top_modules"].items())
    console.print(
        f"spread: {spread_['modules']} modules, at most {spread_['max_per_module']} from one ({top})"
    )


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
    candidates, n_capped = spread(candidates, cfg.per_module, 0)
    candidates, n_over = spread(candidates, 0, cfg.limit)  # round-robin over modules up to the limit
    dropped.update({"over-module-cap": n_capped, "over-limit": n_over})
    dropped = +dropped  # counts of zero are not drops
    write_records(cfg.out, candidates)
    summary = {
        "files": n_files,
        "functions": found,
        "problems": len(candidates),
        "dropped": dict(dropped.most_common()),
        "spread": module_spread(candidates),
        "seconds": round(time.time() - start, 2),
    }
    write_text_atomic(f"{cfg.out}.summary.json", json.dumps(summary, indent=2))
    print_drops(found, len(candidates), dropped, summary["spread"])
    return summary


mine_command = config_command(
    "mine", MineConfig, run_mine, help="Mine function-level problems from Python code."
)
