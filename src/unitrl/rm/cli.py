"""`unitrl train-rm`, `unitrl score` and `unitrl bon`: the reward model and best-of-N reranking.

- train-rm: Bradley-Terry training with TRL's RewardTrainer (unitrl.rm.train), into one run folder.
- score: one records.Score per sample from a reward model, in the training input format
  (unitrl.rm.prompt), batched, resumable.
- bon: greedy / average / best-of-N by each score (or by CodeT agreement on generated tests) / oracle
  pass@N (unitrl.rm.bon): table, JSON, PNG.
Heavy imports stay inside the run functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unitrl.config import config_command
from unitrl.errors import UserError
from unitrl.rm.train import TrainRMConfig


@dataclass
class ScoreConfig:
    model: str = field(default="", metadata={"help": "Reward model: hub id or folder (e.g. a train-rm run)."})
    problems: str = field(default="", metadata={"help": "Problems file."})
    samples: str = field(default="", metadata={"help": "Samples file."})
    out: str = field(default="", metadata={"help": "Scores file to write.", "path": "out_file"})
    batch_size: int = field(default=16, metadata={"help": "Programs per forward pass.", "min": 1})
    max_length: int = field(default=1024, metadata={"help": "Tokens per input (as in training).", "min": 8})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda."})
    chunk: int = field(
        default=256, metadata={"help": "Programs scored between checkpoints of the output.", "min": 1}
    )


@dataclass
class BonConfig:
    samples: str = field(default="", metadata={"help": "Samples file."})
    results: str = field(default="", metadata={"help": "Exec results file."})
    scores: str = field(default="", metadata={"help": "Reward-model scores file (ranker 'rm')."})
    extra_scores: list[str] = field(
        default_factory=list, metadata={"help": "More rankers: NAME=FILE (repeat)."}
    )
    out: str = field(default="", metadata={"help": "Output folder (bon.json, bon.png).", "path": "out_dir"})
    trials: int = field(
        default=200, metadata={"help": "Random subsets per N for the spread.", "min": 1, "max": 1000000}
    )
    seed: int = field(
        default=0, metadata={"help": "Seed for the random subsets.", "min": 0, "max": 4294967295}
    )
    ranker: str = field(
        default="rm",
        metadata={
            "help": "rm: the --scores file; codet: CodeT agreement on the --problems file's tests.",
            "choices": ("rm", "codet"),
        },
    )
    problems: str = field(
        default="", metadata={"help": "Problems with the (generated) tests the codet ranker runs."}
    )
    workers: int = field(default=2, metadata={"help": "Sandbox workers (codet).", "min": 0, "max": 1024})
    timeout: float = field(
        default=2.0,
        metadata={"help": "Seconds per test (codet).", "min": 0, "min_exclusive": True, "max": 86400},
    )


def run_train_rm(cfg: TrainRMConfig) -> dict:
    from rich.console import Console

    from unitrl.rm.train import train_reward_model

    m = train_reward_model(cfg)
    acc = m["heldout_accuracy"]
    acc_text = (
        "n/a (no held-out questions)"
        if acc is None
        else f"{acc:.3f} (before training {m['heldout_accuracy_before']:.3f})"
    )
    Console(stderr=True).print(
        f"[green]train-rm:[/] {m['pairs_train']} train pairs, {m['steps']} steps in {m['seconds']}s, "
        f"loss {m['first_loss']:.3f} -> {m['final_loss']:.3f}; held-out pairwise accuracy {acc_text} "
        f"on {m['pairs_heldout']} pairs; model in {cfg.out}"
    )
    return m


def score_keys(cfg: ScoreConfig, problems: dict, samples: list) -> list[str]:
    """Content key of each sample's score: the reward model, its input length, question, test, program."""
    from unitrl.policy_io import first_test
    from unitrl.records import content_key

    return [
        content_key(
            "score",
            s.task_id,
            str(s.sample_id),
            cfg.model,
            cfg.max_length,
            problems[s.task_id].prompt,
            first_test(problems[s.task_id]),
            s.program(problems[s.task_id]),
        )
        for s in samples
    ]


def run_score(cfg: ScoreConfig) -> dict:
    import time

    from rich.console import Console
    from rich.progress import Progress

    from unitrl.policy_io import first_test
    from unitrl.records import ResumableWriter, Score, read_problems, read_samples
    from unitrl.rm.scoring import RewardModelScorer

    for name in ("model", "problems", "samples", "out"):
        if not getattr(cfg, name):
            raise UserError(f"missing --{name}", field=name)
    problems = {p.task_id: p for p in read_problems(cfg.problems)}
    samples = read_samples(cfg.samples)
    unknown = [s.task_id for s in samples if s.task_id not in problems]
    if unknown:
        raise UserError(f"sample for unknown task {unknown[0]!r}", path=cfg.samples, field="task_id")
    console = Console(stderr=True)
    writer = ResumableWriter(cfg.out, key_fields=("task_id", "sample_id"))
    ids = [(s.task_id, str(s.sample_id)) for s in samples]
    keys = score_keys(cfg, problems, samples)
    reused = writer.resume(dict(zip(ids, keys)))
    if note := writer.resume_note(len(samples), "scores"):
        console.print(note)
    # Chunks sit at fixed positions and one not wholly reused is scored again whole: a score's float
    # rounding depends on the batch it was padded in, and so the batches are those of an unbroken run.
    step = max(1, cfg.chunk)
    chunks = [range(i, min(i + step, len(samples))) for i in range(0, len(samples), step)]
    chunks = [c for c in chunks if any(ids[i] not in reused for i in c)]
    start = time.perf_counter()
    n_new = sum(len(c) for c in chunks)
    if chunks:
        scorer = RewardModelScorer(
            cfg.model, device=cfg.device, batch_size=cfg.batch_size, max_length=cfg.max_length
        )
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("score", total=n_new)
            for chunk in chunks:
                part = [samples[i] for i in chunk]
                ps = [problems[s.task_id] for s in part]
                values = scorer.score(
                    [p.prompt for p in ps],
                    [first_test(p) for p in ps],
                    [s.program(p) for s, p in zip(part, ps)],
                )
                for i, s, v in zip(chunk, part, values):
                    writer.write(Score(s.task_id, s.sample_id, v, cfg.model), keys[i])
                progress.advance(bar, len(part))
    rows = writer.finish(ids)
    seconds = time.perf_counter() - start
    console.print(f"[green]score:[/] {n_new} new scores ({len(rows)} in {cfg.out}) in {seconds:.1f}s")
    return {"scores": len(rows), "new": n_new, "seconds": round(seconds, 2)}


def parse_extra(items: list[str]) -> dict[str, str]:
    """NAME=FILE pairs; names must be unique and not 'rm'."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"expected NAME=FILE, got {item!r}", field="extra_scores")
        if name in out or name == "rm":
            raise UserError(f"duplicate ranker name {name!r}", field="extra_scores")
        out[name] = path
    return out


def print_bon(table: dict, console) -> None:
    from rich.table import Table

    t = Table(title=f"best-of-N over {table['tasks']} questions (mean ± std over {table['trials']} draws)")
    t.add_column("N", justify="right")
    for name in table["rankers"]:
        t.add_column(f"best-of-N ({name})", justify="right")
    t.add_column("oracle pass@N", justify="right")
    for row in table["rows"]:
        cells = [f"{row[n]:.3f} ± {row[f'{n}_std']:.3f}" for n in table["rankers"]]
        t.add_row(str(row["n"]), *cells, f"{row['oracle']:.3f}")
    console.print(t)
    greedy = (
        "n/a" if table["greedy"] is None else f"{table['greedy']:.3f} ({table['greedy_tasks']} questions)"
    )
    console.print(f"greedy {greedy}; average of samples {table['average']:.3f}")


def codet_patterns(cfg: BonConfig, samples: list, results: list) -> tuple[dict, dict]:
    """Per ranked sample, the generated tests (of `--problems`) it passes in the sandbox; and how many
    questions CodeT finds contradictory (unitrl.synth.codet.agree over all their samples)."""
    from unitrl.records import read_problems
    from unitrl.rm.bon import ranked_samples
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.synth.codet import agree, pass_patterns

    problems = {p.task_id: p for p in read_problems(cfg.problems)}
    by_task: dict[str, list] = {}
    for s in ranked_samples(samples, results):
        if s.task_id in problems and problems[s.task_id].tests:
            by_task.setdefault(s.task_id, []).append(s)
    groups = [(problems[t], [s.program(problems[t]) for s in ss]) for t, ss in by_task.items()]
    with Sandbox(SandboxConfig(workers=cfg.workers, timeout=cfg.timeout)) as sb:
        found = pass_patterns(sb, groups, cfg.timeout)
    patterns, conflicts = {}, 0
    for (p, _), ss, pats in zip(groups, by_task.values(), found):
        patterns.update(((s.task_id, str(s.sample_id)), frozenset(pat)) for s, pat in zip(ss, pats))
        conflicts += bool(agree(pats, len(p.tests)).conflict)
    return patterns, {"questions_with_tests": len(groups), "contradictory": conflicts}


def run_bon(cfg: BonConfig) -> dict:
    import json
    from pathlib import Path

    from rich.console import Console

    from unitrl.records import Result, Score, read_records, read_samples, write_text_atomic
    from unitrl.rm.bon import bon_table, build_pools, plot_bon

    for name in ("samples", "results", "out"):
        if not getattr(cfg, name):
            raise UserError(f"missing --{name.replace('_', '-')}", field=name)
    files = ({"rm": cfg.scores} if cfg.scores else {}) | parse_extra(cfg.extra_scores)
    if cfg.ranker == "codet" and (not cfg.problems or "codet" in files):
        raise UserError("--ranker codet needs --problems (and no extra ranker named codet)", field="problems")
    score_maps = {
        name: {(s.task_id, str(s.sample_id)): s.score for s in read_records(path, Score)}
        for name, path in files.items()
    }
    samples, results = read_samples(cfg.samples), read_records(cfg.results, Result)
    pattern_maps, codet = {}, None
    if cfg.ranker == "codet":
        pattern_maps["codet"], codet = codet_patterns(cfg, samples, results)
    pools, missing = build_pools(samples, results, score_maps, pattern_maps)
    if not pools:
        raise UserError("no sampled program has an exec result", path=cfg.results)
    table = bon_table(pools, [*score_maps, *pattern_maps], cfg.trials, cfg.seed)
    table["missing_scores"] = missing
    if codet is not None:
        table["codet"] = codet
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "bon.json", json.dumps(table, indent=2) + "\n")
    plot_bon(table, out / "bon.png")
    console = Console(stderr=True)
    print_bon(table, console)
    for name, count in missing.items():
        if count:
            console.print(f"[yellow]warning:[/] {count} programs have no '{name}' score (ranked last)")
    console.print(f"[green]bon:[/] table in {out / 'bon.json'}, curve in {out / 'bon.png'}")
    return table


train_rm_command = config_command(
    "train-rm", TrainRMConfig, run_train_rm, help="Train a Bradley-Terry reward model."
)
score_command = config_command("score", ScoreConfig, run_score, help="Score samples with a reward model.")
bon_command = config_command("bon", BonConfig, run_bon, help="Best-of-N reranking table and curve.")
