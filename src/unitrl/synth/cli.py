"""`unitrl synth` (fill problems with verified tests) and `unitrl export` (AceCode-87K rows).

synth reads our problems or AceCode rows, drops or flags benchmark overlap, makes tests with the chosen
engine, drops problems left with too few tests, measures each problem's mutant kill rate (optionally
keeping only an evalplus-mini subset of tests), and writes the problems plus `<out>.summary.json`.
Work goes in chunks through a ResumableWriter, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.config import config_command
from unitrl.errors import UserError

ENGINES = ("execution", "llm", "llm-inputs")


@dataclass
class SynthConfig:
    problems: str = field(default="", metadata={"help": "problems JSONL/Parquet (ours or AceCode rows)"})
    out: str = field(default="synth.jsonl", metadata={"help": "output problems file"})
    engine: str = field(default="execution", metadata={"help": "execution | llm | llm-inputs"})
    n_tests: int = field(default=20, metadata={"help": "tests to aim for per problem"})
    min_tests: int = field(default=5, metadata={"help": "drop problems with fewer kept tests"})
    keep_short: bool = field(default=False, metadata={"help": "keep (flag) problems under --min-tests"})
    exception_tests: bool = field(default=False, metadata={"help": "also test that bad inputs raise"})
    seed: int = 0
    workers: int = field(default=2, metadata={"help": "sandbox workers"})
    timeout: float = field(default=1.0, metadata={"help": "seconds per test call"})
    mutants: int = field(default=12, metadata={"help": "mutants per problem for the kill rate (0: skip)"})
    select_minimal: bool = field(default=False, metadata={"help": "keep an evalplus-mini test subset"})
    decontam: str = field(default="drop", metadata={"help": "drop | flag | off"})
    decontam_n: int = field(default=13, metadata={"help": "n-gram size for decontamination"})
    decontam_threshold: float = field(default=0.5, metadata={"help": "overlap at which a problem matches"})
    benchmarks: list[str] = field(default_factory=list, metadata={"help": "extra benchmark JSONL files"})
    base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible endpoint"})
    model: str = field(default="", metadata={"help": "model name at the endpoint"})
    oracle_model: str = field(default="", metadata={"help": "validator model (default: --model)"})
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    temperature: float = 0.7
    max_tokens: int = 2048
    request_timeout: float = 120.0
    cache_dir: str = field(default="", metadata={"help": "disk cache of answers (default: <out>.cache)"})
    chunk: int = field(default=256, metadata={"help": "problems per resumable chunk"})


def _endpoints(cfg: SynthConfig) -> tuple[Any, Any]:
    from unitrl.synth.endpoint import ChatEndpoint

    if not cfg.model:
        raise UserError(f"--engine {cfg.engine} needs --model (and --base-url)", field="model")
    cache = cfg.cache_dir or f"{cfg.out}.cache"
    make = lambda model: ChatEndpoint(  # noqa: E731 - two endpoints differing only in model
        cfg.base_url, model, cfg.api_key_env, cfg.concurrency, timeout=cfg.request_timeout, cache_dir=cache
    )
    main = make(cfg.model)
    return main, make(cfg.oracle_model) if cfg.oracle_model else main


def synth_chunk(
    sb: Any, cfg: SynthConfig, chunk: list, endpoints: tuple[Any, Any] | None
) -> tuple[list, Counter]:
    """Tests for one chunk of problems, the short ones dropped, quality measured."""
    from unitrl.synth import llm
    from unitrl.synth.execution import synthesize_execution
    from unitrl.synth.quality import measure_quality

    pools: dict = {}
    if cfg.engine == "execution":
        done, pools = synthesize_execution(
            sb,
            chunk,
            n_tests=cfg.n_tests,
            seed=cfg.seed,
            exception_tests=cfg.exception_tests,
            timeout=cfg.timeout,
        )
        dropped: Counter = Counter()
    elif cfg.engine == "llm":
        done, dropped = llm.synthesize_llm(
            sb,
            endpoints[0],
            chunk,
            oracle=endpoints[1],
            n_tests=cfg.n_tests,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            timeout=max(cfg.timeout, 2.0),
        )
    else:
        done, dropped = llm.synthesize_llm_inputs(
            sb, endpoints[0], chunk, n_tests=cfg.n_tests, temperature=cfg.temperature, timeout=cfg.timeout
        )
    kept = []
    for p in done:
        if len(p.tests) >= cfg.min_tests:
            kept.append(p)
        elif cfg.keep_short:
            p.meta["synth"]["too_few_tests"] = True
            kept.append(p)
        else:
            dropped["too-few-tests"] += 1
    if cfg.mutants > 0:
        measure_quality(
            sb,
            kept,
            pools,
            max_mutants=cfg.mutants,
            seed=cfg.seed,
            select_minimal=cfg.select_minimal,
            timeout=cfg.timeout,
        )
    return kept, dropped


def summarize(rows: list[dict], dropped: Counter, matches: list, seconds: float, n_in: int) -> dict[str, Any]:
    """Counts, tests per problem and the kill-rate distribution, for the table and the JSON summary."""
    tests = [len(r["tests"]) for r in rows]
    kills = [
        r["meta"]["synth"]["kill_rate"]
        for r in rows
        if r["meta"].get("synth", {}).get("kill_rate") is not None
    ]
    test_drops: Counter = Counter()
    for r in rows:
        test_drops.update(r["meta"].get("synth", {}).get("dropped", {}))

    def quantiles(xs: list[float]) -> dict[str, float]:
        if not xs:
            return {}
        xs = sorted(xs)
        return {
            q: round(xs[min(len(xs) - 1, int(f * len(xs)))], 4)
            for q, f in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))
        } | {"mean": round(statistics.fmean(xs), 4), "min": xs[0], "max": xs[-1]}

    buckets = Counter(min(9, int(k * 10)) for k in kills)
    return {
        "problems_in": n_in,
        "problems_out": len(rows),
        "problems_dropped": dict(dropped),
        "decontamination_matches": [m.__dict__ for m in matches],
        "tests_per_problem": quantiles(tests) | {"total": sum(tests)},
        "tests_dropped": dict(test_drops),
        "kill_rate": quantiles(kills),
        "kill_rate_histogram": {f"{b / 10:.1f}-{(b + 1) / 10:.1f}": buckets[b] for b in range(10)},
        "seconds": round(seconds, 2),
        "problems_per_minute": round(n_in / seconds * 60, 1) if seconds else None,
    }


def print_summary(summary: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("problems_in", "problems_out", "seconds", "problems_per_minute"):
        table.add_row(key, str(summary[key]))
    for group in (
        "problems_dropped",
        "tests_per_problem",
        "tests_dropped",
        "kill_rate",
        "kill_rate_histogram",
    ):
        for k, v in summary[group].items():
            table.add_row(f"{group}.{k}", str(v))
    table.add_row("decontamination_matches", str(len(summary["decontamination_matches"])))
    Console(stderr=True).print(table)


def run_synth(cfg: SynthConfig) -> dict[str, Any]:
    from rich.progress import Progress

    from unitrl.records import ResumableWriter, write_text_atomic
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.synth.acecode import read_any_problems
    from unitrl.synth.decontam import decontaminate

    if cfg.engine not in ENGINES:
        raise UserError(f"unknown engine {cfg.engine!r} (choose from {', '.join(ENGINES)})", field="engine")
    if not cfg.problems:
        raise UserError("--problems is required", field="problems")
    if cfg.decontam not in ("drop", "flag", "off"):
        raise UserError("expected drop, flag or off", field="decontam")
    start = time.time()
    problems = read_any_problems(cfg.problems)
    n_in = len(problems)
    matches: list = []
    if cfg.decontam != "off":
        problems, matches = decontaminate(
            problems, cfg.benchmarks, cfg.decontam_n, cfg.decontam_threshold, drop=cfg.decontam == "drop"
        )
    dropped: Counter = Counter({"contaminated": len(matches)} if cfg.decontam == "drop" and matches else {})
    endpoints = _endpoints(cfg) if cfg.engine != "execution" else None
    writer = ResumableWriter(cfg.out)
    todo = [p for p in problems if (p.task_id,) not in writer.done]
    try:
        with (
            Sandbox(SandboxConfig(workers=cfg.workers, timeout=cfg.timeout)) as sb,
            Progress(transient=True) as bar,
        ):
            task = bar.add_task(f"synth ({cfg.engine})", total=len(todo))
            for i in range(0, len(todo), cfg.chunk):
                kept, chunk_dropped = synth_chunk(sb, cfg, todo[i : i + cfg.chunk], endpoints)
                dropped.update(chunk_dropped)
                for p in kept:
                    writer.write(p)
                bar.advance(task, len(todo[i : i + cfg.chunk]))
    finally:
        writer.close()
    rows = writer.finish(order=[(p.task_id,) for p in problems])
    summary = summarize(rows, dropped, matches, time.time() - start, n_in)
    if endpoints:
        summary["endpoint"] = endpoints[0].stats.__dict__
    write_text_atomic(Path(f"{cfg.out}.summary.json"), json.dumps(summary, indent=2))
    print_summary(summary, f"unitrl synth --engine {cfg.engine} -> {cfg.out}")
    return summary


@dataclass
class ExportConfig:
    problems: str = field(default="", metadata={"help": "problems JSONL/Parquet"})
    out: str = field(
        default="acecode_rows.jsonl", metadata={"help": "AceCode-87K-style rows (JSONL/Parquet)"}
    )


def run_export(cfg: ExportConfig) -> int:
    from unitrl.records import read_problems, write_records
    from unitrl.synth.acecode import problem_to_row

    if not cfg.problems:
        raise UserError("--problems is required", field="problems")
    n = write_records(cfg.out, [problem_to_row(p) for p in read_problems(cfg.problems)])
    print(f"wrote {n} AceCode rows to {cfg.out}")
    return n


synth_command = config_command("synth", SynthConfig, run_synth, help="Synthesize and validate unit tests.")
export_command = config_command(
    "export", ExportConfig, run_export, help="Write problems as AceCode-87K rows."
)
