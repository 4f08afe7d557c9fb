"""`unitrl synth` (fill problems with verified tests) and `unitrl export` (AceCode-87K rows).

synth reads our problems or AceCode rows, drops or flags benchmark overlap, makes tests with the chosen
engine, drops problems left with too few tests, measures each problem's mutant kill rate (optionally
keeping only an evalplus-mini subset of tests), and writes the problems plus `<out>.summary.json`.
Work goes in chunks through a ResumableWriter, so an interrupted run resumes where it stopped, reusing a
problem's outcome only when the problem and the settings that shape it are unchanged. Every problem's
outcome depends on that problem alone (its own random stream), so the output is the same whatever the
chunk size and wherever a run was interrupted.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.config import config_command
from unitrl.errors import UserError
from unitrl.sandbox.ray_pool import ray_field, ray_option_value_optional
from unitrl.synth.summary import print_summary, summarize

ENGINES = ("execution", "llm", "llm-inputs", "llm-generator")


@dataclass
class SynthConfig:
    problems: str = field(default="", metadata={"help": "problems JSONL/Parquet (ours or AceCode rows)"})
    out: str = field(default="synth.jsonl", metadata={"help": "output problems file", "path": "out_file"})
    engine: str = field(
        default="execution",
        metadata={"help": "execution | llm | llm-inputs | llm-generator", "choices": ENGINES},
    )
    n_tests: int = field(default=20, metadata={"help": "tests to aim for per problem", "min": 1})
    min_tests: int = field(default=5, metadata={"help": "drop problems with fewer kept tests", "min": 0})
    keep_short: bool = field(default=False, metadata={"help": "keep (flag) problems under --min-tests"})
    exception_tests: bool = field(default=False, metadata={"help": "also test that bad inputs raise"})
    seed: int = field(default=0, metadata={"min": 0, "max": 4294967295})
    workers: int = field(default=2, metadata={"help": "sandbox workers", "min": 0, "max": 1024})
    timeout: float = field(
        default=1.0, metadata={"help": "seconds per test call", "min": 0, "min_exclusive": True, "max": 86400}
    )
    mutants: int = field(
        default=12, metadata={"help": "mutants per problem for the kill rate (0: skip)", "min": 0}
    )
    select_minimal: bool = field(
        default=False, metadata={"help": "keep a subset that kills as many mutants and covers as much"}
    )
    min_distinct_outputs: int = field(
        default=2, metadata={"help": "a suite with fewer distinct expected values is degenerate", "min": 0}
    )
    keep_weak: bool = field(
        default=False, metadata={"help": "keep (flag) degenerate suites instead of dropping the problem"}
    )
    guide_mutants: int = field(
        default=24, metadata={"help": "mutants whose survivors guide added tests (0: none)", "min": 0}
    )
    guide_steps: int = field(
        default=48, metadata={"help": "calls per problem for the guided search (a count)", "min": 0}
    )
    time_floor: float = field(
        default=0.25, metadata={"help": "least seconds per test of a problem's time limit", "min": 0.01}
    )
    time_factor: float = field(
        default=5.0, metadata={"help": "time limit: this many times the reference's time", "min": 1}
    )
    decontam: str = field(
        default="drop", metadata={"help": "drop | flag | off", "choices": ("drop", "flag", "off")}
    )
    decontam_n: int = field(default=13, metadata={"help": "n-gram size for decontamination", "min": 1})
    decontam_threshold: float = field(
        default=0.5,
        metadata={"help": "overlap at which a problem matches", "min": 0, "min_exclusive": True, "max": 1},
    )
    benchmarks: list[str] = field(default_factory=list, metadata={"help": "extra benchmark JSONL files"})
    base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible endpoint"})
    model: str = field(default="", metadata={"help": "model name at the endpoint"})
    oracle_model: str = field(default="", metadata={"help": "validator model (default: --model)"})
    codet_samples: int = field(
        default=10,
        metadata={
            "help": "llm engine, no reference and no --oracle-model: keep the tests CodeT agreement among "
            "N programs sampled from --model chooses (0: one greedy oracle solution, as ACECODER)",
            "min": 0,
            "max": 1000,
        },
    )
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = field(default=8, metadata={"min": 1, "max": 1024})
    temperature: float = field(default=0.7, metadata={"min": 0, "max": 100})
    max_tokens: int = field(default=2048, metadata={"min": 1})
    request_timeout: float = field(default=120.0, metadata={"min": 0, "min_exclusive": True, "max": 86400})
    cache_dir: str = field(default="", metadata={"help": "disk cache of answers (default: <out>.cache)"})
    chunk: int = field(default=256, metadata={"help": "problems per resumable chunk", "min": 1})
    overlap: int = field(
        default=3,
        metadata={
            "help": "execution engine: parts of 16 problems worked on at once (threads over one sandbox), "
            "so the workers run one part's jobs while this process works out another's; the output is the "
            "same for any value (1: one chunk at a time)",
            "min": 1,
            "max": 64,
        },
    )
    ray: str = ray_field()


def _endpoints(cfg: SynthConfig) -> tuple[Any, Any]:
    from unitrl.models.endpoint import ChatEndpoint

    if not cfg.model:
        raise UserError(f"--engine {cfg.engine} needs --model (and --base-url)", field="model")
    cache = cfg.cache_dir or f"{cfg.out}.cache"
    make = lambda model: ChatEndpoint(  # noqa: E731 - two endpoints differing only in model
        cfg.base_url, model, cfg.api_key_env, cfg.concurrency, timeout=cfg.request_timeout, cache_dir=cache
    )
    main = make(cfg.model)
    return main, make(cfg.oracle_model) if cfg.oracle_model else main


# Settings that change what synth makes of a problem (workers, chunk, concurrency and caches do not).
KEYED_SETTINGS = ("engine", "n_tests", "min_tests", "keep_short", "exception_tests", "seed", "timeout",
                  "mutants", "select_minimal", "min_distinct_outputs", "keep_weak", "guide_mutants",
                  "guide_steps", "time_floor", "time_factor")  # fmt: skip
LLM_SETTINGS = ("model", "oracle_model", "codet_samples", "temperature", "max_tokens")
TRANSIENT_DROPS = ("no-answer",)  # the endpoint failed this time: not resumed, a rerun asks again


def synth_key(cfg: SynthConfig, problem: Any) -> str:
    """The content key of one problem's synth outcome: the problem record and the settings above."""
    from unitrl.records import content_key, to_dict

    names = KEYED_SETTINGS + (LLM_SETTINGS if cfg.engine != "execution" else ())
    return content_key("synth", to_dict(problem), {n: getattr(cfg, n) for n in names})


def synth_chunk(
    sb: Any, cfg: SynthConfig, chunk: list, endpoints: tuple[Any, Any] | None
) -> dict[str, tuple[Any, str | None]]:
    """Tests for one chunk of problems, the short ones dropped, quality measured: task_id -> (problem
    or None, drop reason or None). Each problem's outcome depends on that problem alone."""
    from unitrl.synth import llm
    from unitrl.synth.execution import synthesize_execution
    from unitrl.synth.quality import measure_quality

    pools: dict = {}
    dropped: dict[str, str] = {}
    if cfg.engine == "execution":
        done, pools = synthesize_execution(
            sb,
            chunk,
            n_tests=cfg.n_tests,
            seed=cfg.seed,
            exception_tests=cfg.exception_tests,
            timeout=cfg.timeout,
        )
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
            codet_samples=cfg.codet_samples,
        )
    elif cfg.engine == "llm-generator":
        from unitrl.synth.generator import synthesize_llm_generator

        done, dropped, pools = synthesize_llm_generator(
            sb,
            endpoints[0],
            chunk,
            n_tests=cfg.n_tests,
            seed=cfg.seed,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            timeout=cfg.timeout,
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
            dropped[p.task_id] = "too-few-tests"
    measure_quality(
        sb,
        kept,
        pools,
        max_mutants=cfg.mutants,
        seed=cfg.seed,
        select_minimal=cfg.select_minimal,
        timeout=cfg.timeout,
        guide_mutants=cfg.guide_mutants,
        guide_steps=cfg.guide_steps,
        min_distinct_outputs=cfg.min_distinct_outputs,
        time_floor=cfg.time_floor,
        time_factor=cfg.time_factor,
    )
    if not cfg.keep_weak:
        for p in [p for p in kept if p.meta.get("synth", {}).get("degenerate")]:
            kept.remove(p)
            trivial = p.meta["synth"].get("trivial_passed")
            dropped[p.task_id] = "trivially-passed" if trivial else "too-few-distinct-outputs"
    outcome: dict[str, tuple[Any, str | None]] = {p.task_id: (p, None) for p in kept}
    outcome.update((tid, (None, reason)) for tid, reason in dropped.items())
    return outcome


PART = 16  # problems per part when parts overlap: enough jobs per batch to keep the workers busy


def _outcomes(sb: Any, cfg: SynthConfig, todo: list, endpoints: Any) -> Iterator[tuple[list, dict]]:
    """(chunk, its outcome) in input order. With the execution engine and `overlap` > 1 on a local
    sandbox, parts of PART problems are worked on by `overlap` threads at once (a bounded window ahead
    of the one being written): while one part's jobs run in the sandbox, another's next jobs are
    worked out here (the per-problem parent work that would otherwise leave the workers idle). Every
    problem's outcome depends on that problem alone, so the output is the same as one at a time."""
    size = max(1, cfg.chunk)
    threads = cfg.overlap if cfg.engine == "execution" and getattr(sb, "concurrent_runs", False) else 1
    if threads <= 1:
        for i in range(0, len(todo), size):
            chunk = todo[i : i + size]
            yield chunk, synth_chunk(sb, cfg, chunk, endpoints)
        return
    from concurrent.futures import ThreadPoolExecutor

    part = min(size, PART)
    parts = [todo[i : i + part] for i in range(0, len(todo), part)]
    window: deque = deque()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="synth")
    try:
        for k in range(len(parts)):
            while len(window) < 2 * threads and k + len(window) < len(parts):
                nxt = parts[k + len(window)]
                window.append(pool.submit(synth_chunk, sb, cfg, nxt, endpoints))
            yield parts[k], window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_synth(cfg: SynthConfig) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import Progress

    from unitrl.records import ResumableWriter, write_text_atomic
    from unitrl.sandbox import SandboxConfig
    from unitrl.sandbox.ray_pool import make_sandbox
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
    keys = {(p.task_id,): synth_key(cfg, p) for p in problems}
    reused = writer.resume(keys)
    if note := writer.resume_note(len(problems), "problems"):
        Console(stderr=True).print(note)
    todo = [p for p in problems if (p.task_id,) not in reused]
    try:
        with (
            make_sandbox(SandboxConfig(workers=cfg.workers, timeout=cfg.timeout), cfg.ray) as sb,
            Progress(transient=True) as bar,
        ):
            task = bar.add_task(f"synth ({cfg.engine})", total=len(todo))
            for chunk, outcome in _outcomes(sb, cfg, todo, endpoints):
                for p in chunk:  # input order, so the partial file does not depend on completion order
                    kept, reason = outcome.get(p.task_id, (None, "no-output"))
                    if reason in TRANSIENT_DROPS:
                        dropped[reason] += 1
                        continue
                    info = {"dropped": reason} if reason else None
                    writer.write(kept, keys[(p.task_id,)], ident=(p.task_id,), info=info)
                bar.advance(task, len(chunk))
    finally:
        writer.close()
    dropped.update(writer.info[i]["dropped"] for i in writer.info if writer.info[i].get("dropped"))
    rows = writer.finish(order=[(p.task_id,) for p in problems])
    summary = summarize(rows, dropped, matches, time.time() - start, n_in)
    if endpoints:
        summary["endpoint"] = endpoints[0].stats.__dict__
    write_text_atomic(Path(f"{cfg.out}.summary.json"), json.dumps(summary, indent=2))
    print_summary(summary, f"unitrl synth --engine {cfg.engine} -> {cfg.out}")
    return summary


synth_command = config_command("synth", SynthConfig, run_synth, help="Synthesize and validate unit tests.")
ray_option_value_optional(synth_command)  # `--ray` alone = `--ray auto`
