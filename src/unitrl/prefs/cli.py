"""`unitrl pairs` and `unitrl select-hard`: preference pairs and the hard RL subset from exec results.

Both read problems + samples + results (from `unitrl exec`). `pairs` writes records.Pair rows (TRL
RewardTrainer columns `prompt`, `chosen`, `rejected`, `margin` plus provenance) or, with
`--format acecode`, AceCodePair-300K rows. `select-hard` writes the kept problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unitrl.config import config_command
from unitrl.errors import UserError

PAIR_FORMATS = ("unitrl", "acecode")


@dataclass
class PairsConfig:
    problems: str = field(default="", metadata={"help": "Problems file."})
    samples: str = field(default="", metadata={"help": "Samples file."})
    results: str = field(default="", metadata={"help": "Exec results file."})
    out: str = field(default="", metadata={"help": "Pairs file to write.", "path": "out_file"})
    min_chosen: float = field(default=0.8, metadata={"help": "pass(chosen) >= this.", "min": 0, "max": 1})
    min_gap: float = field(
        default=0.4, metadata={"help": "pass(chosen) - pass(rejected) >= this.", "min": 0, "max": 1}
    )
    min_rejected: float = field(
        default=0.0, metadata={"help": "pass(rejected) > this (strict).", "min": 0, "max": 1}
    )
    strict: bool = field(default=False, metadata={"help": "Use the paper's strict > for chosen and gap."})
    max_per_task: int = field(default=0, metadata={"help": "Cap pairs per question (0: no cap).", "min": 0})
    format: str = field(
        default="unitrl", metadata={"help": "unitrl (records.Pair) or acecode.", "choices": PAIR_FORMATS}
    )
    seed: int = field(
        default=0, metadata={"help": "Seed for the per-question cap.", "min": 0, "max": 4294967295}
    )


@dataclass
class SelectHardConfig:
    problems: str = field(default="", metadata={"help": "Problems file."})
    results: str = field(default="", metadata={"help": "Exec results file."})
    out: str = field(
        default="", metadata={"help": "Problems file to write (the hard subset).", "path": "out_file"}
    )
    samples: str = field(default="", metadata={"help": "Samples file (optional: drops greedy samples)."})


def require(cfg, *names: str) -> None:
    for name in names:
        if not getattr(cfg, name):
            raise UserError(f"missing --{name.replace('_', '-')}", field=name)


def run_pairs(cfg: PairsConfig) -> dict:
    from rich.console import Console

    from unitrl.policy_io import problem_rm_prompt
    from unitrl.prefs.pairs import acecode_rows, cap_pairs, join_candidates, task_pairs
    from unitrl.records import Result, read_problems, read_records, read_samples, write_records

    require(cfg, "problems", "samples", "results", "out")
    if cfg.format not in PAIR_FORMATS:
        raise UserError(f"unknown format (choose from {', '.join(PAIR_FORMATS)})", field="format")
    problems = {p.task_id: p for p in read_problems(cfg.problems)}
    candidates, missing = join_candidates(
        problems, read_samples(cfg.samples), read_records(cfg.results, Result)
    )

    pairs = []
    for task_id, cands in candidates.items():
        found = task_pairs(
            task_id, problem_rm_prompt(problems[task_id]), cands,
            cfg.min_chosen, cfg.min_gap, cfg.min_rejected, cfg.strict,
        )  # fmt: skip
        pairs += cap_pairs(found, cfg.max_per_task, cfg.seed)

    if cfg.format == "acecode":
        write_records(cfg.out, acecode_rows(pairs, {tid: i for i, tid in enumerate(problems)}))
    else:
        write_records(cfg.out, pairs)
    n_tasks = len({p.task_id for p in pairs})
    op = ">" if cfg.strict else ">="
    Console(stderr=True).print(
        f"[green]pairs:[/] {len(pairs)} pairs from {n_tasks} of {len(candidates)} graded questions -> {cfg.out} "
        f"(chosen {op} {cfg.min_chosen}, gap {op} {cfg.min_gap}, rejected > {cfg.min_rejected}; "
        f"{missing} samples without a result)"
    )
    return {
        "pairs": len(pairs),
        "tasks": n_tasks,
        "graded_tasks": len(candidates),
        "missing_results": missing,
    }


def run_select_hard(cfg: SelectHardConfig) -> dict:
    from rich.console import Console

    from unitrl.prefs.hard import select_hard, task_spreads
    from unitrl.records import Result, read_problems, read_records, read_samples, write_records

    require(cfg, "problems", "results", "out")
    problems = read_problems(cfg.problems)
    greedy: set[tuple[str, str]] = set()
    if cfg.samples:  # the greedy sample is not part of the sampled distribution
        greedy = {(s.task_id, str(s.sample_id)) for s in read_samples(cfg.samples) if s.is_greedy}
    rates: dict[str, list[float]] = {p.task_id: [] for p in problems}
    for r in read_records(cfg.results, Result):
        if (
            r.task_id in rates
            and r.status != "infrastructure-error"
            and (r.task_id, str(r.sample_id)) not in greedy
        ):
            rates[r.task_id].append(r.pass_rate)
    kept, med_mean, med_std = select_hard(task_spreads(rates))
    stats = {s.task_id: s for s in kept}
    out = []
    for p in problems:
        if p.task_id in stats:
            s = stats[p.task_id]
            p.meta = dict(p.meta, sample_pass_mean=round(s.mean, 6), sample_pass_std=round(s.std, 6))
            out.append(p)
    write_records(cfg.out, out)
    Console(stderr=True).print(
        f"[green]select-hard:[/] kept {len(out)} of {sum(1 for v in rates.values() if v)} questions -> {cfg.out} "
        f"(mean pass rate <= median {med_mean:.3f} and std >= median {med_std:.3f})"
    )
    return {"kept": len(out), "median_mean": med_mean, "median_std": med_std}


pairs_command = config_command(
    "pairs", PairsConfig, run_pairs, help="Build preference pairs from pass rates."
)
select_hard_command = config_command(
    "select-hard", SelectHardConfig, run_select_hard, help="ACECODER's hard RL subset."
)
